"""The converge service with a fake runner that records which servers and accounts each call
touched: one account change touches one server and renders one host_vars file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from glue.ansible import PlaybookResult
from glue.catalog import Catalog, save_account, save_servers
from glue.locks import server_lock
from glue.models import Account, Server
from glue.services.accounts import delete_account, set_overrides
from glue.services.context import Context
from glue.services.converge import (
    Operation,
    Pending,
    converge,
    mark_version,
    toolkit_version,
)
from glue.services.root import render

SERVERS = ("web1", "web2", "web3")


@dataclass
class FakeRunner:
    """Records every call; servers answer as `answers` says (default: ready, converged by
    this toolkit)."""

    not_ready: dict[str, Pending] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    probed: list[str] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)
    plays: list[tuple[str, list[str], dict[str, Any] | None]] = field(default_factory=list)

    def probe(self, name: str, server: Server) -> Pending | None:
        self.probed.append(name)
        return self.not_ready.get(name)

    def converged_version(self, name: str, server: Server, timeout: float) -> str | None:
        return self.versions.get(name, toolkit_version())

    def mark_converged(self, name: str, server: Server, version: str) -> None:
        self.marked.append(name)

    def play(
        self, name: str, servers: dict[str, Server], extra_vars: dict[str, Any] | None
    ) -> PlaybookResult:
        self.plays.append((name, sorted(servers), extra_vars))
        return PlaybookResult(name, {server: {"changed": 2} for server in servers})


@pytest.fixture
def ctx(root: Path) -> Context:
    """Three servers with two accounts each, rendered once."""
    server = {"provider": "lab", "cores": 2, "core_ghz": "2GHz", "memory": "8GiB",
              "disk": "100GiB"}  # fmt: skip
    context = Context(root=root)
    catalog = context.catalog()
    for index, name in enumerate(SERVERS):
        address = {"address": f"198.18.9.{index + 2}"}
        catalog = catalog.with_server(name, Server.model_validate({**server, **address}))
    save_servers(catalog)
    for index in range(6):
        name = f"a{index}"
        account = Account.model_validate(
            {"plan": "base", "server": SERVERS[index % 3], "domains": [f"{name}.example"]}
        )
        catalog = catalog.with_account(name, account)
        save_account(catalog, name)
    render(context, catalog)
    return context


def quiet() -> Callable[[str], None]:
    return lambda _: None


def host_vars(server: str) -> Path:
    return Path("inventory/generated/host_vars") / f"{server}.yml"


def test_one_account_change_touches_one_server_and_one_file(ctx: Context) -> None:
    set_overrides(ctx, "a4", {"memory": "3GiB"}, clear=False)  # a4 lives on web2
    runner = FakeRunner()
    result = converge(ctx, ctx.catalog(), Operation.LIMITS, quiet(), accounts=["a4"],
                      runner=runner)  # fmt: skip
    assert runner.probed == ["web2"]
    assert runner.plays == [("limits.yml", ["web2"], None)]
    assert result.rendered == [host_vars("web2")]  # hosts.yml unchanged, web1/web3 untouched
    assert result.done == ["web2"] and result.changed == {"web2": 2} and not result.pending
    assert "memory_mib: 3072" in (ctx.root / host_vars("web2")).read_text()


def test_servers_not_ready_are_pending_and_the_others_done(ctx: Context) -> None:
    runner = FakeRunner(
        not_ready={"web1": Pending("web1", "down"), "web3": Pending("web3", "silent", "ssh: x")}
    )
    result = converge(ctx, ctx.catalog(), Operation.ACCOUNTS, quiet(), servers=SERVERS,
                      runner=runner)  # fmt: skip
    assert [(p.server, p.why) for p in result.pending] == [("web1", "down"), ("web3", "silent")]
    assert result.done == ["web2"] and result.updated == ["web2"]
    assert runner.plays == [("accounts.yml", ["web2"], None)]
    assert [p.fault for p in result.pending] == [False, True]


def test_site_yml_where_the_server_needs_the_whole_baseline(ctx: Context) -> None:
    runner = FakeRunner(versions={"web1": None, "web2": "0ther-toolkit"})
    result = converge(ctx, ctx.catalog(), Operation.ACCOUNTS, quiet(), servers=SERVERS,
                      runner=runner)  # fmt: skip
    assert (result.created, result.upgraded, result.updated) == (["web1"], ["web2"], ["web3"])
    assert runner.plays == [("site.yml", ["web1", "web2"], None), ("accounts.yml", ["web3"], None)]
    assert runner.marked == ["web1", "web2"]
    full = FakeRunner()
    result = converge(ctx, ctx.catalog(), Operation.FULL, quiet(), servers=["web3"], runner=full)
    assert result.upgraded == ["web3"] and full.plays == [("site.yml", ["web3"], None)]


def test_a_mark_from_before_versions_gets_the_full_converge(ctx: Context) -> None:
    assert mark_version("toolkit: 0123abcd\nconverged_at: 2026-12-01T00:00:00Z\n") == "0123abcd"
    assert mark_version("2026-01-01T00:00:00Z\n") == ""  # written before marks carried one
    assert mark_version("") is None and mark_version("\n") is None
    runner = FakeRunner(versions={"web1": mark_version("2026-01-01T00:00:00Z\n")})
    result = converge(ctx, ctx.catalog(), Operation.ACCOUNTS, quiet(), servers=["web1"],
                      runner=runner)  # fmt: skip
    assert result.upgraded == ["web1"] and runner.plays == [("site.yml", ["web1"], None)]


def test_try_lock_reports_a_busy_server_instead_of_waiting(ctx: Context) -> None:
    runner = FakeRunner()
    with server_lock(ctx.root, "web2"):  # another converger holds web2
        result = converge(ctx, ctx.catalog(), Operation.LIMITS, quiet(), servers=SERVERS,
                          wait=False, runner=runner)  # fmt: skip
    assert [(p.server, p.why) for p in result.pending] == [("web2", "busy")]
    assert str(result.pending[0]).startswith("server web2 is busy (still being changed by pid")
    assert result.done == ["web1", "web3"]
    assert runner.plays == [("limits.yml", ["web1", "web3"], None)]


def test_remove_tells_each_server_only_its_leaving_accounts(ctx: Context) -> None:
    delete_account(ctx, "a1", purge=True)  # web2
    delete_account(ctx, "a2")  # web3
    runner = FakeRunner()
    result = converge(ctx, ctx.catalog(), Operation.REMOVE, quiet(), accounts=["a1", "a2"],
                      runner=runner)  # fmt: skip
    assert runner.plays == [
        ("remove.yml", ["web2"], {"account_targets": {"a1": {"state": "absent", "purge": True}}}),
        ("remove.yml", ["web3"], {"account_targets": {"a2": {"state": "absent", "purge": False}}}),
    ]
    assert result.removed == ["a1", "a2"]
    catalog: Catalog = ctx.catalog()
    assert "a1" not in catalog.accounts and "a2" not in catalog.accounts
    assert "a1" not in (ctx.root / host_vars("web2")).read_text()


def test_an_unknown_server_is_one_clear_error(ctx: Context) -> None:
    from glue.errors import BubbleError

    with pytest.raises(BubbleError, match="unknown server 'web9'"):
        converge(ctx, ctx.catalog(), Operation.LIMITS, quiet(), servers=["web9"],
                 runner=FakeRunner())  # fmt: skip
