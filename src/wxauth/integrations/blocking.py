"""Using an async verifier from synchronous code (Flask, Django under WSGI).

One event loop runs in a background thread for the verifier's whole life; every call hands
its coroutine to that loop and waits. The verifier's connection pool and cache therefore
live on one loop, shared by all the threads of the web server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from wxauth.integrations.identity import Identity, TokenVerifier

T = TypeVar("T")


class BlockingVerifier:
    """``verify(token)`` without ``await``; ``close()`` once when the app stops."""

    def __init__(self, verifier: TokenVerifier, *, timeout: float = 30.0) -> None:
        self.verifier = verifier
        self._timeout = timeout  # a backstop: the verifier's own timeouts come first
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="wxauth-verifier", daemon=True
        )
        self._thread.start()
        self._closed = False

    def __repr__(self) -> str:
        return f"BlockingVerifier({self.verifier!r})"

    def verify(self, token: str) -> Identity:
        return self._run(self.verifier.verify(token))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self.verifier.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed and not self._loop.is_running():
            coroutine.close()
            raise RuntimeError("the verifier is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self._timeout)
