"""The login endpoint as many teams write it by hand: Flask, requests, sqlite3.

One blocking call to WeChat per request, a new database connection per request, served by
a few gunicorn sync workers (``gunicorn -w N bench.baselines.flask_login:app``). It does the
same work as wxauth's POST /v1/login: code2Session, upsert the user, store the session_key
and a hashed random token. Configured by ``BASELINE_DB``, ``BASELINE_WECHAT_URL`` and
``BASELINE_APPS`` (``APPID:SECRET``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
import uuid
from typing import Any

import requests
from flask import Flask, jsonify, request

app = Flask(__name__)
DB = os.environ.get("BASELINE_DB", "baseline.db")
WECHAT = os.environ.get("BASELINE_WECHAT_URL", "https://api.weixin.qq.com")
APPID, _, SECRET = os.environ.get("BASELINE_APPS", ":").partition(":")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, openid TEXT UNIQUE, unionid TEXT,
    session_key TEXT, created_at REAL, last_login_at REAL);
CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, user_id TEXT,
    created_at REAL, expires_at REAL);
"""


def connect() -> sqlite3.Connection:
    db = sqlite3.connect(DB, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    return db


def create_schema() -> None:
    with connect() as db:
        db.executescript(SCHEMA)


@app.post("/v1/login")
def login() -> Any:
    code = (request.get_json(silent=True) or {}).get("code")
    if not code:
        return jsonify(error="invalid_request"), 400
    answer = requests.get(
        f"{WECHAT}/sns/jscode2session",
        params={
            "appid": APPID,
            "secret": SECRET,
            "js_code": code,
            "grant_type": "authorization_code",
        },
        timeout=5,
    ).json()
    if answer.get("errcode"):
        return jsonify(error="invalid_code", wechat_errcode=answer["errcode"]), 400
    now = time.time()
    token = secrets.token_urlsafe(32)
    db = connect()
    try:
        with db:
            db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(openid) DO UPDATE"
                " SET session_key = excluded.session_key, last_login_at = excluded.last_login_at",
                (
                    uuid.uuid4().hex,
                    answer["openid"],
                    answer.get("unionid"),
                    answer["session_key"],
                    now,
                    now,
                ),
            )
            (user_id,) = db.execute(
                "SELECT id FROM users WHERE openid = ?", (answer["openid"],)
            ).fetchone()
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (hashlib.sha256(token.encode()).hexdigest(), user_id, now, now + 30 * 86400),
            )
    finally:
        db.close()
    return jsonify(token=token, token_type="Bearer", expires_in=30 * 86400, user={"id": user_id})


@app.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


create_schema()
