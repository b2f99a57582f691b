"""A missing database service skips its tests locally and fails them in CI."""

from __future__ import annotations

import pytest

from tests.services import closed_port, require


def test_a_missing_service_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        require("Redis", closed_port())


def test_a_missing_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="Redis is not available"):
        require("Redis", closed_port())
