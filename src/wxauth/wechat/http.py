"""How the WeChat client puts a request on the wire.

Over the network, aiohttp: its connection pool hands out an idle connection in constant time
and learns of a closed one from the event loop. (httpcore's pool walks and polls every
connection it holds on every request: with the 200 connections that 200 concurrent logins
keep open, that walk cost more CPU than the rest of the login; measured in
docs/performance.md.) An httpx transport is still taken when one is given, which is how the
simulator is reached in-process (``httpx.ASGITransport``), in ``wxauth dev`` and in tests.

Either way the caller gets the status and the body's bytes; errors stay the library's own
(``aiohttp.ClientError``, ``httpx.TransportError``, ``OSError``, ``TimeoutError``), for the
client to translate at its one boundary.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import certifi
import httpx

USER_AGENT = "wxauth"
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    httpx.TransportError,
    OSError,
)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


class Sender(Protocol):
    """Sends one request; ``TimeoutError`` when the whole call (connecting, sending, reading
    the answer) takes longer than the sender's deadline."""

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Answer: ...

    async def aclose(self) -> None: ...


class AiohttpSender:
    """Pooled keep-alive connections to ``base_url``, opened on first use in the running loop.

    A proxy comes from the environment (``HTTPS_PROXY``, ``NO_PROXY``), read once here rather
    than on every request; certificates are checked against certifi's bundle.
    """

    def __init__(self, base_url: str, *, timeout: float, connections: int = 200) -> None:
        self._base = base_url.rstrip("/")
        self._proxy = env_proxy(self._base)
        self._timeout = aiohttp.ClientTimeout(total=timeout)  # the answer's body included
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"AiohttpSender({self._base!r})"

    def _current(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            tls = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=tls)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
            )
            self._loop = loop
        return self._session

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Answer:
        session = self._current()
        url = self._base + path
        async with session.request(method, url, params=params, json=json, proxy=self._proxy) as r:
            return Answer(r.status, await r.read())

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()


class HttpxSender:
    """Any httpx transport: in-process ASGI apps, or a mock in tests."""

    def __init__(
        self, base_url: str, *, timeout: float, transport: httpx.AsyncBaseTransport
    ) -> None:
        self._deadline = timeout
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    def __repr__(self) -> str:
        return f"HttpxSender({str(self._http.base_url)!r})"

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Answer:
        # In-process transports ignore httpx's per-phase timeouts: the deadline is ours.
        async with asyncio.timeout(self._deadline):
            response = await self._http.request(method, path, params=params, json=json)
        return Answer(response.status_code, response.content)

    async def aclose(self) -> None:
        await self._http.aclose()


def env_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url``, unless ``NO_PROXY`` exempts it."""
    parts = urlsplit(base_url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def sender_for(
    base_url: str, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
) -> Sender:
    if transport is not None:
        return HttpxSender(base_url, timeout=timeout, transport=transport)
    return AiohttpSender(base_url, timeout=timeout)
