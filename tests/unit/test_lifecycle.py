"""An account's life in the catalog: re-runs finish the job, deletion is a state until the
server confirms it, and a change for a server that is not there says so at once."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from glue.services.accounts import finish_removals
from glue.services.context import Context
from glue.state.limits_store import boosts_by_account
from tests.support.cli import CliResult, invoke

Bubble = Callable[..., CliResult]
CREATE = (
    "account",
    "create",
    "alice",
    "--domain",
    "alice.example",
    "--domain",
    "www.alice.example",
)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in (root / "catalog").rglob("*.yml")}


def show(bubble: Bubble, name: str) -> dict[str, object]:
    code, out, err = bubble("account", "show", name, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


@pytest.mark.usefixtures("two_servers")
def test_create_again_with_the_same_arguments_carries_the_account_again(bubble: Bubble) -> None:
    code, out, err = bubble(*CREATE)
    assert code == 0, err
    code, out, err = bubble(*CREATE)
    assert code == 0, err
    assert out.strip() == "account alice: already in the catalog on web1, as asked"
    code, out, err = bubble(*CREATE, "--server", "web1", "--plan", "base")
    assert code == 0, err


@pytest.mark.usefixtures("two_servers")
def test_create_again_with_other_arguments_says_what_differs(bubble: Bubble, root: Path) -> None:
    assert bubble(*CREATE)[0] == 0
    before = snapshot(root)
    code, out, err = bubble(
        "account", "create", "alice", "--domain", "alice.example", "--server", "web2",
        "--email", "a@alice.example",
    )  # fmt: skip
    assert code == 1 and out == ""
    assert err.strip() == (
        "error: account 'alice' already exists on web1 with other settings: "
        "domains alice.example www.alice.example (asked: alice.example); "
        "email none (asked: a@alice.example); server web1 (asked: web2)"
    )
    assert snapshot(root) == before


@pytest.mark.usefixtures("two_servers")
def test_delete_is_a_state_until_the_server_confirms(bubble: Bubble, root: Path) -> None:
    assert bubble(*CREATE)[0] == 0
    code, out, err = bubble("account", "delete", "alice", "--purge", "--yes")
    assert code == 0, err
    assert "removal recorded in the catalog (purging)" in out
    assert show(bubble, "alice")["state"] == "purging"
    assert "state: purging" in (root / "catalog/accounts/alice.yml").read_text()
    code, out, err = bubble("account", "delete", "alice")  # the latest wish wins
    assert code == 0 and show(bubble, "alice")["state"] == "removing"
    listed = json.loads(bubble("account", "list", "--json")[1])
    assert [(r["name"], r["state"]) for r in listed] == [("alice", "removing")]


@pytest.mark.usefixtures("two_servers")
def test_a_removing_account_keeps_its_domains_and_nothing_else(bubble: Bubble, root: Path) -> None:
    assert bubble(*CREATE)[0] == 0
    assert bubble("account", "delete", "alice")[0] == 0
    before = snapshot(root)
    code, _, err = bubble("account", "create", "bob", "--domain", "www.alice.example")
    assert code == 1
    assert err.strip() == (
        "error: catalog/accounts/bob.yml: domains: 'www.alice.example' already belongs to "
        "account 'alice' (being removed: `bubble apply` finishes that)"
    )
    refused = "error: account 'alice' is being removed (`bubble account delete alice` or "
    for command in (
        ("account", "resume", "alice"),
        ("account", "set", "alice", "--cpu", "2GHz"),
        ("account", "elastic", "alice", "on"),
        ("account", "create", "alice", "--domain", "alice.example"),
    ):
        code, _, err = bubble(*command)
        assert code == 1, command
        assert err.startswith(refused) or "is being removed; create it again" in err, err
    assert snapshot(root) == before


@pytest.mark.usefixtures("two_servers")
def test_placement_does_not_count_removing_accounts(bubble: Bubble) -> None:
    for name in ("a1", "a2", "a3"):  # web1, web2, web1
        assert bubble("account", "create", name, "--domain", f"{name}.example")[0] == 0
    assert bubble("account", "delete", "a1")[0] == 0
    assert bubble("account", "delete", "a3")[0] == 0
    code, out, _ = bubble("account", "create", "a4", "--domain", "a4.example")
    assert code == 0 and out.startswith("created account a4 on web1: web1 has the fewest accounts")
    servers = json.loads(bubble("server", "list", "--json")[1])
    assert {s["name"]: s["accounts"] for s in servers} == {"web1": 1, "web2": 1}


@pytest.mark.usefixtures("two_servers")
def test_finishing_a_removal_frees_the_name_and_the_domains(bubble: Bubble, root: Path) -> None:
    assert bubble(*CREATE)[0] == 0
    assert (
        bubble("account", "create", "carol", "--domain", "carol.example", "--server", "web1")[0]
        == 0
    )
    assert bubble("account", "delete", "alice")[0] == 0
    ctx = Context(root=root)
    from glue.state.limits_store import set_boost

    set_boost(ctx.engine, "alice", "cpu", 1500, dt.datetime.now(dt.UTC))
    catalog = ctx.catalog()  # what a converge of web1 was rendered from
    assert bubble("account", "delete", "carol")[0] == 0  # asked for after that render
    reported: list[str] = []
    assert finish_removals(ctx, catalog, ["web2"], reported.append) == []
    assert finish_removals(ctx, catalog, ["web1"], reported.append) == ["alice"]
    assert reported == ["web1: account alice removed"]
    assert not (root / "catalog/accounts/alice.yml").exists()
    assert show(bubble, "carol")["state"] == "removing"  # not part of that converge
    assert "alice" not in boosts_by_account(ctx.engine)
    host_vars = (root / "inventory/generated/host_vars/web1.yml").read_text()
    assert "alice" not in host_vars and 'carol:\n    state: "absent"' in host_vars
    code, _, err = bubble("account", "create", "bob", "--domain", "www.alice.example")
    assert code == 0, err


def applying(root: Path) -> Bubble:
    """The CLI with BUBBLE_APPLY=1: changes go to the servers at once."""

    def run(*args: str) -> CliResult:
        result = invoke(*args, root=root, env={"BUBBLE_APPLY": "1"})
        return result.exit_code, result.stdout, result.stderr

    return run


def test_changes_for_a_server_never_built_say_so_at_once(bubble: Bubble, root: Path) -> None:
    for name, address in (("cloud1", None), ("cloud2", "127.0.0.1")):  # nothing listens there
        extra = ("--address", address) if address else ()
        code, _, err = bubble(
            "server", "add", name, "--provider", "hcloud", "--type", "cx22", "--region", "fsn1",
            "--cores", "2", "--core-ghz", "2", "--memory", "4GiB", "--disk", "40GiB", *extra,
        )  # fmt: skip
        assert code == 0, err
    now = applying(root)
    started = time.monotonic()
    for server in ("cloud1", "cloud2"):
        name = f"a{server[-1]}"
        code, out, err = now("account", "create", name, "--domain", f"{name}.example",
                             "--server", server)  # fmt: skip
        assert code == 0, err
        pending = (
            f"server {server} is not built yet: the change waits in the catalog; run `bubble apply`"
        )
        assert out.splitlines()[-1] == pending
        code, out, err = now("account", "set", name, "--memory", "3GiB")
        assert (code, err) == (0, "")
        assert out.splitlines() == [f"account {name}: overrides set in the catalog", pending]
        code, out, _ = now("account", "suspend", name)
        assert out.splitlines() == [f"account {name} is now suspended in the catalog", pending]
        assert show(bubble, name)["state"] == "suspended"
    code, out, _ = now("account", "delete", "a1")  # no address: no bubble can exist
    assert code == 0 and out.strip() == (
        "deleted account a1 (its server was never built: nothing to remove there)"
    )
    assert not (root / "catalog/accounts/a1.yml").exists()
    code, out, _ = now("account", "delete", "a2")  # an address: only a converge can tell
    assert code == 0 and out.splitlines()[-1].startswith("server cloud2 is not built yet")
    assert show(bubble, "a2")["state"] == "removing"
    assert time.monotonic() - started < 30


def test_a_built_server_that_does_not_answer_exits_3(bubble: Bubble, root: Path) -> None:
    code, _, err = bubble(
        "server", "add", "cloud2", "--provider", "hcloud", "--type", "cx22", "--region", "fsn1",
        "--cores", "2", "--core-ghz", "2", "--memory", "4GiB", "--disk", "40GiB",
        "--address", "127.0.0.1",
    )  # fmt: skip
    assert code == 0, err
    # Terraform's state says the server exists (the stack's `servers` output).
    state = root / "state/terraform/hcloud/terraform.tfstate"
    state.parent.mkdir(parents=True)
    outputs = {"servers": {"value": {"cloud2": {"address": "127.0.0.1"}}}}
    state.write_text(json.dumps({"version": 4, "outputs": outputs}))
    code, out, err = applying(root)("account", "create", "a2", "--domain", "a2.example")
    assert code == 3, err
    last = out.splitlines()[-1]
    assert last.startswith("server cloud2 does not answer (ssh: ")
    assert last.endswith("the change waits in the catalog; run `bubble apply` when it is back")
    assert show(bubble, "a2")["server"] == "cloud2"
