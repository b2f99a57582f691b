"""login_events.wechat_ms: how long code2Session took, for the console's latency chart

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: adding it rewrites no rows on any backend.
    op.add_column("login_events", sa.Column("wechat_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_events") as batch:
        batch.drop_column("wechat_ms")
