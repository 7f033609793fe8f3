"""What each upgrade purchase bought (the ledger entry's companion rows).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upgrade_purchases",
        sa.Column("key", sa.String(210), primary_key=True),
        sa.Column("ledger_key", sa.String(200), nullable=False, index=True),
        sa.Column("account", sa.String(64), nullable=False, index=True),
        sa.Column("resource", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.Date, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upgrade_purchases")
