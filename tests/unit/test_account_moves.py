"""`bubble account move` and `bubble server evacuate` refuse what they cannot do before
touching anything (one line, non-zero, no move recorded, the catalog as it was); a move's
state: one open move per account, resumed from its row, closed when finished."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy.exc

from glue.services.context import Context
from glue.state.moves import open_move, set_phase, start_move
from tests.support.cli import CliResult, server_args

Bubble = Callable[..., CliResult]


@pytest.fixture
def fleet(bubble: Bubble, two_servers: None) -> None:
    for args in (("bak1", *server_args("4GiB", "500GiB"), "--role", "backup"),
                 ("tiny", *server_args("1GiB", "10GiB"))):  # fmt: skip
        code, _, err = bubble("server", "add", *args)
        assert code == 0, err
    code, _, err = bubble("server", "add", "gone", *server_args("8GiB", "100GiB"))
    assert code == 0, err
    assert bubble("server", "drain", "gone")[0] == 0
    code, _, err = bubble("account", "create", "alice", "--domain", "alice.example",
                          "--server", "web1")  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--to", "bak1"), "server 'bak1' is a backup server: it takes no accounts"),
        (("--to", "gone"), "server 'gone' is draining: it takes no accounts"),
        (("--to", "tiny"), "server 'tiny' has no room for alice's base"),
        (("--to", "web1"), "account 'alice' is on web1 already"),
        (("--to", "nope"), "unknown server 'nope'"),
        ((), "give --to SERVER (or --finish once DNS has moved)"),
        (("--finish",), "account 'alice' has no switched move to finish"),
    ],
)
def test_a_move_that_cannot_be_done_is_refused_before_anything(
    bubble: Bubble, root: Path, fleet: None, args: tuple[str, ...], why: str
) -> None:
    account_file = (root / "catalog" / "accounts" / "alice.yml").read_text()
    code, _, err = bubble("account", "move", "alice", *args)
    assert code != 0 and why in err and len(err.strip().splitlines()) == 1, err
    assert open_move(Context(root).engine, "alice") is None
    assert (root / "catalog" / "accounts" / "alice.yml").read_text() == account_file


def test_evacuation_asks_first_and_refuses_a_backup_server(bubble: Bubble, fleet: None) -> None:
    code, _, err = bubble("server", "evacuate", "web1")
    assert code != 0 and "pass --yes to confirm" in err, err
    code, _, err = bubble("server", "evacuate", "bak1", "--yes")
    assert code != 0 and "server 'bak1' is a backup server: it has no accounts" in err, err
    code, out, _ = bubble("server", "list", "--json")
    assert {r["name"]: r["state"] for r in json.loads(out)}["web1"] == "active"


def test_one_open_move_per_account_resumed_from_its_row_and_closed_when_finished(
    root: Path,
) -> None:
    engine = Context(root).engine
    move = start_move(engine, "alice", "web1", "web2")
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        start_move(engine, "alice", "web1", "web3")
    switched = set_phase(engine, move, "switched", 2500)
    resumed = open_move(engine, "alice")
    assert resumed is not None and (resumed.target, resumed.phase, resumed.downtime_ms) == (
        "web2",
        "switched",
        2500,
    )
    set_phase(engine, switched, "finished")
    assert open_move(engine, "alice") is None
    assert start_move(engine, "alice", "web2", "web1").phase == "copying"


def test_evacuation_from_backup_run_again_skips_the_restored_and_resumes_the_failed(
    bubble: Bubble, root: Path, two_servers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remote steps (borg, converge, the copy) stand in for servers this machine has not:
    bob's restore fails the first time; the rest go on; run again, only bob is restored, on
    the server chosen for him the first time, and each account ends switched once."""
    from glue.errors import BubbleError
    from glue.services import evacuation

    assert bubble("server", "add", "web3", *server_args("8GiB", "100GiB"))[0] == 0
    for name in ("alice", "bob", "carol"):
        code, _, err = bubble("account", "create", name, "--domain", f"{name}.example",
                              "--server", "web1")  # fmt: skip
        assert code == 0, err
    restored: list[tuple[str, str]] = []
    failing = {"bob"}

    def archives(ctx: Context, account: str) -> list[dict[str, object]]:
        assert ctx.catalog().accounts[account].server == "web1"  # the dead server's repository
        return [{"archive": f"{account}-2026-12-03T01:00", "time": "2026-12-03T01:00:00",
                 "files": f"srv/{account}", "databases": [], "mailboxes": []}]  # fmt: skip

    def restore(ctx: Context, dead: str, ends: evacuation.Ends, latest: dict[str, object]) -> dict:
        assert dead == "web1" and ends.catalog.accounts[ends.account].server == ends.target
        if ends.account in failing:
            raise BubbleError(f"restoring {ends.account}'s files on {ends.target}: rsync failed")
        restored.append((ends.account, ends.target))
        return {"databases": [], "mailboxes": [], "mail_logins": 0}

    monkeypatch.setattr(evacuation.backups, "list_archives", archives)
    monkeypatch.setattr(evacuation, "carry", lambda ctx, catalog, server, report: None)
    monkeypatch.setattr(evacuation, "_restore", restore)
    monkeypatch.setattr(evacuation, "address", lambda ctx, catalog, name: f"addr-{name}")
    ctx = Context(root)

    rows = evacuation.evacuate_from_backup(ctx, "web1", lambda line: None)
    assert [(r["account"], r["ok"]) for r in rows] == [
        ("alice", True), ("bob", False), ("carol", True)]  # fmt: skip
    assert "rsync failed" in rows[1]["error"]
    servers = {n: a.server for n, a in ctx.catalog().accounts.items()}
    assert servers["bob"] == "web1" and "web1" not in (servers["alice"], servers["carol"])
    pending = open_move(ctx.engine, "bob")
    assert pending is not None and pending.source == "web1"
    first = list(restored)

    failing.clear()
    rows = evacuation.evacuate_from_backup(ctx, "web1", lambda line: None)
    assert [(r["account"], r["ok"], r["to"]) for r in rows] == [("bob", True, pending.target)]
    assert restored == [*first, ("bob", pending.target)]
    accounts = ctx.catalog().accounts
    assert {n: accounts[n].server for n in accounts} == {**servers, "bob": pending.target}
    assert all(open_move(ctx.engine, n) is None for n in accounts)
    assert ctx.catalog().servers["web1"].state.value == "down"
