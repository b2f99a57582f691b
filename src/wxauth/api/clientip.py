"""Who the client is: the connection's address, or a trusted proxy's forwarded-for header.

The header is believed only when the connection comes from a configured proxy, and is read
from the right: each hop appends the address it saw, so the rightmost address that is not one
of our proxies is the first one nobody could forge. Every line of the header counts, in order,
as if comma-joined (HTTP allows a list header to be split over lines, and a proxy such as
HAProxy adds a line of its own instead of extending the last one). Entries may carry a port
(``1.2.3.4:5678``, ``[2001:db8::1]:443``); anything that is not an address stops the walk, at
the last address we could vouch for.

With no trusted proxies configured the header is ignored entirely (a client can write anything
in it); the first request that carries one from an untrusted peer is logged once, naming
``WXAUTH_TRUSTED_PROXIES``, since a proxy that is not listed makes every client look like it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from starlette.requests import Request

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class ClientIp:
    def __init__(self, trusted_proxies: Sequence[str] = (), header: str = "x-forwarded-for"):
        self._trusted: list[Network] = [
            ipaddress.ip_network(n, strict=False) for n in trusted_proxies
        ]
        self._header = header.lower()
        self._warned = False

    def __call__(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        if peer is None or not self._trusted or not self._is_trusted(parse_address(peer)):
            if not self._warned and self._header in request.headers:
                self._warn(peer)
            return peer
        lines = request.headers.getlist(self._header)
        if not lines:
            return peer
        client = peer
        for hop in reversed(",".join(lines).split(",")):
            hop = hop.strip()
            if not hop:
                continue
            ip = parse_address(hop)
            if ip is None:
                break  # garbage in the header: keep the last address we could vouch for
            client = str(ip)
            if not self._is_trusted(ip):
                break
        return client

    def _is_trusted(self, ip: Address | None) -> bool:
        return ip is not None and any(ip in network for network in self._trusted)

    def _warn(self, peer: str | None) -> None:
        self._warned = True  # once per process (one app, one ClientIp)
        log.warning(
            "a request from %s carries %s, which is ignored: %s is not a trusted proxy. If"
            " wxauth runs behind a proxy, list it in WXAUTH_TRUSTED_PROXIES, or every client"
            " has the proxy's address (rate limits, audit).",
            peer,
            self._header,
            peer,
        )


def parse_address(text: str) -> Address | None:
    """An address as a forwarded-for entry writes it: ``v4``, ``v4:port``, ``v6``,
    ``[v6]`` or ``[v6]:port``; None for anything else."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :] if end > 0 else "x"
        if rest and not (rest.startswith(":") and _is_port(rest[1:])):
            return None
        text = text[1:end]
        if "." in text and ":" not in text:
            return None  # [v4] is not a form anyone writes
    elif text.count(":") == 1:  # v4:port (a bare v6 has at least two colons)
        text, _, port = text.partition(":")
        if not _is_port(port):
            return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5
