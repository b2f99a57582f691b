"""Group commit for SQLite: one writer thread, many writes per transaction.

SQLite has one write lock per database file. When each login takes it for its own
transaction, the commits (each appends the changed pages to the WAL) cost more than the
statements; and when several processes serve, a writer that finds the lock taken sleeps in
SQLite's busy handler (1 ms, then 2, 5, 10...), while the lock may already be free again: at a
few hundred logins per second, most of the time goes to sleeping.

So every write body queued while a transaction runs goes into the next one. The writer thread
takes what is queued (up to ``max_batch``), runs the bodies in order in one transaction,
commits, and only then answers each caller: a caller never hears of a write that is not
durable. If the batch fails, it is rolled back whole and each body is run again alone, in its
own transaction, so that one bad write fails only its own caller.

Under light load a batch holds one body and this is a thread hop per transaction, as before;
under load, batches grow by themselves as writes queue up behind the running one.

Between processes (``wxauth serve --workers N`` on one database file), the writers take turns
through an advisory lock on a file beside the database (``flock``): a writer waiting for it is
woken the moment the other lets go, where SQLite's busy handler would keep it asleep for
milliseconds after the lock is free and let one process starve the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's own locking only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 128


BatchBody = Callable[[Connection, list[Any]], list[Any]]
"""Writes many items of one kind at once (``executemany``); a result per item, in order."""


@dataclass(slots=True)
class _Job(Generic[T]):
    body: Callable[[Connection], T] | None
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    batch_body: BatchBody | None = None  # for an item written together with its kind
    item: Any = None
    outcome: tuple[bool, Any] = (False, None)  # (succeeded, result or exception)


_STOP = object()


class GroupCommitWriter:
    """Runs write bodies against ``engine`` in batched transactions, in its own thread."""

    def __init__(
        self, engine: Engine, *, max_batch: int = MAX_BATCH, lock_path: str | None = None
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._lock_path = lock_path
        self._lock_fd: int | None = None
        self._queue: queue.SimpleQueue[_Job[Any] | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0  # transactions committed or tried, for tests and metrics

    def __repr__(self) -> str:
        return f"GroupCommitWriter({self._engine.url.get_backend_name()})"

    async def run(self, body: Callable[[Connection], T]) -> T:
        """Run ``body(conn)`` in a write transaction; its result once that has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_thread()
        self._queue.put(_Job(body, future, loop))
        return await future

    async def run_item(self, batch_body: BatchBody, item: Any) -> Any:
        """Write ``item`` with ``batch_body``, which gets it together with the other items
        queued for the same ``batch_body`` next to it: one call for all of them, so that each
        statement runs once per batch (``executemany``) rather than once per item."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._ensure_thread()
        self._queue.put(_Job(None, future, loop, batch_body, item))
        return await future

    def stop(self) -> None:
        """Finish what is queued, then end the thread (idempotent)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            if thread is not threading.current_thread():
                thread.join(timeout=30)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._loop, name="wxauth-sqlite-writer", daemon=True
                    )
                    self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Job[Any]] = [first]  # type: ignore[list-item]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)  # type: ignore[arg-type]
            self._commit(batch)
            _answer(batch)
            if stop:
                break
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _commit(self, batch: list[_Job[Any]]) -> None:
        self.batches += 1
        try:
            with self._turn(), self._engine.begin() as conn:
                results = _run(conn, batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].outcome = (False, exc)
                return
            log.debug("group commit: a batch of %d failed (%s); one by one", len(batch), exc)
            for job in batch:
                self._commit([job])
            return
        for job, result in zip(batch, results, strict=True):
            job.outcome = (True, result)

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn to write, among the processes sharing the database."""
        if self._lock_path is None or fcntl is None:
            yield
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


def _run(conn: Connection, batch: list[_Job[Any]]) -> list[Any]:
    """Each job's result, in order; neighbouring items of one batch body in one call."""
    results: list[Any] = []
    start = 0
    while start < len(batch):
        job = batch[start]
        if job.batch_body is None:
            assert job.body is not None
            results.append(job.body(conn))
            start += 1
            continue
        end = start + 1
        while end < len(batch) and batch[end].batch_body is job.batch_body:
            end += 1
        items = [other.item for other in batch[start:end]]
        done = job.batch_body(conn, items)
        if len(done) != len(items):
            raise RuntimeError("a batch body gave a result count unlike its item count")
        results.extend(done)
        start = end
    return results


def _answer(batch: list[_Job[Any]]) -> None:
    """Hand each outcome to its caller's loop: one wake-up per loop, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job[Any]]] = {}
    for job in batch:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, jobs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, jobs)


def _settle(jobs: list[_Job[Any]]) -> None:
    for job in jobs:
        if job.future.done():  # the caller was cancelled; the write stands
            continue
        succeeded, value = job.outcome
        if succeeded:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
