"""Decoding untrusted pictures in worker processes.

A picture within the header limits can still be slow or big to decode, so decoding happens
neither in the server process nor in a thread of it: each of a few workers (``python -m
wxauth.core.decoder``) takes one picture at a time over its stdin and stdout, with limited
address space and CPU time, at a lower priority than the server. A worker that overruns the
time limit is killed on the spot (a new one is started when needed); nothing else in the
server waits behind the workers, and whatever memory a picture took goes with its worker.

The protocol, both ways a 4-byte big-endian length, a JSON header, then the bytes it announces:

    to the worker:  {"rules": {AvatarRules}, "size": n}, then the upload
    its answer:     {"ok": true, "extension": "jpg", "size": n, "retire": false}, then the avatar
                    {"ok": false, "error": "invalid_request", "message": "…", "retire": false}

Answers are plain JSON and bytes, never pickles: a worker that a malicious picture took over
cannot reach into the server through what it answers. Workers get none of the server's
environment (its secrets live there).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
import signal
import struct
import sys
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, Any

from PIL import Image

from wxauth.core.avatar import CONTENT_TYPES, PNG_SIGNATURE, AvatarImage, AvatarRules, normalise
from wxauth.errors import InvalidRequest, PayloadTooLarge, RateLimited, WxAuthError

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
MAX_HEADER = 64 * 1024  # a JSON header, either way
IDLE_TIMEOUT = 60.0  # seconds an idle worker is kept
RETIRE_RSS = 160 * 1024 * 1024  # a worker holding more after a picture is replaced
NICE = 10  # workers yield the CPU to the server
_ERRORS: dict[str, type[WxAuthError]] = {
    "invalid_request": InvalidRequest,
    "payload_too_large": PayloadTooLarge,
}
_MAGIC = {"png": PNG_SIGNATURE, "jpg": b"\xff\xd8\xff"}


class WorkerFailed(Exception):
    """A worker died, or answered something that is not the protocol."""


class Decoders:
    """Up to ``workers`` worker processes, started when needed, each decoding one picture at
    a time; an upload waits for a free one at most ``rules.queue_timeout`` seconds."""

    def __init__(
        self,
        *,
        workers: int = 2,
        memory: int = 512 * 1024 * 1024,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self._slots = asyncio.Semaphore(workers)
        self._memory = memory
        self._idle_timeout = idle_timeout
        self._alive: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._exits: set[asyncio.Future[int]] = set()
        self._waiting = 0
        self._closed = False
        self.started = 0  # workers started so far
        self.killed = 0  # workers stopped because they overran or failed

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return sorted(worker.process.pid for worker in self._alive)

    async def normalise(self, data: bytes, rules: AvatarRules) -> AvatarImage:
        """:func:`wxauth.core.avatar.normalise` in a worker, within ``rules.decode_timeout``."""
        await self._acquire(rules)
        try:
            return await self._decode(data, rules)
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        """Stop every worker; uploads that come after are refused."""
        self._closed = True
        for worker in list(self._alive):
            self._stop(worker)
        if self._exits:
            await asyncio.gather(*self._exits, return_exceptions=True)

    async def _acquire(self, rules: AvatarRules) -> None:
        busy = RateLimited(
            "Too many avatars are being processed; retry in a few seconds.",
            retry_after=max(1, math.ceil(rules.decode_timeout)),
        )
        if self._closed:
            raise busy
        if self._slots.locked() and self._waiting >= rules.queue_limit:
            raise busy
        self._waiting += 1
        try:
            async with asyncio.timeout(rules.queue_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise busy from None
        finally:
            self._waiting -= 1

    async def _decode(self, data: bytes, rules: AvatarRules) -> AvatarImage:
        worker = await self._take()
        try:
            async with asyncio.timeout(rules.decode_timeout):
                answer = await worker.decode(data, rules)
        except TimeoutError:
            self._stop(worker, failed=True)
            log.warning(
                "an avatar took over %s s to decode: its worker was killed", rules.decode_timeout
            )
            raise InvalidRequest("The avatar takes too long to decode.") from None
        except WorkerFailed as exc:
            self._stop(worker, failed=True)
            log.warning("an avatar decoding worker failed: %s", exc)
            raise InvalidRequest("The avatar could not be decoded.") from None
        except BaseException:  # cancelled mid-picture: the worker's state is unknown
            self._stop(worker, failed=True)
            raise
        if answer.retire:
            self._stop(worker)  # it exits by itself, with the memory it held
        else:
            self._release(worker)
        if answer.error is not None:
            raise answer.error
        assert answer.image is not None
        return answer.image

    async def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            worker.cancel_timer()
            if worker.process.returncode is None:
                return worker
            self._stop(worker)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",  # nothing from the working directory on sys.path
            "-m",
            __name__,
            str(self._memory),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=worker_environment(),
            start_new_session=True,  # a Ctrl-C is for the server, which then stops us
        )
        worker = _Worker(process)
        self._alive.add(worker)
        self.started += 1
        return worker

    def _release(self, worker: _Worker) -> None:
        if self._closed:
            self._stop(worker)
            return
        self._idle.append(worker)
        loop = asyncio.get_running_loop()
        worker.timer = loop.call_later(self._idle_timeout, self._expire, worker)

    def _expire(self, worker: _Worker) -> None:
        if worker in self._idle:
            self._idle.remove(worker)
            self._stop(worker)

    def _stop(self, worker: _Worker, *, failed: bool = False) -> None:
        if worker not in self._alive:
            return
        self._alive.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        worker.cancel_timer()
        if failed:
            self.killed += 1
        with suppress(ProcessLookupError):
            worker.process.kill()
        if worker.process.stdin is not None:
            worker.process.stdin.close()
        exit_ = asyncio.ensure_future(worker.process.wait())
        self._exits.add(exit_)
        exit_.add_done_callback(self._exits.discard)


def worker_environment() -> dict[str, str]:
    """Only what Python needs to start and find wxauth: not the server's secrets."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("PYTHONPATH", "PYTHONHOME"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


