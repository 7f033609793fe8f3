"""The account history and wallet burn tests again, on a real PostgreSQL started for this module."""

from __future__ import annotations

import pytest

from tests.integration.test_ledger_postgres import fresh_database, postgres_server  # noqa: F401
from tests.unit.test_history_and_burn import *  # noqa: F403 - the same cases, another database

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(postgres_server: str) -> str:  # noqa: F811 - the fixture is the module's own
    """A fresh database per test."""
    return fresh_database(postgres_server)
