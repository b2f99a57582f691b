"""Configuration mistakes a new user makes, each answered by the real ``wxauth`` command in
one line that says what to change, with a non-zero exit and no stack trace."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.processes import WXAUTH, free_port
from wxauth.core.keyring import generate_key
from wxauth.demo import DEMO_APPID

APP = "wx0123456789abcdef:app-secret-123"


def wxauth(*args: str, env: dict[str, str] | None = None, cwd: Path) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WXAUTH_")}
    result = subprocess.run(
        [WXAUTH, *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


def one_line_error(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code != 0, (out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def serve_env(**extra: str) -> dict[str, str]:
    return {"WXAUTH_APPS": APP, "WXAUTH_SECRET_KEYS": generate_key(), **extra}


OPERATOR_COMMANDS = [
    ["users", "list"],
    ["sessions", "list", "someone"],
    ["sessions", "cleanup"],
    ["audit", "tail"],
    ["avatars", "prune", "--dry-run"],
]


def test_wrong_database_port(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://wxauth@127.0.0.1:{free_port()}/wxauth"
    for args in (["serve"], ["db", "upgrade"], ["users", "list"]):
        line = one_line_error(wxauth(*args, env=serve_env(WXAUTH_DATABASE_URL=url), cwd=tmp_path))
        assert "cannot reach the database at postgresql://127.0.0.1:" in line
        assert "WXAUTH_DATABASE_URL" in line


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_postgres_url_without_the_async_driver(tmp_path: Path, scheme: str) -> None:
    url = f"{scheme}://wxauth:pw@db.internal/wxauth"
    for args in (["serve"], ["db", "upgrade"], ["keys", "rotate"]):
        line = one_line_error(wxauth(*args, env=serve_env(WXAUTH_DATABASE_URL=url), cwd=tmp_path))
        assert "postgresql+asyncpg://" in line
        assert "pw" not in line.replace("PASSWORD", "")


def shadow(tmp_path: Path, module: str) -> str:
    """A PYTHONPATH on which ``module`` cannot be imported, as if it were not installed."""
    folder = tmp_path / "shadow" / module
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("raise ImportError('not installed')\n")
    return str(tmp_path / "shadow")


def test_missing_database_driver_names_the_extra(tmp_path: Path) -> None:
    env = serve_env(
        WXAUTH_DATABASE_URL="postgresql+asyncpg://wxauth@127.0.0.1/wxauth",
        PYTHONPATH=shadow(tmp_path, "asyncpg"),
    )
    for args in (["serve"], ["db", "upgrade"], ["users", "list"]):
        line = one_line_error(wxauth(*args, env=env, cwd=tmp_path))
        assert "asyncpg" in line and ".[postgres]" in line


def test_redis_url_without_the_redis_extra_refuses_before_workers_start(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    env = serve_env(
        WXAUTH_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        WXAUTH_REDIS_URL="redis://127.0.0.1:6379/0",
        PYTHONPATH=shadow(tmp_path, "redis"),
    )
    line = one_line_error(
        wxauth("serve", "--workers", "4", "--port", str(free_port()), env=env, cwd=tmp_path)
    )
    assert "WXAUTH_REDIS_URL" in line and ".[redis]" in line
    line = one_line_error(wxauth("users", "list", env=env, cwd=tmp_path))
    assert ".[redis]" in line


def test_sqlite_in_a_missing_folder(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/wxauth.db"
    for args in (["serve"], ["db", "upgrade"], ["users", "list"], ["keys", "rotate"]):
        line = one_line_error(wxauth(*args, env=serve_env(WXAUTH_DATABASE_URL=url), cwd=tmp_path))
        assert f"{tmp_path}/no/such/folder" in line and "does not exist" in line
    line = one_line_error(wxauth("dev", "--db", str(tmp_path / "nope" / "dev.db"), cwd=tmp_path))
    assert "does not exist" in line
    assert not (tmp_path / "no").exists()


def test_unmigrated_database_refuses_to_serve(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    sqlite3.connect(db).close()  # an empty file: what a stray command used to leave
    env = serve_env(WXAUTH_DATABASE_URL=f"sqlite+aiosqlite:///{db}")
    line = one_line_error(wxauth("serve", "--port", str(free_port()), env=env, cwd=tmp_path))
    assert line == (
        f"error: the database at {db} is not migrated (revision none, need 0002): "
        "run wxauth db upgrade"
    ) or ("is not migrated (revision none, need " in line and "run wxauth db upgrade" in line)
    for args in OPERATOR_COMMANDS:
        assert "run wxauth db upgrade" in one_line_error(wxauth(*args, env=env, cwd=tmp_path))


def test_missing_sqlite_file_is_not_created_by_a_command(tmp_path: Path) -> None:
    for args in [*OPERATOR_COMMANDS, ["keys", "rotate"], ["serve"]]:
        line = one_line_error(wxauth(*args, env=serve_env(), cwd=tmp_path))
        assert "no database at" in line and "wxauth db upgrade" in line
    assert list(tmp_path.iterdir()) == []


def test_broken_toml_config(tmp_path: Path) -> None:
    config = tmp_path / "wxauth.toml"
    config.write_text('database_url = "sqlite+aiosqlite:///x.db\n')
    for args in (["serve"], ["db", "upgrade"], ["users", "list"], ["dev"]):
        line = one_line_error(wxauth(*args, env={"WXAUTH_CONFIG": str(config)}, cwd=tmp_path))
        assert "is not valid TOML" in line and "line 1" in line


def test_unknown_toml_keys_are_refused_by_name(tmp_path: Path) -> None:
    config = tmp_path / "wxauth.toml"
    config.write_text('databse_url = "sqlite+aiosqlite:///x.db"\nWXAUTH_APPS = "x"\n')
    for args in (["serve"], ["db", "upgrade"], ["sessions", "cleanup"]):
        line = one_line_error(wxauth(*args, env={"WXAUTH_CONFIG": str(config)}, cwd=tmp_path))
        assert "unknown settings WXAUTH_APPS, databse_url" in line
        assert "without the WXAUTH_ prefix" in line


def test_unknown_environment_variables_are_warned_about(tmp_path: Path) -> None:
    db = tmp_path / "up.db"
    env = {"WXAUTH_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "WXAUTH_DATABSE_URL": "x"}
    code, _out, err = wxauth("db", "upgrade", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "warning: ignoring WXAUTH_DATABSE_URL: not a wxauth setting" in err


@pytest.mark.parametrize(
    "apps", ['{"wx01":"secret"}', "wx01:secret", "wx0123456789abcdeg:s", "wxa:s"]
)
def test_appids_that_are_not_appids(tmp_path: Path, apps: str) -> None:
    for args in (["serve"], ["users", "list"], ["dev", "--app", apps]):
        env = {"WXAUTH_APPS": apps} if args[0] != "dev" else {}
        line = one_line_error(wxauth(*args, env=env, cwd=tmp_path))
        assert "is not an appid" in line and "16 hexadecimal digits" in line
        assert "secret" not in line.replace("'secret'", "")


def test_appids_of_the_simulator_and_tests_are_appids(tmp_path: Path) -> None:
    from wxauth.config import check_appid

    for appid in ("wx1111111111111111", "wxd0e0000000000001", "WX0123456789ABCDEF", DEMO_APPID):
        assert check_appid(appid) == appid


def test_dev_database_is_found_by_the_operator_commands(tmp_path: Path) -> None:
    dev_db = tmp_path / "wxauth-dev.db"
    code, _, err = wxauth(
        "db", "upgrade", env={"WXAUTH_DATABASE_URL": f"sqlite+aiosqlite:///{dev_db}"}, cwd=tmp_path
    )
    assert code == 0, err
    (tmp_path / "wxauth-dev.db.key").write_text(generate_key() + "\n")
    code, out, err = wxauth("users", "list", cwd=tmp_path)
    assert code == 0 and out.strip() == "no users", err
    notes = err.strip().splitlines()
    assert len(notes) == 1 and "using the dev database wxauth-dev.db" in notes[0]
    code, out, err = wxauth("keys", "rotate", cwd=tmp_path)
    assert code == 0 and out.startswith("0 re-encrypted"), err
    assert not (tmp_path / "wxauth.db").exists()
    # Configured explicitly, the dev database is left alone.
    line = one_line_error(
        wxauth(
            "users",
            "list",
            env={"WXAUTH_DATABASE_URL": "sqlite+aiosqlite:///other.db"},
            cwd=tmp_path,
        )
    )
    assert "no database at" in line and "other.db" in line
