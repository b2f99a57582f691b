"""accounts: session devices and why a session ended, user status and deletion, account events

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from wxauth.storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

DEVICE_COLUMNS = [
    ("device_brand", 32),
    ("device_model", 64),
    ("device_platform", 16),
    ("device_system", 64),
    ("device_wechat_version", 32),
]


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        for name, length in DEVICE_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length), nullable=True))
        batch.add_column(sa.Column("revoked_reason", sa.String(32), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("disabled_reason", sa.String(200), nullable=True))
        batch.add_column(sa.Column("disabled_ends_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("deletion_due_at", UTCDateTime(), nullable=True))
    op.create_index("ix_users_deletion_due_at", "users", ["deletion_due_at"])
    op.create_table(
        "account_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("appid", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(16), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_account_events"),
        **MYSQL,
    )
    op.create_index("ix_account_events_at", "account_events", ["at"])
    op.create_index("ix_account_events_user_id", "account_events", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_account_events_user_id", table_name="account_events")
    op.drop_index("ix_account_events_at", table_name="account_events")
    op.drop_table("account_events")
    op.drop_index("ix_users_deletion_due_at", table_name="users")
    with op.batch_alter_table("users") as batch:
        for name in ("deletion_due_at", "disabled_ends_at", "disabled_reason", "status"):
            batch.drop_column(name)
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("revoked_reason")
        for name, _ in reversed(DEVICE_COLUMNS):
            batch.drop_column(name)
