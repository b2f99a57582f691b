"""The WeChat client over a real socket, with aiohttp (the default) and with an httpx transport.

A small asyncio HTTP server stands in for WeChat and answers as each test scripts it: what
reaches the wire (the query string, the keep-alive connection) and what a broken WeChat does
(5xx, non-JSON, a closed connection, no answer) are checked at the socket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import APPID, SECRET
from wxauth.errors import InvalidCode, WeChatError, WeChatUnavailable
from wxauth.wechat.client import WeChatClient
from wxauth.wechat.http import env_proxy


@dataclass
class Wire:
    """What the stand-in server saw, and how it answers (a function of the request target)."""

    answer: Callable[[str], bytes | None]
    close_after: bool = False  # close each connection after one answer
    targets: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: int = 0

    def query(self, index: int = -1) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.targets[index]).query)


def reply(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def ok(payload: Mapping[str, object]) -> Callable[[str], bytes]:
    return lambda _target: reply(200, json.dumps(payload).encode(), "text/plain")


SESSION = {"openid": "o-alice", "session_key": "a2V5a2V5a2V5a2V5a2V5aw=="}


@asynccontextmanager
async def stand_in(wire: Wire) -> AsyncIterator[str]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        wire.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                target = head.split(b" ", 2)[1].decode()
                wire.targets.append(target)
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                wire.bodies.append(await reader.readexactly(length))
                answer = wire.answer(target)
                if answer is None:  # close without answering
                    break
                if answer == b"hang":
                    await asyncio.sleep(30)
                writer.write(answer)
                await writer.drain()
                if wire.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


@pytest.fixture(params=["aiohttp", "httpx"])
def make_client(request: pytest.FixtureRequest) -> Callable[[str, float], WeChatClient]:
    def make(base: str, timeout: float = 5.0) -> WeChatClient:
        if request.param == "httpx":
            return WeChatClient(base, timeout=timeout, transport=httpx.AsyncHTTPTransport())
        return WeChatClient(base, timeout=timeout)

    return make


async def test_code2session_over_the_wire(make_client: Callable[..., WeChatClient]) -> None:
    wire = Wire(ok(SESSION))
    async with stand_in(wire) as base:
        client = make_client(base)
        for _ in range(3):
            session = await client.code2session(APPID, SECRET, "a&secret=x#y")
            assert session.openid == "o-alice"
        await client.aclose()
    query = wire.query()
    assert urlsplit(wire.targets[0]).path == "/sns/jscode2session"
    assert query == {
        "appid": [APPID],
        "secret": [SECRET],
        "js_code": ["a&secret=x#y"],  # encoded, so that it cannot add or replace a parameter
        "grant_type": ["authorization_code"],
    }
    assert wire.connections == 1  # one kept-alive connection for all three calls


async def test_errcode_over_the_wire(make_client: Callable[..., WeChatClient]) -> None:
    async with stand_in(Wire(ok({"errcode": 40029, "errmsg": "invalid code"}))) as base:
        client = make_client(base)
        with pytest.raises(InvalidCode):
            await client.code2session(APPID, SECRET, "code")
        await client.aclose()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda _t: reply(502, b"bad gateway", "text/plain"), WeChatUnavailable),
        (lambda _t: reply(200, b"<html>busy</html>", "text/html"), WeChatError),
        (lambda _t: reply(200, b"[1, 2]"), WeChatError),
        (lambda _t: reply(404, b"{}"), WeChatError),
        (lambda _t: None, WeChatUnavailable),  # the connection closes unanswered
        (lambda _t: b"HTTP/1.1 banana\r\n\r\n", WeChatUnavailable),  # not HTTP
    ],
)
async def test_broken_wechat(
    make_client: Callable[..., WeChatClient],
    answer: Callable[[str], bytes | None],
    error: type[Exception],
) -> None:
    async with stand_in(Wire(answer)) as base:
        client = make_client(base)
        with pytest.raises(error) as caught:
            await client.code2session(APPID, SECRET, "the-code")
        await client.aclose()
    assert SECRET not in str(caught.value)
    assert "the-code" not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_silent_wechat_times_out(make_client: Callable[..., WeChatClient]) -> None:
    async with stand_in(Wire(lambda _t: b"hang")) as base:
        client = make_client(base, 0.3)
        started = asyncio.get_running_loop().time()
        with pytest.raises(WeChatUnavailable, match="in time"):
            await client.code2session(APPID, SECRET, "code")
        assert asyncio.get_running_loop().time() - started < 2
        await client.aclose()


async def test_a_connection_wechat_closed_is_not_reused(
    make_client: Callable[..., WeChatClient],
) -> None:
    """WeChat closing an idle kept-alive connection (its keep-alive timeout) costs the next
    call nothing: it goes out on a new connection."""
    wire = Wire(ok(SESSION), close_after=True)
    async with stand_in(wire) as base:
        client = make_client(base)
        for _ in range(3):
            assert (await client.code2session(APPID, SECRET, "code")).openid == "o-alice"
            await asyncio.sleep(0.05)  # the close reaches the client
        await client.aclose()
    assert wire.connections == 3


async def test_post_json_over_the_wire(make_client: Callable[..., WeChatClient]) -> None:
    wire = Wire(ok({"errcode": 0, "phone_info": {}}))
    async with stand_in(wire) as base:
        client = make_client(base)
        path = "/wxa/business/getuserphonenumber"
        data = await client.request_json("POST", path, params={"t": "1"}, json={"code": "c"})
        await client.aclose()
    assert data == {"errcode": 0, "phone_info": {}}
    assert wire.query() == {"t": ["1"]}
    assert json.loads(wire.bodies[-1]) == {"code": "c"}


def test_repr_names_only_the_host() -> None:
    client = WeChatClient("https://api.weixin.qq.com")
    assert repr(client) == "WeChatClient(AiohttpSender('https://api.weixin.qq.com'))"


def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://api.weixin.qq.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert env_proxy("https://api.weixin.qq.com") == "http://proxy.internal:3128"
    assert env_proxy("http://127.0.0.1:8001") is None  # only https is proxied
    monkeypatch.setenv("NO_PROXY", "weixin.qq.com")
    assert env_proxy("https://api.weixin.qq.com") is None


async def test_requests_go_through_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    wire = Wire(ok(SESSION))
    async with stand_in(wire) as proxy:
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        client = WeChatClient("http://api.weixin.test")
        assert (await client.code2session(APPID, SECRET, "code")).openid == "o-alice"
        await client.aclose()
    assert wire.targets[0].startswith("http://api.weixin.test/sns/jscode2session?")
