"""The migrator's tables in the state DB: migration jobs and their parts.

Their own MetaData: the migrator describes its tables without knowing glue's. glue's Alembic
environment (glue/state/migrations/env.py) migrates both metadatas in one DB; revision 0002
created these tables and this module must match the newest revision that touches them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

migration_jobs = Table(
    "migration_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False, index=True),
    Column("sources", Text, nullable=False),  # JSON list of part labels, in order
    Column("state", String(16), nullable=False),  # running | done | failed | refused
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("report", Text, nullable=False, default=""),  # the final JSON report
)

migration_parts = Table(
    "migration_parts",
    metadata,
    Column("job_id", Integer, ForeignKey("migration_jobs.id"), primary_key=True),
    Column("part", String(500), primary_key=True),
    Column("kind", String(8), nullable=False),  # files | db | mail
    Column("state", String(16), nullable=False),  # pending | copied | verified | failed
    Column("copied", BigInteger, nullable=False, default=0),
    Column("copied_bytes", BigInteger, nullable=False, default=0),
    Column("skipped", BigInteger, nullable=False, default=0),
    Column("failed", BigInteger, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
