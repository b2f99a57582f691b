"""The library check: ``WxAuth.authenticate`` in-process, as the Python integration calls it.

The service is built by ``create_app`` from the same settings a server would use, so whatever
the app wires in front of the store (a session cache, for one) is what gets measured.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from bench.scenarios import APPID, SECRET
from wxauth.config import Settings
from wxauth.core.keyring import generate_key
from wxauth.simulator import SimApp, SimulatorState, create_simulator_app
from wxauth.storage.migrate import upgrade
from wxauth.wiring import Wiring


async def library_check(workdir: Path, *, duration_s: float, tokens: int = 100) -> dict[str, float]:
    """Token checks per second, one after another on one event loop (cache hits after the
    first round, if the service has a cache), and the CPU they took."""
    database_url = f"sqlite+aiosqlite:///{workdir / 'library.db'}"
    await asyncio.to_thread(upgrade, database_url)  # alembic runs its own event loop
    sim = SimulatorState([SimApp(APPID, SECRET)])
    settings = Settings(
        database_url=database_url,
        apps={APPID: SecretStr(SECRET)},
        wechat_base_url="http://simulator",
        secret_keys=[SecretStr(generate_key())],
    )
    wiring = Wiring(settings, wechat_transport=httpx.ASGITransport(create_simulator_app(sim)))
    service = wiring.authenticator
    try:
        issued = [
            await wiring.login.login(sim.issue_code(APPID, f"lib-{i}")) for i in range(tokens)
        ]
        secrets = [result.token for result in issued]
        for token in secrets:  # warm: the first check of each token may fill a cache
            await service.authenticate(token)
        checks, cpu0, started = 0, time.process_time(), time.perf_counter()
        deadline = started + duration_s
        while time.perf_counter() < deadline:
            for token in secrets:
                await service.authenticate(token)
            checks += len(secrets)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    finally:
        await wiring.aclose()
    return {
        "checks": checks,
        "seconds": round(elapsed, 3),
        "checks_per_s": round(checks / elapsed, 1),
        "checks_per_cpu_s": round(checks / cpu, 1) if cpu else 0.0,
        "us_per_check": round(1e6 * elapsed / checks, 2),
    }
