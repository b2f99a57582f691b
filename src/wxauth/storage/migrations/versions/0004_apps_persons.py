"""apps registry, persons by UnionID, platform tickets

Revision ID: 0004
Revises: 0005
Create Date: 2026-12-15
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from wxauth.storage.tables import UTCDateTime

revision = "0004"
down_revision = "0005"  # main went 0003 -> 0007 -> 0006 -> 0005 meanwhile
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("appid", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False, server_default="direct"),
        sa.Column("secret_enc", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("display_name", sa.String(100), nullable=True),
        sa.Column("session_idle_ttl", sa.Integer(), nullable=True),
        sa.Column("session_max_ttl", sa.Integer(), nullable=True),
        sa.Column("rate_limit_login", sa.Integer(), nullable=True),
        sa.Column("component_appid", sa.String(64), nullable=True),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("appid", name="pk_apps"),
        **MYSQL,
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("unionid", sa.String(128), nullable=True),
        sa.Column("merged_into", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_persons"),
        sa.UniqueConstraint("unionid", name="uq_persons_unionid"),
        **MYSQL,
    )
    op.create_table(
        "component_tickets",
        sa.Column("component_appid", sa.String(64), nullable=False),
        sa.Column("ticket_enc", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("component_appid", name="pk_component_tickets"),
        **MYSQL,
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("person_id", sa.String(32), nullable=True))
    op.create_index("ix_users_person_id", "users", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_users_person_id", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("person_id")
    op.drop_table("component_tickets")
    op.drop_table("persons")
    op.drop_table("apps")
