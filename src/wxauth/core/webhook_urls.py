"""Where webhooks may go: the rules for a subscription's URL and for the addresses it
resolves to, checked when it is added and again at every send (DNS may have changed).

Never: link-local addresses (``169.254.0.0/16``, ``fe80::/10``: cloud metadata services
live there), the metadata addresses of the clouds (AWS's ``fd00:ec2::254``, Alibaba
Cloud's ``100.100.100.200``), multicast, unspecified or reserved ones. Private, loopback
and shared (``100.64.0.0/10``) addresses only with ``WXAUTH_WEBHOOK_ALLOW_PRIVATE=1``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
MAX_URL_LENGTH = 1024
LOOPBACK = "a loopback address (allowed with WXAUTH_WEBHOOK_ALLOW_PRIVATE=1)"


def address_refusal(address: str | IPAddress, *, allow_private: bool) -> str | None:
    """Why a webhook may not be sent to ``address``, or None when it may."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_loopback:  # before "reserved": ::1 is in IPv6's reserved ::/8
        return None if allow_private else LOOPBACK
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "not a unicast address"
    if allow_private:
        return None
    if not ip.is_global:
        return "a private address (allowed with WXAUTH_WEBHOOK_ALLOW_PRIVATE=1)"
    return None


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` if a webhook may be sent there (as far as can be told without DNS); a
    ValueError saying what is wrong otherwise."""
    if len(url) > MAX_URL_LENGTH or not url.isprintable() or any(c.isspace() for c in url):
        raise ValueError(f"a webhook URL is at most {MAX_URL_LENGTH} printable characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("a webhook URL starts with https:// (or http://)")
    if not parts.hostname:
        raise ValueError("a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a webhook URL carries no user or password (the signature is the proof)")
    if parts.fragment:
        raise ValueError("a webhook URL has no #fragment")
    if port == 0:
        raise ValueError("a webhook URL's port is 1 to 65535")
    address = literal_address(parts.hostname)
    if address is not None:
        refusal = address_refusal(address, allow_private=allow_private)
        if refusal is not None:
            raise ValueError(f"{parts.hostname} is {refusal}")
    return url
