"""phone country code, login events (audit), index for expired-session cleanup

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from wxauth.storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone_country_code", sa.String(8), nullable=True))
    op.create_index("ix_sessions_idle_expires_at", "sessions", ["idle_expires_at"])
    op.create_table(
        "login_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("appid", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("wechat_errcode", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_login_events"),
        **MYSQL,
    )
    op.create_index("ix_login_events_at", "login_events", ["at"])
    op.create_index("ix_login_events_user_id", "login_events", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_login_events_user_id", table_name="login_events")
    op.drop_index("ix_login_events_at", table_name="login_events")
    op.drop_table("login_events")
    op.drop_index("ix_sessions_idle_expires_at", table_name="sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone_country_code")
