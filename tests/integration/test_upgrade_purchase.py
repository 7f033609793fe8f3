"""`bubble account upgrade` is one purchase, charged once and written once, whatever runs at
the same time, fails or is killed: real processes of the CLI, on SQLite and on a real
PostgreSQL, crashes by SIGKILL at each step of the purchase."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from glue.catalog import load_catalog
from glue.models import Upgrade
from glue.state.db import default_url, open_engine
from glue.state.ledger import Entry, Ledger
from tests.integration.test_ledger_postgres import fresh_database, running_postgres
from tests.support.cli import invoke, run, start

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CPU_FEE = 6_000  # the base plan: 60.00 a year per GHz
START = 100_000  # 1000.00 credited before each test

# The CLI in a process of its own. With CRASH_AT set, the process SIGKILLs itself at that
# step of the purchase: inside the ledger transaction, after its commit but before the
# catalog write, or right after the catalog write.
RUN = """
import os, signal
import glue.services.accounts as accounts

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def after(original):
    def wrapper(*args, **kwargs):
        original(*args, **kwargs)
        die()
    return wrapper

point = os.environ.get("CRASH_AT")
if point == "in-transaction":
    accounts.record_purchase = after(accounts.record_purchase)
elif point == "before-catalog":
    accounts.save_account = lambda *args, **kwargs: die()
elif point == "after-catalog":
    accounts.save_account = after(accounts.save_account)

