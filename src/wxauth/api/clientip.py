"""Who the client is: the connection's address, or a trusted proxy's forwarded-for header.

The header is believed only when the connection comes from a configured proxy, and is read
from the right: each hop appends the address it saw, so the rightmost address that is not one
of our proxies is the first one nobody could forge. With no trusted proxies configured the
header is ignored entirely (a client can write anything in it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientIp:
    def __init__(self, trusted_proxies: Sequence[str] = (), header: str = "x-forwarded-for"):
        self._trusted: list[Network] = [
            ipaddress.ip_network(n, strict=False) for n in trusted_proxies
        ]
        self._header = header.lower()

    def __call__(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        if peer is None or not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in request.headers.get(self._header, "").split(",")]
        client = peer
        for hop in reversed([h for h in hops if h]):
            if _parse(hop) is None:
                break  # garbage in the header: keep the last address we could vouch for
            client = hop
            if not self._is_trusted(hop):
                break
        return client

    def _is_trusted(self, address: str) -> bool:
        ip = _parse(address)
        return ip is not None and any(ip in network for network in self._trusted)


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None
