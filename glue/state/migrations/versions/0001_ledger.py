"""Wallet ledger and limits in force.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("balance_cents", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False, index=True),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("balance_after_cents", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("key", name="uq_ledger_entries_key"),
    )
    op.create_table(
        "limits_in_force",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("resource", sa.String(16), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("limits_in_force")
    op.drop_table("ledger_entries")
    op.drop_table("wallets")
