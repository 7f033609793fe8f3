"""`bubble apply` plans before it applies, with the real terraform binary and the real lab
stack: what each server would undergo is shown, a plan that destroys or replaces a server
still holding accounts is refused with nothing applied, and a destructive plan is asked about.

The lab stack's `bubble_command` is a recorder here (booting lab servers needs root and
systemd-nspawn: tests/lab/test_apply_safety_lab.py does it for real), so the recorded calls are
exactly the servers Terraform created or destroyed.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from glue.errors import BubbleError
from glue.services.apply import apply
from glue.services.context import Context
from glue.services.fleet_plan import (
    FleetPlan,
    apply_stack,
    destroy_stack,
    other_losses,
    plan_servers,
    server_actions,
    terraform_for,
)
from glue.services.root import init_root, render_current
from glue.state.addresses import recorded_addresses
from glue.terraform import Terraform
from tests.support.cli import invoke

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform binary not installed"),
]

SERVER = ("--provider", "lab", "--cores", "2", "--core-ghz", "2", "--memory", "4GiB",
          "--disk", "80GiB")  # fmt: skip
REFUSED = (
    "refusing to replace server web1, which holds 1 account(s) (alice): nothing applied "
    "(move or delete its accounts first, or undo the catalog change)"
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BUBBLE_DATABASE_URL", raising=False)
    return init_root(tmp_path / "ops")


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[list[str]]]:
    """Point the lab stack at a recorder; return a reader of the calls it got."""
    record = tmp_path / "calls.jsonl"
    recorder = (
        f"import json, sys; open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:3]) + chr(10))"
    )
    monkeypatch.setattr(
        "glue.providers.lab.provider.bubble_command", lambda: [sys.executable, "-c", recorder]
    )

    def calls() -> list[list[str]]:
        return (
            [json.loads(line) for line in record.read_text().splitlines()]
            if record.exists()
            else []
        )

    return calls


def bubble(root: Path, *args: str) -> tuple[int, str, str]:
    result = invoke(*args, root=root, env={"BUBBLE_APPLY": "0"})
    return result.exit_code, result.stdout, result.stderr


def errors(stderr: str) -> list[str]:
    """stderr without the progress lines ("- terraform lab: plan")."""
    return [line for line in stderr.splitlines() if not line.startswith("- ")]


def plan(root: Path) -> FleetPlan:
    return plan_servers(Context(root=root), lambda _: None)


def apply_terraform(root: Path, fleet: FleetPlan) -> None:
    """The Terraform half of `apply` (the rest needs the lab's bridge and ssh)."""
    for stack in fleet.stacks:
        terraform_for(Context(root=root), stack.provider).apply(stack.file)


def set_disk(root: Path, server: str, disk: str) -> None:
    path = root / "catalog" / "servers.yml"
    text = path.read_text()
    assert "disk: 80GiB" in text
    path.write_text(text.replace("disk: 80GiB", f"disk: {disk}"))


def leftover_plans(root: Path) -> list[Path]:
    return list((root / "state" / "terraform").glob("plan-*"))


def test_replacing_a_server_with_accounts_is_refused_before_anything_is_applied(
    root: Path, recorded: Callable[[], list[list[str]]]
) -> None:
    assert bubble(root, "server", "add", "web1", *SERVER)[0] == 0
    assert bubble(root, "account", "create", "alice", "--domain", "alice.example")[0] == 0
    with plan(root) as fleet:
        assert fleet.summary() == ["terraform lab: create web1"]
        assert fleet.destroyed == []
        apply_terraform(root, fleet)
    assert recorded() == [["lab", "server-create"]]
    assert leftover_plans(root) == []
    state = terraform_for(Context(root=root), "lab").state_file.read_text()

    # A bigger disk means a new lab server: alice's files would go with the old one.
    set_disk(root, "web1", "100GiB")
    with pytest.raises(BubbleError) as caught:
        plan(root)
    assert str(caught.value) == REFUSED
    code, _, err = bubble(root, "apply", "--yes")
    assert code == 1
    assert errors(err) == [f"error: {REFUSED}"]
    assert recorded() == [["lab", "server-create"]]
    assert terraform_for(Context(root=root), "lab").state_file.read_text() == state
    assert leftover_plans(root) == []


def test_an_account_placed_between_plan_and_apply_stops_the_apply(
    root: Path, recorded: Callable[[], list[list[str]]]
) -> None:
    bubble(root, "server", "add", "web1", *SERVER)
    with plan(root) as fleet:
        apply_terraform(root, fleet)
    set_disk(root, "web1", "100GiB")
    with plan(root) as fleet:
        assert fleet.summary() == ["terraform lab: replace web1"]
        assert fleet.destroyed == ["web1"]
        bubble(root, "account", "create", "alice", "--domain", "alice.example")
        with pytest.raises(BubbleError) as caught:
            apply(Context(root=root), fleet, lambda _: None)
    assert str(caught.value) == REFUSED
    assert recorded() == [["lab", "server-create"]]


def test_a_plan_that_destroys_is_asked_about_and_refused_without_a_terminal(
    root: Path, recorded: Callable[[], list[list[str]]]
) -> None:
    for name in ("web1", "web2"):
        bubble(root, "server", "add", name, *SERVER)
    with plan(root) as fleet:
        apply_terraform(root, fleet)
    assert bubble(root, "server", "remove", "web2", "--yes")[0] == 0
    with plan(root) as fleet:
        assert fleet.summary() == ["terraform lab: destroy web2"]
    # CliRunner's stdin is no terminal: without --yes the command says so and applies nothing.
    code, out, err = bubble(root, "apply")
    assert code == 1
    assert "terraform lab: destroy web2" in out
    assert errors(err) == [
        "error: this would destroy or replace server(s) web2: pass --yes to confirm "
        "(no terminal to ask on)"
    ]
    assert recorded() == [["lab", "server-create"], ["lab", "server-create"]]
    assert terraform_for(Context(root=root), "lab").output()["servers"].keys() == {"web1", "web2"}
    assert leftover_plans(root) == []


def test_applied_addresses_are_recorded_in_the_state_db_not_the_catalog(
    root: Path, recorded: Callable[[], list[list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each stack reports goes to the state DB; catalog/servers.yml stays as people wrote
    it and the inventory reads the address from there (the bridge and image: not needed)."""
    monkeypatch.setattr("glue.providers.lab.provider.up", lambda: None)
    bubble(root, "server", "add", "web1", *SERVER)
    servers_yml = (root / "catalog" / "servers.yml").read_text()
    ctx = Context(root=root)
    lines: list[str] = []
    with plan(root) as fleet:
        for stack in fleet.stacks:
            apply_stack(ctx, stack, lines.append)
    assert lines == ["lab: bridge and image ready", "terraform lab: apply"]
    assert recorded() == [["lab", "server-create"]]
    assert recorded_addresses(ctx.engine) == {"web1": "198.18.0.11"}
    assert (root / "catalog" / "servers.yml").read_text() == servers_yml
    render_current(ctx)
    hosts = (root / "inventory" / "generated" / "hosts.yml").read_text()
    assert 'ansible_host: "198.18.0.11"' in hosts

    # Destroyed servers' addresses go with them.
    assert destroy_stack(ctx, "lab", lines.append)
    assert recorded()[-1] == ["lab", "server-destroy"]
    assert recorded_addresses(ctx.engine) == {}


# A stack shaped like the cloud ones: per-server resources keyed by name, shared ones not.
CLOUDLIKE = """
variable "servers" {
  type = map(object({ disk = number, tag = string }))
}

variable "firewall" {
  type = string
}

resource "terraform_data" "server" {
  for_each         = var.servers
  triggers_replace = each.value.disk
  input            = each.value.tag
}

resource "terraform_data" "volume" {
  for_each = var.servers
  input    = each.value.disk
}

resource "terraform_data" "firewall" {
  triggers_replace = var.firewall
}
"""


def test_a_plan_is_read_per_server_and_the_worst_action_wins(tmp_path: Path) -> None:
    stack = tmp_path / "cloudlike"
    stack.mkdir()
    (stack / "main.tf").write_text(CLOUDLIKE)
    tf = Terraform(stack, tmp_path / "state")
    tf.init()
    saved = tmp_path / "plan.tfplan"

    def planned(servers: dict[str, dict[str, object]], firewall: str) -> dict[str, object]:
        tf.plan(None, {"servers": servers, "firewall": firewall}, out=saved)
        return tf.show(saved)

    first = {"a": {"disk": 10, "tag": "x"}, "b": {"disk": 10, "tag": "x"}}
    shown = planned(first, "v1")
    assert server_actions(shown) == {"a": "create", "b": "create"}
    assert other_losses(shown) == {}
    tf.apply(saved)

    # a: a new tag (update) and a new disk size on its volume (update) -> update;
    # b: a new disk -> its server is replaced (the volume only updated): replace wins;
    # c: new; the shared firewall is replaced.
    second = {"a": {"disk": 10, "tag": "y"}, "b": {"disk": 20, "tag": "x"},
              "c": {"disk": 10, "tag": "x"}}  # fmt: skip
    shown = planned(second, "v2")
    assert server_actions(shown) == {"a": "update", "b": "replace", "c": "create"}
    assert other_losses(shown) == {"terraform_data.firewall": "replace"}
    tf.apply(saved)

    shown = planned({"c": second["c"]}, "v2")
    assert server_actions(shown) == {"a": "destroy", "b": "destroy"}
    assert other_losses(shown) == {}
