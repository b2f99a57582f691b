"""``wxauth serve --workers N``: N uvicorn processes, each with a listening socket of its own.

uvicorn's own supervisor hands every worker the one listening socket it bound. Whichever
worker wakes first then accepts every connection waiting (uvloop accepts until none is
left), so a burst of connections lands mostly on one worker, and connections stay where
they were accepted: the bench saw 200 keep-alive connections split 94/1 % of a core
between two workers, which caps the whole server at one core.

Here each worker binds its own socket to the address with ``SO_REUSEPORT``, and the kernel
spreads incoming connections over the sockets by a hash of their addresses: evenly,
whatever the workers are doing. Before any worker starts, the supervisor checks that the
port is free (a bind without ``SO_REUSEPORT``), so that a second server started on the same
port by mistake fails at once instead of sharing the connections.

The supervisor starts the workers, starts another in place of one that dies (after a
second), and on SIGINT or SIGTERM asks each to shut down gracefully (uvicorn's own SIGTERM
handling: in-flight requests finish), killing those still running after the grace period.
A worker that fails at startup stops the whole server with its exit code: restarting it
would fail the same way.

Where the platform has no ``SO_REUSEPORT`` that balances (only Linux's does),
uvicorn's supervisor is used.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

log = logging.getLogger("uvicorn.error")

STARTUP_FAILURE = 3  # uvicorn's exit code for a server that could not start
RESTART_DELAY_S = 1.0
GRACE_S = 30.0  # how long a worker may take to finish its requests after SIGTERM


def balanced() -> bool:
    """Whether the kernel spreads connections over ``SO_REUSEPORT`` sockets (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening), as uvicorn binds one."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def port_in_use(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be served (in use, an unknown host), or None."""
    try:
        listening_socket(host, port, reuse_port=False).close()
    except OSError as exc:
        return exc
    return None


def _worker(config: uvicorn.Config, host: str, port: int) -> None:
    """One worker process: its own socket, then uvicorn's server on it."""
    config.configure_logging()  # a spawned process starts with no logging set up
    try:
        sock = listening_socket(host, port, reuse_port=True)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc.strerror or exc)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    """Keeps ``workers`` processes serving ``config`` on ``host:port`` until told to stop."""

    def __init__(self, config: uvicorn.Config, host: str, port: int, workers: int) -> None:
        self.config, self.host, self.port, self.workers = config, host, port, workers
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stopping = False  # set by SIGINT or SIGTERM (a flag: all a handler may touch)

    def _start(self) -> BaseProcess:
        process = self._context.Process(
            target=_worker, args=(self.config, self.host, self.port), name="wxauth-worker"
        )
        process.start()
        return process

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _stopped_within(self, seconds: float) -> bool:
        """Wait up to ``seconds``; whether a stop was asked for meanwhile."""
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        return self._stopping

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM (0), or until a worker fails to start (its code)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        log.info(
            "Started parent process [%s]: %s workers, each listening on its own socket",
            os.getpid(),
            self.workers,
        )
        self._processes = [self._start() for _ in range(self.workers)]
        code = 0
        while not self._stopped_within(0.5):
            for i, process in enumerate(self._processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a worker could not start (see above): stopping")
                    code = STARTUP_FAILURE
                    self._stopping = True
                    break
                log.warning(
                    "worker [%s] ended (exit code %s): starting another",
                    process.pid,
                    process.exitcode,
                )
                if self._stopped_within(RESTART_DELAY_S):
                    break
                self._processes[i] = self._start()
        self._shutdown()
        return code

    def _shutdown(self) -> None:
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self._processes:
            process.join(GRACE_S)
            if process.is_alive():
                log.warning("worker [%s] still running after %.0f s: killed", process.pid, GRACE_S)
                process.kill()
                process.join()
        log.info("Stopping parent process [%s]", os.getpid())
