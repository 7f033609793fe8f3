"""The register of mailboxes made through bubble goes: the panel lists an account's mailboxes
as its server's Dovecot knows them (migrated ones too), so the register had no job left.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("mailboxes")


def downgrade() -> None:
    op.create_table(
        "mailboxes",
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
