"""Sending webhooks (:class:`~wxauth.core.webhook_worker.Sender` over httpx), only where
:mod:`wxauth.core.webhook_urls` allows.

The host is resolved here, every address it resolves to is checked, and the request goes
to the checked address itself (the ``Host`` header and, for https, the TLS server name and
certificate check keep the host's name): a DNS answer that changes between the check and
the connection (DNS rebinding) cannot send it elsewhere. Redirects are never followed,
proxies from the environment never used, and each attempt, DNS included, has one deadline.
"""

from __future__ import annotations

import asyncio
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import httpx

from wxauth import __version__
from wxauth.core.webhook_urls import address_refusal, literal_address
from wxauth.core.webhook_worker import SendResult

Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_CLIENTS = 64


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # an HTTP date is not worth parsing here
    return float(value.strip())


class WebhookSender:
    """POSTs signed webhooks: one pool of connections per host name, so a connection
    opened for one name (and its TLS certificate) never carries another's requests."""

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        resolver: Resolver = resolve,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self._resolve = resolver
        self._transport = transport
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()

    def __repr__(self) -> str:
        return f"WebhookSender(timeout={self.timeout}, allow_private={self.allow_private})"

    def _client(self, host: str) -> httpx.AsyncClient:
        client = self._clients.get(host)
        if client is None:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                trust_env=False,
                transport=self._transport,
                headers={"user-agent": f"wxauth-webhooks/{__version__}"},
            )
            self._clients[host] = client
            while len(self._clients) > MAX_CLIENTS:
                _, old = self._clients.popitem(last=False)
                asyncio.get_running_loop().create_task(old.aclose())
        self._clients.move_to_end(host)
        return client

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._send(url, headers, body)
        except TimeoutError:
            return SendResult(None, f"no answer within {self.timeout:g} s")

    async def _send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        target = httpx.URL(url)
        host = target.host
        port = target.port or (443 if target.scheme == "https" else 80)
        if literal_address(host) is not None:
            addresses = [str(literal_address(host))]
        else:
            try:
                addresses = await self._resolve(host, port)
            except OSError:
                return SendResult(None, f"cannot resolve {host}")
        if not addresses:
            return SendResult(None, f"cannot resolve {host}")
        for address in addresses:
            refusal = address_refusal(address, allow_private=self.allow_private)
            if refusal is not None:
                return SendResult(None, f"refused: {host} resolves to {address}, {refusal}")
        request_headers = {**headers, "host": target.netloc.decode("ascii")}
        extensions = {}
        if target.scheme == "https" and literal_address(host) is None:
            extensions["sni_hostname"] = host
        client = self._client(host)
        request = client.build_request(
            "POST",
            target.copy_with(host=addresses[0]),
            headers=request_headers,
            content=body,
            extensions=extensions,
        )
        try:
            response = await client.send(request, stream=True)
            await response.aclose()  # the body is not read: a receiver says all by its status
        except httpx.TimeoutException:
            return SendResult(None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as exc:
            return SendResult(None, f"could not connect ({type(exc).__name__})")
        return SendResult(
            response.status_code, retry_after=_retry_after(response.headers.get("retry-after"))
        )

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()
