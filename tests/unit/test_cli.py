"""The `bubble` CLI end to end, in-process (CliRunner), on a fresh root."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import CliResult, invoke

Bubble = Callable[..., CliResult]


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in (root / "catalog").rglob("*.yml")}


def test_init_makes_a_working_root(tmp_path: Path) -> None:
    result = invoke("init", str(tmp_path / "new"))
    assert result.exit_code == 0, result.stderr
    result = invoke("validate", root=tmp_path / "new")
    assert "1 plans, 0 servers, 0 accounts" in result.stdout
    again = invoke("init", str(tmp_path / "new"))
    assert again.exit_code == 1 and "already has a catalog" in again.stderr


@pytest.mark.usefixtures("two_servers")
def test_accounts_land_on_the_least_loaded_server(bubble: Bubble) -> None:
    placed = []
    for name in ("a1", "a2", "a3", "a4"):
        code, out, err = bubble("account", "create", name, "--domain", f"{name}.example")
        assert code == 0, err
        placed.append(out.split(" on ")[1].split(":")[0])
    assert placed == ["web1", "web2", "web1", "web2"]
    code, out, _ = bubble("server", "list", "--json")
    servers = {s["name"]: s for s in json.loads(out)}
    assert servers["web1"]["accounts"] == servers["web2"]["accounts"] == 2
    assert servers["web1"]["state"] == "active" and servers["web1"]["address"] == "198.18.0.11"


@pytest.mark.usefixtures("two_servers")
def test_drained_server_gets_no_new_accounts(bubble: Bubble) -> None:
    assert bubble("server", "drain", "web1")[0] == 0
    for name in ("b1", "b2"):
        _, out, _ = bubble("account", "create", name, "--domain", f"{name}.example")
        assert " on web2:" in out
    bubble("server", "drain", "web2")
    code, _, err = bubble("account", "create", "b3", "--domain", "b3.example")
    assert code == 1
    assert err.strip() == (
        "error: no server can take the account: web1 is draining; web2 is draining"
    )


@pytest.mark.usefixtures("two_servers")
def test_account_show_json_contract(bubble: Bubble) -> None:
    bubble("account", "create", "alice", "--domain", "alice.example", "--server", "web2")
    code, out, _ = bubble("account", "show", "alice", "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["name"], data["server"], data["plan"], data["elastic"]) == (
        "alice",
        "web2",
        "base",
        False,
    )
    for key in ("base", "in_force"):
        assert data[key]["cpu_mhz"] == 1000
        assert data[key]["memory_mib"] == 2048
        assert data[key]["disk_mib"] == 30720


@pytest.mark.usefixtures("two_servers")
def test_plan_change_is_followed_unless_overridden(bubble: Bubble) -> None:
    bubble("account", "create", "alice", "--domain", "alice.example")
    bubble("account", "create", "bob", "--domain", "bob.example")
    assert bubble("account", "set", "bob", "--memory", "6GiB")[0] == 0
    code, out, _ = bubble("plan", "set", "base", "--cpu", "1500MHz", "--memory", "3GiB", "--yes")
    assert code == 0 and "1 account(s) follow it" in out
    alice = json.loads(bubble("account", "show", "alice", "--json")[1])["base"]
    bob = json.loads(bubble("account", "show", "bob", "--json")[1])["base"]
    assert (alice["cpu_mhz"], alice["memory_mib"]) == (1500, 3072)
    assert (bob["cpu_mhz"], bob["memory_mib"]) == (1500, 6144)
    bubble("account", "set", "bob", "--clear")
    bob = json.loads(bubble("account", "show", "bob", "--json")[1])["base"]
    assert bob["memory_mib"] == 3072


@pytest.mark.usefixtures("two_servers")
def test_wallet_credit_upgrade_and_refusal(bubble: Bubble, root: Path) -> None:
    bubble("account", "create", "alice", "--domain", "alice.example")
    assert bubble("wallet", "credit", "alice", "70.00", "--key", "pay-1", "--note", "bank")[0] == 0
    assert bubble("wallet", "credit", "alice", "70.00", "--key", "pay-1")[0] == 0
    code, out, _ = bubble("account", "upgrade", "alice", "--cpu", "+1GHz")
    assert code == 0 and "fee 60.00, balance 10.00" in out
    before = snapshot(root)
    code, _, err = bubble("account", "upgrade", "alice", "--disk", "+10GiB", "--memory", "+1GiB")
    assert code == 1 and err.strip() == "error: alice: balance 10.00 does not cover 36.00"
    assert snapshot(root) == before
    wallet = json.loads(bubble("wallet", "show", "alice", "--json")[1])
    assert wallet["balance"] == "10.00"
    first = wallet["entries"][0]
    assert (first["amount"], first["kind"], first["key"]) == (
        "70.00",
        "credit",
        "pay-1",
    )
    assert [e["kind"] for e in wallet["entries"]] == ["credit", "upgrade"]
    assert all("at" in e for e in wallet["entries"])
    data = json.loads(bubble("account", "show", "alice", "--json")[1])
    assert data["base"]["cpu_mhz"] == 2000


@pytest.mark.usefixtures("two_servers")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("wallet", "credit", "alice", "--", "-5"), "error: '-5' must not be negative"),
        (("wallet", "credit", "alice", "1.234"), "error: '1.234' is not an amount of money"),
        (("wallet", "credit", "ghost", "5"), "error: unknown account 'ghost'"),
        (
            ("account", "create", "x", "--domain", "a.example", "--plan", "gold"),
            "unknown plan 'gold'",
        ),
        (
            ("account", "create", "x", "--domain", "a.example", "--server", "web9"),
            "unknown server 'web9'",
        ),
        (("account", "create", "alice", "--domain", "b.example"), "account 'alice' already exists"),
        (
            ("account", "create", "x", "--domain", "alice.example"),
            "'alice.example' already belongs",
        ),
        (("account", "create", "x", "--domain", "a b"), "'a b' is not a valid domain name"),
        (("account", "create", "../x", "--domain", "x.example"), "is not a valid account name"),
        (("account", "set", "alice", "--cpu", "fast"), "'fast' is not a CPU clock"),
        (("account", "upgrade", "alice", "--cpu", "+700MHz"), "upgrades come in steps of 1GHz"),
        (
            (
                "server",
                "add",
                "web1",
                "--provider",
                "lab",
                "--cores",
                "1",
                "--core-ghz",
                "2",
                "--memory",
                "1GiB",
                "--disk",
                "1GiB",
            ),
            "server 'web1' already exists",
        ),
        (
            (
                "server",
                "add",
                "Web3",
                "--provider",
                "lab",
                "--cores",
                "1",
                "--core-ghz",
                "2",
                "--memory",
                "1GiB",
                "--disk",
                "1GiB",
            ),
            "'Web3' is not a valid server name",
        ),
        (("server", "remove", "web1", "--yes"), "server 'web1' still hosts 1 account(s): alice"),
        (("plan", "set", "base", "--disk", "-1GiB"), "is not a size"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    bubble: Bubble, root: Path, args: tuple[str, ...], message: str
) -> None:
    bubble("account", "create", "alice", "--domain", "alice.example", "--server", "web1")
    before = snapshot(root)
    code, _, err = bubble(*args)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert snapshot(root) == before
    assert json.loads(bubble("wallet", "show", "alice", "--json")[1])["entries"] == []


def test_invalid_catalog_blocks_every_write(bubble: Bubble, root: Path) -> None:
    (root / "catalog" / "servers.yml").write_text("servers:\n  web1: {provider: moon}\n")
    before = snapshot(root)
    code, _, err = bubble("plan", "set", "base", "--cpu", "2GHz")
    assert code == 1 and "catalog/servers.yml: servers.web1.provider" in err
    assert snapshot(root) == before


@pytest.mark.usefixtures("two_servers")
def test_render_and_delete(bubble: Bubble, root: Path) -> None:
    bubble("account", "create", "alice", "--domain", "alice.example")
    assert bubble("render")[0] == 0
    host_vars = (root / "inventory/generated/host_vars/web1.yml").read_text()
    assert "alice:" in host_vars and "cpu_quota_percent: 50" in host_vars
    assert "up to date" in bubble("render")[1]
    assert bubble("account", "delete", "alice")[0] == 0
    bubble("render")  # catalog only: the removal waits for a converge of web1
    host_vars = (root / "inventory/generated/host_vars/web1.yml").read_text()
    assert 'alice:\n    state: "absent"\n    purge: false' in host_vars


@pytest.mark.usefixtures("two_servers")
def test_elastic_switch(bubble: Bubble) -> None:
    bubble("account", "create", "alice", "--domain", "alice.example")
    assert bubble("account", "elastic", "alice", "on")[0] == 0
    assert json.loads(bubble("account", "show", "alice", "--json")[1])["elastic"] is True
    assert bubble("account", "elastic", "alice", "maybe")[0] != 0


@pytest.mark.usefixtures("two_servers")
def test_elastic_with_a_daily_spend_cap(bubble: Bubble, root: Path) -> None:
    from glue.catalog import load_catalog

    bubble("account", "create", "alice", "--domain", "alice.example")
    code, out, _ = bubble("account", "elastic", "alice", "on", "--max-daily", "5.05", "--json")
    assert code == 0 and json.loads(out)["max_daily"] == "5.05"
    assert load_catalog(root).accounts["alice"].max_daily == 505
    bubble("account", "elastic", "alice", "off")  # the cap stays unless it is changed
    assert load_catalog(root).accounts["alice"].max_daily == 505
    before = snapshot(root)
    code, _, err = bubble("account", "elastic", "alice", "on", "--max-daily", "lots")
    assert code == 2 and "--max-daily" in err and snapshot(root) == before
    bubble("account", "elastic", "alice", "on", "--max-daily", "none")
    assert load_catalog(root).accounts["alice"].max_daily is None


@pytest.mark.usefixtures("two_servers")
def test_suspend_and_resume(bubble: Bubble, root: Path) -> None:
    bubble("account", "create", "alice", "--domain", "alice.example")
    assert bubble("account", "suspend", "alice")[0] == 0
    assert json.loads(bubble("account", "show", "alice", "--json")[1])["state"] == "suspended"
    bubble("render")
    assert "suspended: true" in (root / "inventory/generated/host_vars/web1.yml").read_text()
    assert bubble("account", "resume", "alice")[0] == 0
    assert json.loads(bubble("account", "show", "alice", "--json")[1])["state"] == "active"