from glue.cli.main import app
app()
"""
CRASHING = (sys.executable, "-c", RUN)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment of every `bubble` run of a test: its root, its state DB, no apply."""
    root = tmp_path / "ops"
    env = {"BUBBLE_ROOT": str(root), "BUBBLE_APPLY": "0"}
    if request.param == "postgresql":
        env["BUBBLE_DATABASE_URL"] = fresh_database(request.getfixturevalue("postgres_server"))
    for args in (
        ["init", str(root)],
        ["server", "add", "web1", "--provider", "lab", "--cores", "4", "--core-ghz", "2",
         "--memory", "16GiB", "--disk", "200GiB"],
        ["account", "create", "alice", "--domain", "alice.example"],
        ["wallet", "credit", "alice", "1000.00", "--key", "start"],
    ):  # fmt: skip
        result = invoke(*args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
    return env


def bubble(
    env: dict[str, str], *args: str, crash_at: str | None = None, apply: bool = False
) -> subprocess.CompletedProcess[str]:
    full = {**env, "PYTHONPATH": str(REPO), "BUBBLE_APPLY": "1" if apply else "0"}
    full["CRASH_AT"] = crash_at or ""
    return run(*args, env=full, entry=CRASHING, timeout=120)


def start_all(env: dict[str, str], commands: list[list[str]]) -> list[subprocess.Popen[str]]:
    full = {**env, "PYTHONPATH": str(REPO)}
    return [start(*args, env=full, entry=CRASHING) for args in commands]


def ledger(env: dict[str, str]) -> Ledger:
    root = Path(env["BUBBLE_ROOT"])
    return Ledger(open_engine(env.get("BUBBLE_DATABASE_URL") or default_url(root)))


def charges(env: dict[str, str], account: str = "alice") -> list[Entry]:
    return [e for e in ledger(env).entries(account) if e.kind == "upgrade"]


def upgrades(env: dict[str, str], account: str = "alice") -> list[Upgrade]:
    return load_catalog(Path(env["BUBBLE_ROOT"])).accounts[account].upgrades


def assert_books_balance(env: dict[str, str], bought: int, account: str = "alice") -> None:
    """`bought` charges of one GHz each, every one with its upgrade in the catalog (same key),
    and the balance right to the cent."""
    paid = charges(env, account)
    assert len(paid) == bought
    assert sorted(u.key for u in upgrades(env, account)) == sorted(f"{e.key}#0" for e in paid)
    assert all(u.resource == "cpu" and u.amount == 1000 for u in upgrades(env, account))
    books = ledger(env)
    assert books.balance(account) == START - bought * CPU_FEE == books.sum_of_entries(account)


def test_concurrent_upgrades_each_charge_once_and_none_is_lost(env: dict[str, str]) -> None:
    """Five purchases and an unrelated edit of the same account at once: every purchase is
    charged once and written, and the edit survives (the catalog lock)."""
    count = 5
    commands = [
        ["account", "upgrade", "alice", "--cpu", "+1GHz", "--key", f"k{i}"] for i in range(count)
    ]
    procs = start_all(env, [*commands[:3], ["account", "elastic", "alice", "on"], *commands[3:]])
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    assert_books_balance(env, count)
    data = json.loads(bubble(env, "account", "show", "alice", "--json").stdout)
    assert data["base"]["cpu_mhz"] == 1000 + count * 1000
    assert data["elastic"] is True


def test_the_same_request_at_once_is_one_purchase(env: dict[str, str]) -> None:
    """Without --key, the key is the request (account, amounts, day): four operators (or
    retries) sending it together buy it once."""
    procs = start_all(env, [["account", "upgrade", "alice", "--cpu", "+1GHz"]] * 4)
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        outputs.append(out)
    assert_books_balance(env, 1)
    assert sum("fee 60.00" in out for out in outputs) == 1
    assert sum("nothing charged" in out for out in outputs) == 3


@pytest.mark.parametrize("point", ["in-transaction", "before-catalog", "after-catalog"])
def test_a_crash_then_a_rerun_charges_once_and_upgrades_once(
    env: dict[str, str], point: str
) -> None:
    command = ["account", "upgrade", "alice", "--cpu", "+1GHz"]
    crashed = bubble(env, *command, crash_at=point)
    assert crashed.returncode == -9, crashed.stderr
    # What the crash left: nothing, or a charge whose upgrade the catalog lacks, or both.
    left = {"in-transaction": (0, 0), "before-catalog": (1, 0), "after-catalog": (1, 1)}[point]
    assert (len(charges(env)), len(upgrades(env))) == left
    again = bubble(env, *command)
    assert again.returncode == 0, again.stderr
    assert_books_balance(env, 1)
    assert (
        "nothing charged" in again.stdout
        if left[0]
        else "fee 60.00, balance 940.00" in again.stdout
    )
    # and a third run is still the same purchase
    assert bubble(env, *command).returncode == 0
    assert_books_balance(env, 1)


def test_a_paid_upgrade_missing_from_the_catalog_is_written_by_the_next_purchase(
    env: dict[str, str],
) -> None:
    """A crash after the commit, and the next command is another purchase: both are there."""
    crashed = bubble(
        env, "account", "upgrade", "alice", "--cpu", "+1GHz", crash_at="before-catalog"
    )
    assert crashed.returncode == -9
    other = bubble(env, "account", "upgrade", "alice", "--cpu", "+1GHz", "--key", "second")
    assert other.returncode == 0, other.stderr
    assert_books_balance(env, 2)


def test_a_retry_while_the_apply_is_pending_charges_nothing(env: dict[str, str]) -> None:
    """The account's server was never built (no address yet): the limits wait for `bubble
    apply`; the operator, unsure, runs the same command again, and again."""
    for args in (
        ["server", "add", "web9", "--provider", "hcloud", "--type", "cx22", "--region", "fsn1",
         "--cores", "2", "--core-ghz", "2", "--memory", "4GiB", "--disk", "40GiB"],
        ["account", "create", "bob", "--domain", "bob.example", "--server", "web9"],
        ["wallet", "credit", "bob", "1000.00", "--key", "start-bob"],
    ):  # fmt: skip
        assert invoke(*args, env=env).exit_code == 0
    for _ in range(3):
        pending = bubble(env, "account", "upgrade", "bob", "--cpu", "+1GHz", apply=True)
        assert pending.returncode == 0, pending.stderr
        assert "server web9 is not built yet" in pending.stdout
    assert_books_balance(env, 1, account="bob")
    assert ledger(env).balance("alice") == START
