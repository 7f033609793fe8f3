"""The panel's background jobs gain a kind: migration (as before), restore (from a backup,
by the customer) or move (to another server, by an admin). Still one running per account.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("panel_jobs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="migration")
        )


def downgrade() -> None:
    with op.batch_alter_table("panel_jobs") as batch:
        batch.drop_column("kind")
