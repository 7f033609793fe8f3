"""Alembic environment: always run with a connection handed in by glue.state.db.upgrade.

One DB, two descriptions of it: glue's tables (glue/state/schema.py) and the migrator's own
(migrator/schema.py); autogenerate compares the revisions with both."""

from __future__ import annotations

from alembic import context

from glue.state.schema import metadata
from migrator.schema import metadata as migrator_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=[metadata, migrator_metadata],
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
