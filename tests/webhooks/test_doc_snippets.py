"""The Node verifier in docs/integrations.md, run by node against wxauth's own signatures."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from wxauth.core.webhook_signing import new_secret, signed_headers

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
BODY = '{"id":"evt_1","type":"user.updated","data":{"changes":{"nickname":"小明 🐼"}}}'.encode()
CALL = """
const [secret, headers, body] = JSON.parse(require("fs").readFileSync(0, "utf8"));
try {
  console.log(verifyWebhook(secret, headers, Buffer.from(body, "base64")).type);
} catch (error) {
  console.log("refused: " + error.message);
}
"""


def node_snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("In Node, with `crypto` only:")
    match = re.search(r"```js\n(.*?)```", text[start:], re.DOTALL)
    assert match is not None
    return match.group(1)


def run_node(tmp_path: Path, secret: str, headers: dict[str, str], body: bytes) -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: apt-get install nodejs")
    script = tmp_path / "verify.js"
    script.write_text(node_snippet() + CALL, encoding="utf-8")
    given = json.dumps([secret, headers, base64.b64encode(body).decode()])
    done = subprocess.run(
        [node, str(script)], input=given, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_the_node_snippet_verifies_and_refuses(tmp_path: Path) -> None:
    secret = new_secret()
    headers = signed_headers(secret, "evt_1", int(time.time()), BODY)
    assert run_node(tmp_path, secret, headers, BODY) == "user.updated"
    assert run_node(tmp_path, secret, headers, BODY + b" ") == "refused: bad signature"
    assert run_node(tmp_path, new_secret(), headers, BODY) == "refused: bad signature"
    stale = signed_headers(secret, "evt_1", int(time.time()) - 301, BODY)
    assert run_node(tmp_path, secret, stale, BODY) == "refused: stale"
    several = {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    assert run_node(tmp_path, secret, several, BODY) == "user.updated"
