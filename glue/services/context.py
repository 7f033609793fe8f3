"""A command's view of one operator root: its catalog, its state DB, today's date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine

from glue.catalog import Catalog, load_catalog
from glue.locks import catalog_lock
from glue.settings import Settings
from glue.state.ledger import Ledger


@dataclass
class Context:
    root: Path
    settings: Settings = field(default_factory=Settings)
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())

    def catalog(self) -> Catalog:
        """Freshly loaded and validated: every command works on what is on disk now."""
        return load_catalog(self.root)

    @contextmanager
    def editing(self) -> Iterator[Catalog]:
        """The catalog, freshly loaded under the catalog lock, held until the block ends:
        every read-modify-write of catalog/ goes through here."""
        with catalog_lock(self.root):
            yield load_catalog(self.root)

    @cached_property
    def engine(self) -> Engine:
        from glue.state.db import default_url, open_engine

        return open_engine(self.settings.database_url or default_url(self.root))

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.engine)
