"""The one error tree: every error is drawn in errors.py's docstring, documented in the
README's error table with its status, and rendered by the API exactly as it says."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from wxauth import errors
from wxauth.api.errors import render
from wxauth.errors import WxAuthError

README = Path(__file__).resolve().parents[1] / "README.md"


def tree() -> list[type[WxAuthError]]:
    found: list[type[WxAuthError]] = []
    pending: list[type[WxAuthError]] = [WxAuthError]
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == "wxauth.errors"]


def readme_table() -> dict[str, set[int]]:
    """Error code -> the statuses the README's error table gives it."""
    text = README.read_text(encoding="utf-8")
    start = text.index("| error | status | when |")
    rows: dict[str, set[int]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        code, status = (cell.strip() for cell in line.strip("|").split("|")[:2])
        rows[code.strip("`")] = {int(s) for s in re.findall(r"\d{3}", status)}
    return rows


def test_the_tree_has_every_error_the_package_defines() -> None:
    assert {cls.__name__ for cls in tree()} >= {
        "KeyringError",
        "StorageUnavailable",
        "CryptoError",
        "DecryptionFailed",
    }


@pytest.mark.parametrize("cls", tree(), ids=lambda cls: cls.__name__)
def test_each_error_is_drawn_in_the_docstring(cls: type[WxAuthError]) -> None:
    assert errors.__doc__ is not None
    assert re.search(rf"[─ ]{cls.__name__}\b", errors.__doc__), cls.__name__


@pytest.mark.parametrize("cls", tree(), ids=lambda cls: cls.__name__)
def test_each_error_is_in_the_readme_with_its_status(cls: type[WxAuthError]) -> None:
    table = readme_table()
    assert cls.code in table, f"README's error table lacks {cls.code}"
    assert cls.status in table[cls.code], f"README gives {cls.code} {table[cls.code]}"


def test_each_readme_row_is_an_error_of_the_tree() -> None:
    codes = {cls.code for cls in tree()}
    assert set(readme_table()) <= codes


@pytest.mark.parametrize("cls", tree(), ids=lambda cls: cls.__name__)
def test_the_api_renders_each_as_it_says(cls: type[WxAuthError]) -> None:
    response = render(cls(wechat_errcode=40001), "req-1")
    body = orjson.loads(response.body)
    assert response.status_code == cls.status
    assert body == {
        "error": cls.code,
        "message": cls.default_message,
        "request_id": "req-1",
        "wechat_errcode": 40001,
    }
    if cls.default_retry_after is not None:
        assert response.headers["retry-after"] == str(cls.default_retry_after)
    else:
        assert "retry-after" not in response.headers
    if cls.status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_status_classes_mean_what_they_say() -> None:
    """5xx is ours or a dependency's; 503s tell when to come back."""
    for cls in tree():
        if cls.status == 503:
            assert cls.default_retry_after, cls.__name__
        assert 400 <= cls.status < 600