@dataclass(slots=True)
class _Answer:
    image: AvatarImage | None
    error: WxAuthError | None
    retire: bool


@dataclass(eq=False, slots=True)
class _Worker:
    process: asyncio.subprocess.Process
    timer: asyncio.TimerHandle | None = None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def decode(self, data: bytes, rules: AvatarRules) -> _Answer:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        request = json.dumps({"rules": dataclasses.asdict(rules), "size": len(data)}).encode()
        try:
            stdin.write(_LENGTH.pack(len(request)) + request)
            stdin.write(data)
            await stdin.drain()
            (length,) = _LENGTH.unpack(await stdout.readexactly(_LENGTH.size))
            if length > MAX_HEADER:
                raise WorkerFailed(f"an answer header of {length} bytes")
            head = json.loads(await stdout.readexactly(length))
            return await _read_answer(head, stdout, rules)
        except (OSError, asyncio.IncompleteReadError, ValueError, struct.error) as exc:
            raise WorkerFailed(f"{type(exc).__name__}: {exc}") from exc


async def _read_answer(head: Any, stdout: asyncio.StreamReader, rules: AvatarRules) -> _Answer:
    if not isinstance(head, dict):
        raise WorkerFailed("an answer that is not a JSON object")
    retire = head.get("retire") is True
    if head.get("ok") is not True:
        code, message = head.get("error"), head.get("message")
        if not isinstance(code, str) or not isinstance(message, str):
            raise WorkerFailed("a refusal without an error and a message")
        return _Answer(None, _ERRORS.get(code, InvalidRequest)(message[:300]), retire)
    extension, size = head.get("extension"), head.get("size")
    # PNG's worst case: every pixel's four bytes, a filter byte a row, and the framing.
    largest = 4 * rules.out_side * (rules.out_side + 1) + 64 * 1024
    if extension not in CONTENT_TYPES or not isinstance(size, int) or not 0 < size <= largest:
        raise WorkerFailed(f"an avatar of {size!r} bytes as {extension!r}")
    data = await stdout.readexactly(size)
    if not data.startswith(_MAGIC[extension]):
        raise WorkerFailed(f"an avatar that is not a {extension}")
    return _Answer(AvatarImage(data, extension), None, retire)


# The worker ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """A worker: decode pictures from stdin until it closes (the server has gone)."""
    (memory,) = sys.argv[1:] if argv is None else argv
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")  # the protocol's own descriptor
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed goes to the log
    requests = sys.stdin.buffer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops us: EOF, or a kill
    Image.init()  # every image plugin imported now, before the limits
    _limit(int(memory))
    while (request := _read_request(requests)) is not None:
        rules, data = request
        _limit_cpu(rules.decode_timeout)
        answer, body = _normalise(data, rules)
        answer["retire"] = _rss() > RETIRE_RSS
        head = json.dumps(answer).encode()
        answers.write(_LENGTH.pack(len(head)) + head + body)
        answers.flush()
        if answer["retire"]:
            break
    return 0


def _read_request(stream: IO[bytes]) -> tuple[AvatarRules, bytes] | None:
    raw = stream.read(_LENGTH.size)
    if len(raw) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(raw)
    head = json.loads(stream.read(length))
    size = head["size"]
    data = stream.read(size)
    if len(data) < size:
        return None
    return AvatarRules(**head["rules"]), data


def _normalise(data: bytes, rules: AvatarRules) -> tuple[dict[str, Any], bytes]:
    try:
        image = normalise(data, rules)
    except WxAuthError as exc:
        return {"ok": False, "error": exc.code, "message": exc.message}, b""
    except MemoryError:
        message = "The avatar needs too much memory to decode."
        return {"ok": False, "error": "invalid_request", "message": message}, b""
    except Exception as exc:  # a decoder's surprise refuses this picture, and only it
        print(f"wxauth avatar decoder: {type(exc).__name__}: {exc}", file=sys.stderr)
        return {"ok": False, "error": "invalid_request", "message": "Not a usable image."}, b""
    return {"ok": True, "extension": image.extension, "size": len(image.data)}, image.data


def _limit(memory: int) -> None:
    """Address space, no core dumps, no files written; a lower priority."""
    os.nice(NICE)
    try:
        import resource
    except ImportError:  # not a Unix: the time limit still holds
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        memory = min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _limit_cpu(seconds: float) -> None:
    """CPU time for the next picture: the kernel stops a worker the server could not."""
    try:
        import resource
    except ImportError:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _rss() -> int:
    """The memory this worker holds now, in bytes (0 where that cannot be known)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
