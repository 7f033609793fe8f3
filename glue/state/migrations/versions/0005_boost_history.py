"""Elastic boosts with their history: each boost is a row with the time range it held, never
overwritten (the open one, `until` NULL, is in force). Replaces `limits_in_force`.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    boosts = op.create_table(
        "boosts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False, index=True),
        sa.Column("resource", sa.String(16), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True, index=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    old = sa.table(
        "limits_in_force",
        sa.column("account", sa.String),
        sa.column("resource", sa.String),
        sa.column("value", sa.BigInteger),
        sa.column("since", sa.DateTime(timezone=True)),
    )
    rows = op.get_bind().execute(sa.select(old)).mappings().all()
    if rows:
        op.bulk_insert(boosts, [dict(row) for row in rows])
    op.drop_table("limits_in_force")


def downgrade() -> None:
    op.create_table(
        "limits_in_force",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("resource", sa.String(16), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.drop_table("boosts")
