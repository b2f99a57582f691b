"""operators: console accounts, their sessions and their actions

Revision ID: 0006
Revises: 0007
Create Date: 2026-12-10
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from wxauth.storage.tables import UTCDateTime

revision = "0006"
down_revision = "0007"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("totp_secret_enc", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_operators"),
        **MYSQL,
    )
    op.create_table(
        "operator_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_operator_sessions"),
        **MYSQL,
    )
    op.create_index("ix_operator_sessions_operator", "operator_sessions", ["operator"])
    op.create_table(
        "operator_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_operator_events"),
        **MYSQL,
    )
    op.create_index("ix_operator_events_at", "operator_events", ["at"])
    op.create_index("ix_operator_events_operator", "operator_events", ["operator"])


def downgrade() -> None:
    op.drop_index("ix_operator_events_operator", table_name="operator_events")
    op.drop_index("ix_operator_events_at", table_name="operator_events")
    op.drop_table("operator_events")
    op.drop_index("ix_operator_sessions_operator", table_name="operator_sessions")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
