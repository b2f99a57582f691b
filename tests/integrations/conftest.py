"""A real wxauth (``wxauth dev``: API + simulator + SQLite) in a subprocess on a free port,
and a monotonic clock the verifiers' caches read, moved by hand."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPID, SECRET, bearer
from tests.processes import free_port

SERVICE_KEY = "integration-service-key-0123456789"
START_TIMEOUT_S = 60.0


class MonotonicClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class WxAuthServer:
    """``wxauth dev`` in a subprocess; ``stop()`` and ``start()`` again keep port and data
    (the at-rest key is kept beside the database)."""

    db: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-c", "from wxauth.cli import main; main()", "dev"]
        command += ["--port", str(self.port), "--db", str(self.db), "--app", f"{APPID}:{SECRET}"]
        command += ["--log-level", "warning"]
        env = {**os.environ, "WXAUTH_SERVICE_KEYS": SERVICE_KEY}
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"wxauth dev exited ({self.process.returncode}): {stderr}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("wxauth dev did not answer in time")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def login(self, user: str = "alice") -> str:
        """A token, the way a mini program gets one: wx.login, then POST /v1/login."""
        code = httpx.post(f"{self.url}/sim/login", json={"appid": APPID, "user": user}).json()
        response = httpx.post(f"{self.url}/v1/login", json={"code": code["code"]})
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def update_profile(self, token: str, **fields: object) -> None:
        response = httpx.post(f"{self.url}/v1/me/profile", json=fields, headers=bearer(token))
        assert response.status_code == 200, response.text

    def logout(self, token: str) -> None:
        response = httpx.post(f"{self.url}/v1/logout", headers=bearer(token))
        assert response.status_code == 204, response.text


@pytest.fixture(scope="session")
def wxauth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WxAuthServer]:
    """One ``wxauth dev`` shared by the tests that only need it running."""
    server = WxAuthServer(db=tmp_path_factory.mktemp("wxauth-dev") / "wxauth.db")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def restartable_server(wxauth_server: WxAuthServer) -> Iterator[WxAuthServer]:
    """The shared server, for a test that stops it: it is running again afterwards."""
    try:
        yield wxauth_server
    finally:
        if wxauth_server.process is None:
            wxauth_server.start()


@pytest.fixture
def mono() -> MonotonicClock:
    return MonotonicClock()
