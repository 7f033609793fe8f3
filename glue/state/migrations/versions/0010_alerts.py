"""Alerts: every alert with its state and notices (open ones, and closed ones as history),
when each server's group was last notified, and silences with their expiry.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("server", sa.String(64), nullable=False, index=True),
        sa.Column("account", sa.String(64), nullable=False, default=""),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True, index=True),
        sa.Column("clear_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_severity", sa.String(16), nullable=True),
        sa.Column("resolved_notified", sa.Boolean, nullable=False, default=False),
        sa.Column("summary", sa.Text, nullable=False, default=""),
        sa.Column("value", sa.Float, nullable=True),
    )
    op.create_table(
        "alert_groups",
        sa.Column("server", sa.String(64), primary_key=True),
        sa.Column("last_sent", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("matcher", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_silences")
    op.drop_table("alert_groups")
    op.drop_table("alerts")
