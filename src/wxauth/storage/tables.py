"""The schema. Changes go through alembic migrations in ``wxauth/storage/migrations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.dialects import mysql

from wxauth.core.models import DEVICE_LIMITS

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


# Where a timestamp column holds naive UTC (DATETIME); PostgreSQL's timestamptz holds the instant.
NAIVE_UTC_DIALECTS = ("sqlite", "mysql", "mariadb")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend (SQLite included)."""

    impl = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC)
        naive = dialect.name in NAIVE_UTC_DIALECTS
        return value.replace(tzinfo=None) if naive else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("appid", String(64), nullable=False),
    Column("openid", String(128), nullable=False),
    Column("unionid", String(128), nullable=True, index=True),
    Column("nickname", String(100), nullable=True),
    Column("avatar_url", String(1024), nullable=True),
    Column("gender", SmallInteger, nullable=True),
    Column("country", String(64), nullable=True),
    Column("province", String(64), nullable=True),
    Column("city", String(64), nullable=True),
    Column("language", String(16), nullable=True),
    Column("phone", String(32), nullable=True),
    Column("phone_country_code", String(8), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("disabled_reason", String(200), nullable=True),
    Column("disabled_ends_at", UTCDateTime, nullable=True),
    Column("deletion_due_at", UTCDateTime, nullable=True),
    Column("person_id", String(32), nullable=True),
    UniqueConstraint("appid", "openid"),
    Index("ix_users_deletion_due_at", "deletion_due_at"),
    Index("ix_users_person_id", "person_id"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("appid", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("idle_expires_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("user_agent", String(256), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("device_brand", String(DEVICE_LIMITS["brand"]), nullable=True),
    Column("device_model", String(DEVICE_LIMITS["model"]), nullable=True),
    Column("device_platform", String(DEVICE_LIMITS["platform"]), nullable=True),
    Column("device_system", String(DEVICE_LIMITS["system"]), nullable=True),
    Column("device_wechat_version", String(DEVICE_LIMITS["wechat_version"]), nullable=True),
    Column("revoked_reason", String(32), nullable=True),
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_expires_at", "expires_at"),
    Index("ix_sessions_idle_expires_at", "idle_expires_at"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

wechat_sessions = Table(
    "wechat_sessions",
    metadata,
    Column("appid", String(64), primary_key=True),
    Column("openid", String(128), primary_key=True),
    Column("session_key_enc", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)


login_events = Table(
    "login_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("appid", String(64), nullable=True),
    Column("user_id", String(32), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("result", String(16), nullable=False),
    Column("error_code", String(32), nullable=True),
    Column("wechat_errcode", Integer, nullable=True),
    # How long WeChat took to answer code2Session (milliseconds); None when it was not asked.
    Column("wechat_ms", Integer, nullable=True),
    Index("ix_login_events_at", "at"),
    Index("ix_login_events_user_id", "user_id"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

account_events = Table(
    "account_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("appid", String(64), nullable=True),
    Column("actor", String(16), nullable=False),
    Column("ip", String(64), nullable=True),
    Column("detail", String(200), nullable=True),
    Index("ix_account_events_at", "at"),
    Index("ix_account_events_user_id", "user_id"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

# Uploaded avatars, when WXAUTH_AVATAR_STORAGE=database: re-encoded pictures of at most 640 px
# (tens of kilobytes), named by their content, so that every server serves every avatar.
avatar_images = Table(
    "avatar_images",
    metadata,
    Column("name", String(48), primary_key=True),
    Column(
        "data", LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb"), nullable=False
    ),
    Column("stored_at", UTCDateTime, nullable=False),
    Index("ix_avatar_images_stored_at", "stored_at"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

# -- apps, persons and the platform (migration 0004) ---------------------------------------

apps = Table(
    "apps",
    metadata,
    Column("appid", String(64), primary_key=True),
    Column("mode", String(16), nullable=False, server_default="direct"),
    Column("secret_enc", Text, nullable=True),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("disabled_reason", String(200), nullable=True),
    Column("display_name", String(100), nullable=True),
    Column("session_idle_ttl", Integer, nullable=True),
    Column("session_max_ttl", Integer, nullable=True),
    Column("rate_limit_login", Integer, nullable=True),
    Column("component_appid", String(64), nullable=True),
    Column("refresh_token_enc", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

persons = Table(
    "persons",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("unionid", String(128), nullable=True, unique=True),
    # An operator's merge: this person's users now belong to that one (undone from the audit).
    Column("merged_into", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

component_tickets = Table(
    "component_tickets",
    metadata,
    Column("component_appid", String(64), primary_key=True),
    Column("ticket_enc", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

# Keys that sign access JWTs (POST /v1/token): the private key encrypted with the keyring.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_key_enc", Text, nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime, nullable=True),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

# Users and sessions are read with labelled columns, so that one row can carry both.
USER_COLUMNS = [c.label(f"u_{c.name}") for c in users.c]
SESSION_COLUMNS = [c.label(f"s_{c.name}") for c in sessions.c]


# -- the operator console (migration 0006) ---------------------------------------------

operators = Table(
    "operators",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("totp_secret_enc", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime, nullable=True),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ip", String(64), nullable=True),
    Index("ix_operator_sessions_operator", "operator"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

operator_events = Table(
    "operator_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("operator", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(64), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("detail", String(200), nullable=True),
    Index("ix_operator_events_at", "at"),
    Index("ix_operator_events_operator", "operator"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

# -- webhooks (migration 0008) -------------------------------------------------------------

# Who is told of what: the signing secret encrypted with the keyring, the event types
# comma-separated, ``appid`` NULL for every app.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", String(1024), nullable=False),
    Column("events", String(512), nullable=False),
    Column("appid", String(64), nullable=True),
    Column("secret_enc", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

# The outbox: one row per event and subscription, written in the transaction of the change
# it reports, then delivered by the workers (a lease claimed by compare-and-set), in ``id``
# order per (subscription, user).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("subscription_id", String(32), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("appid", String(64), nullable=True),
    Column("user_id", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(200), nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_subscription_id_user_id_id", "subscription_id", "user_id", "id"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)

WEBHOOK_OUTBOX_NAMES = (
    "subscription_id",
    "event_id",
    "event_type",
    "appid",
    "user_id",
    "occurred_at",
    "payload",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
)
