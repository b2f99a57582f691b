"""The operator console's searches and counts, in SQL (see :mod:`wxauth.core.insights`).

Buckets are cut in the database, from each timestamp's seconds since the Unix epoch, with
each dialect's own way of getting them (the timestamps are UTC on every backend).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, cast, func, literal, or_, select
from sqlalchemy.sql import literal_column

from wxauth.core.insights import EventQuery, phone_tail
from wxauth.storage.tables import USER_COLUMNS, login_events, sessions, users


def epoch_seconds(column: ColumnElement[Any], dialect: str) -> ColumnElement[int]:
    if dialect == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    if dialect == "postgresql":
        return cast(func.extract("epoch", column), BigInteger)
    # MySQL / MariaDB: DATETIME columns hold UTC without a zone; no session time zone applies.
    return func.timestampdiff(literal_column("SECOND"), literal("1970-01-01 00:00:00"), column)


def bucket(column: ColumnElement[Any], dialect: str, bucket_s: int) -> ColumnElement[int]:
    epoch = epoch_seconds(column, dialect)
    return (epoch - epoch % bucket_s).label("bucket")


def from_epoch(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def search_users_query(query: str, appid: str | None, limit: int) -> Select[Any]:
    found = [users.c.id == query, users.c.openid == query, users.c.unionid == query]
    if query:
        found.append(users.c.nickname.contains(query, autoescape=True))
    tail = phone_tail(query)
    if tail is not None:
        found.append(users.c.phone.endswith(tail, autoescape=True))
    statement = select(*USER_COLUMNS).where(or_(*found))
    if appid is not None:
        statement = statement.where(users.c.appid == appid)
    return statement.order_by(users.c.created_at.desc(), users.c.id.desc()).limit(limit)


def login_counts_query(
    since: datetime, bucket_s: int, appid: str | None, dialect: str
) -> Select[Any]:
    start = bucket(login_events.c.at, dialect, bucket_s)
    statement = (
        select(start, login_events.c.result, login_events.c.error_code, func.count())
        .where(login_events.c.at >= since)
        .group_by(start, login_events.c.result, login_events.c.error_code)
        .order_by(start)
    )
    if appid is not None:
        statement = statement.where(login_events.c.appid == appid)
    return statement


def new_user_counts_query(
    since: datetime, bucket_s: int, appid: str | None, dialect: str
) -> Select[int, int]:
    start = bucket(users.c.created_at, dialect, bucket_s)
    statement = (
        select(start, func.count())
        .where(users.c.created_at >= since)
        .group_by(start)
        .order_by(start)
    )
    if appid is not None:
        statement = statement.where(users.c.appid == appid)
    return statement


def latency_counts_query(
    since: datetime, bucket_s: int, appid: str | None, dialect: str
) -> Select[Any]:
    start = bucket(login_events.c.at, dialect, bucket_s)
    ms = login_events.c.wechat_ms
    statement = (
        select(start, ms, func.count())
        .where(login_events.c.at >= since, ms.is_not(None))
        .group_by(start, ms)
        .order_by(start, ms)
    )
    if appid is not None:
        statement = statement.where(login_events.c.appid == appid)
    return statement


def users_per_app_query() -> Select[Any]:
    return select(users.c.appid, func.count()).group_by(users.c.appid)


def live_sessions_per_app_query(now: datetime) -> Select[Any]:
    live = live_sessions_query(now, None).with_only_columns(sessions.c.appid, func.count())
    return live.group_by(sessions.c.appid)


def live_sessions_query(now: datetime, appid: str | None) -> Select[Any]:
    statement: Select[Any] = (
        select(func.count())
        .select_from(sessions)
        .where(
            sessions.c.revoked_at.is_(None),
            sessions.c.idle_expires_at > now,
            sessions.c.expires_at > now,
        )
    )
    if appid is not None:
        statement = statement.where(sessions.c.appid == appid)
    return statement


def login_events_query(query: EventQuery) -> Select[Any]:
    statement = select(login_events).order_by(login_events.c.id.desc()).limit(query.limit)
    if query.since is not None:
        statement = statement.where(login_events.c.at >= query.since)
    if query.until is not None:
        statement = statement.where(login_events.c.at < query.until)
    if query.appid is not None:
        statement = statement.where(login_events.c.appid == query.appid)
    if query.user_id is not None:
        statement = statement.where(login_events.c.user_id == query.user_id)
    if query.result is not None:
        statement = statement.where(login_events.c.result == query.result)
    return statement
