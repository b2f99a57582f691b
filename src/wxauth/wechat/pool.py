"""Connections to WeChat, spread over several small pools.

httpcore's connection pool walks every connection it holds twice per request, asking each
whether it is idle or has expired (the expiry check polls the socket). With the 200
connections that 200 concurrent logins need, that walk costs more CPU than the rest of the
login. Eight pools of 25 connections, taken in turn, hold the same 200 connections and walk an
eighth as many.
"""

from __future__ import annotations

import itertools

import httpx

SHARDS = 8
CONNECTIONS_PER_SHARD = 25


class PoolShards(httpx.AsyncBaseTransport):
    """Sends each request through the next of ``shards`` pools (round robin)."""

    def __init__(self, shards: int = SHARDS, connections: int = CONNECTIONS_PER_SHARD) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._pools = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(shards)]
        self._turn = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()
