"""Opening the state DB: a SQLite file under the root by default, PostgreSQL by URL.

Alembic migrations run on open when the DB is behind, so every command sees the newest schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from glue.paths import PRIVATE_FILE_MODE, private_dir, private_file, state_dir

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def default_url(root: Path) -> str:
    return f"sqlite:///{(state_dir(root) / 'bubble.sqlite').resolve()}"


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (the driver we ship)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_serialised(engine: Engine) -> None:
    """Writers take the lock when their transaction begins (BEGIN IMMEDIATE), so a
    read-check-write such as 'is the balance enough?' cannot interleave with another process."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _private_sqlite_file(database: Path) -> None:
    """The DB file 0600 before SQLite opens it: SQLite gives its -wal, -shm and -journal
    files the mode of the DB file, so the ledger is never readable by other users."""
    if not database.parent.is_dir():
        private_dir(database.parent)
    private_file(database)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            companion.chmod(PRIVATE_FILE_MODE)


def open_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_sqlite_file(Path(database))
        engine = create_engine(url)
        _sqlite_serialised(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    upgrade(engine)
    return engine


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (no-op when it is there)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
