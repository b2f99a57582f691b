"""avatar_images: uploaded avatars kept in the database (WXAUTH_AVATAR_STORAGE=database)

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wxauth.storage.tables import UTCDateTime

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "avatar_images",
        sa.Column("name", sa.String(48), nullable=False),
        sa.Column(
            "data",
            sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("stored_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_avatar_images"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_avatar_images_stored_at", "avatar_images", ["stored_at"])


def downgrade() -> None:
    op.drop_index("ix_avatar_images_stored_at", table_name="avatar_images")
    op.drop_table("avatar_images")
