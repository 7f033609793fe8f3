"""The `backup` server role in the catalog: never a home for accounts, its schedule and
retention (nightly, 7/4/6 unless set), and which backup server each web server pushes to."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from glue.backup.borg import BorgError
from glue.backup.topology import backup_target
from glue.catalog import check_references, load_catalog
from glue.errors import BubbleError
from glue.models import BackupPolicy, Retention, Server
from glue.services import backups
from glue.services.context import Context
from tests.support.cli import CliResult, server_args
from tests.support.models import account, catalog, server

Bubble = Callable[..., CliResult]
BACKUP_SERVER = (*server_args("8GiB", "500GiB"), "--role", "backup")


def test_placement_never_puts_an_account_on_a_backup_server(bubble: Bubble, root: Path) -> None:
    code, _, err = bubble("server", "add", "bak1", *BACKUP_SERVER)
    assert code == 0, err
    code, out, err = bubble("account", "create", "alice", "--domain", "alice.example")
    assert code != 0 and "no server can take the account" in err, (out, err)
    code, _, err = bubble("server", "add", "web1", *server_args("8GiB", "100GiB"))
    assert code == 0, err
    code, out, err = bubble("account", "create", "alice", "--domain", "alice.example", "--json")
    assert code == 0, err
    assert json.loads(out)["server"] == "web1"
    code, out, _ = bubble("server", "list", "--json")
    assert {r["name"]: r["role"] for r in json.loads(out)} == {"bak1": "backup", "web1": "web"}


def test_the_policy_defaults_to_nightly_7_4_6_and_refuses_a_schedule_that_is_not_one() -> None:
    policy = BackupPolicy()
    assert (policy.schedule, policy.keep) == ("daily", Retention(daily=7, weekly=4, monthly=6))
    for bad in ("daily\nExecStart=/bin/sh", "$(reboot)", ""):
        with pytest.raises(ValueError, match="schedule"):
            BackupPolicy(schedule=bad)
    with pytest.raises(ValueError, match="keeps no archive"):
        Retention(daily=0, weekly=0, monthly=0)
    with pytest.raises(ValueError, match="only a server with role backup"):
        server(backup={"schedule": "daily"})


def test_an_account_on_a_backup_server_and_a_backup_to_a_web_server_are_refused() -> None:
    cat = catalog(
        servers={"bak1": server(role="backup"), "web1": server(backup_to="web2"),
                 "web2": server(backup_to="nope")},
        accounts={"alice": account("bak1")},
    )  # fmt: skip
    problems = "\n".join(check_references(cat))
    assert "alice.yml: server: 'bak1' is a backup server" in problems
    assert "servers.web1.backup_to: 'web2' is not a server with role backup" in problems
    assert "servers.web2.backup_to: 'nope' is not a server with role backup" in problems


def test_each_web_server_pushes_to_its_named_or_only_backup_server() -> None:
    web = server()
    one = catalog(servers={"bak1": server(role="backup"), "web1": web}, accounts={})
    assert backup_target(one, "web1") == "bak1"
    assert backup_target(catalog(servers={"web1": web}, accounts={}), "web1") is None
    two = catalog(
        servers={"bak1": server(role="backup"), "bak2": server(role="backup"), "web1": web,
                 "web2": server(backup_to="bak2")},
        accounts={},
    )  # fmt: skip
    assert backup_target(two, "web2") == "bak2"
    with pytest.raises(BubbleError, match=r"web1: 2 backup servers .* set backup_to"):
        backup_target(two, "web1")


def test_a_backup_server_round_trips_through_servers_yml(bubble: Bubble, root: Path) -> None:
    code, _, err = bubble("server", "add", "bak1", *BACKUP_SERVER)
    assert code == 0, err
    loaded: Server = load_catalog(root).servers["bak1"]
    assert loaded.role.value == "backup" and loaded.backup is None


def test_the_inventory_tells_each_side_where_its_backups_go(bubble: Bubble, root: Path) -> None:
    from glue.render.inventory import render_inventory

    for args in (("bak1", *BACKUP_SERVER), ("web1", *server_args("8GiB", "100GiB"))):
        code, _, err = bubble("server", "add", *args)
        assert code == 0, err
    files = render_inventory(load_catalog(root), {}, dt.date(2026, 12, 1), {})
    hosts = yaml.safe_load(files["hosts.yml"])["all"]["children"]
    assert set(hosts["bubble_servers"]["hosts"]) == {"web1"}  # site.yml's web roles: not bak1
    assert set(hosts["bubble_backup_servers"]["hosts"]) == {"bak1"}
    web = yaml.safe_load(files["host_vars/web1.yml"])["bubble_backup"]
    assert web == {"server": "bak1", "address": web["address"], "user": "borg",
                   "repository": "/srv/borg/web1", "schedule": "daily"}  # fmt: skip
    bak = yaml.safe_load(files["host_vars/bak1.yml"])["bubble_backup"]
    assert bak == {"clients": ["web1"], "repositories": "/srv/borg"}


def test_keys_export_says_where_both_halves_are_and_how_to_keep_them(
    bubble: Bubble, root: Path
) -> None:
    code, _, err = bubble("server", "add", "bak1", *BACKUP_SERVER)
    assert code == 0, err
    code, _, err = bubble("server", "add", "web1", *server_args("8GiB", "100GiB"))
    assert code == 0, err
    code, out, err = bubble("backup", "keys", "export", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["server"] == "web1" and row["exported"] == "false"
    passphrase = Path(row["passphrase"])
    assert passphrase.is_relative_to(root / "state" / "backup")
    assert passphrase.stat().st_mode & 0o777 == 0o600 and len(passphrase.read_text()) > 40
    code, out, _ = bubble("backup", "keys", "export")
    assert "Keep a copy of BOTH files" in out and passphrase.read_text().strip() not in out
    code, _, err = bubble("backup", "run", "--server", "bak1")
    assert code != 0 and "'bak1' is a backup server" in err


class Repository:
    """A repository whose backup server answers, or not (`init` then fails as borg does)."""

    def __init__(self, reachable: bool) -> None:
        self.reachable = reachable

    def init(self, repokey: Path) -> bool:
        if not self.reachable:
            raise BorgError("borg init of ssh://borg@bak1/srv/borg/web1: Connection refused")
        return False


def test_a_backup_server_out_of_reach_fails_its_web_server_and_the_others_go_on(
    bubble: Bubble, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, args in (("bak1", BACKUP_SERVER), ("web1", server_args("8GiB", "100GiB")),
                       ("web2", server_args("8GiB", "100GiB"))):  # fmt: skip
        assert bubble("server", "add", name, *args)[0] == 0
    for name, web in (("alice", "web1"), ("bob", "web2")):
        code, _, err = bubble("account", "create", name, "--domain", f"{name}.example",
                              "--server", web)  # fmt: skip
        assert code == 0, err
    ran: list[str] = []

    def unit(ctx: Context, catalog: object, web: str, which: str) -> list[dict[str, object]]:
        ran.append(web)
        return [{"account": "bob", "ok": True, "archive": "bob-2026-12-03T12:00"}]

    monkeypatch.setattr(backups, "repository", lambda ctx, c, web: Repository(web == "web2"))
    monkeypatch.setattr(backups, "_run_unit", unit)
    results = backups.run(Context(root=root))
    assert ran == ["web2"]
    assert results == [
        {"server": "web1", "account": "all", "ok": False,
         "error": "web1: borg init of ssh://borg@bak1/srv/borg/web1: Connection refused"},
        {"server": "web2", "account": "bob", "ok": True, "archive": "bob-2026-12-03T12:00"},
    ]  # fmt: skip
