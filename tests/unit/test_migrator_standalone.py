"""migrator/ stands on its own: it imports without glue, raises one error type, and its tables
(its own MetaData) are what glue's Alembic revisions create."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import migrator
from glue.state.db import upgrade
from glue.state.schema import metadata as glue_metadata
from migrator.errors import MigratorError
from migrator.schema import metadata as migrator_metadata

REPO = Path(__file__).resolve().parents[2]


def _modules() -> list[str]:
    return sorted(f"migrator.{m.name}" for m in pkgutil.iter_modules(migrator.__path__))


def test_every_migrator_module_imports_without_glue() -> None:
    """A finder that refuses glue sits first in sys.meta_path; then every module is imported."""
    code = (
        "import importlib, sys\n"
        "class NoGlue:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'glue' or name.startswith('glue.'):\n"
        "            raise ImportError('migrator imported ' + name)\n"
        "sys.meta_path.insert(0, NoGlue())\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'glue'))\n"
    )
    modules = _modules()
    assert "migrator.runner" in modules and "migrator.target" in modules
    run = subprocess.run(
        [sys.executable, "-c", code, *modules],
        capture_output=True, text=True, check=False, cwd=REPO, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[]\n"


def test_every_migrator_error_derives_from_the_one_base() -> None:
    errors = []
    for name in _modules():
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException):
                errors.append(cls)
    assert len(errors) >= 5  # MigrationError, SecretsError, SourceUrlError, SinkError, ...
    assert [e for e in errors if not issubclass(e, MigratorError)] == []


def test_the_newest_revision_creates_both_metadatas() -> None:
    """glue's tables and the migrator's, each described once, match what Alembic made."""
    engine = create_engine("sqlite://")
    upgrade(engine)
    assert set(migrator_metadata.tables) == {"migration_jobs", "migration_parts"}
    assert not set(migrator_metadata.tables) & set(glue_metadata.tables)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, [glue_metadata, migrator_metadata]) == []
