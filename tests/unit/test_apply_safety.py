"""Destructive commands ask first (`--yes` for scripts, a refusal without a terminal), and the
toolkit version that decides which servers get the full converge."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from glue.paths import TOOLKIT_DIR
from glue.services.converge import TOOLKIT_PARTS, toolkit_version
from tests.support.cli import CliResult, start

Bubble = Callable[..., CliResult]
NO_TERMINAL = "pass --yes to confirm (no terminal to ask on)"


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in (root / "catalog").rglob("*.yml")}


def refused(result: CliResult, what: str) -> None:
    code, _, err = result
    assert code == 1
    assert err == f"error: this would {what}: {NO_TERMINAL}\n"


@pytest.mark.usefixtures("two_servers")
def test_server_remove_asks_first(bubble: Bubble, root: Path) -> None:
    before = snapshot(root)
    refused(
        bubble("server", "remove", "web2"),
        "remove server web2 (the next `bubble apply` destroys it)",
    )
    assert snapshot(root) == before
    code, out, _ = bubble("server", "remove", "web2", "--yes")
    assert code == 0 and "removed server web2" in out
    assert "web2" not in (root / "catalog" / "servers.yml").read_text()


@pytest.mark.usefixtures("two_servers")
def test_plan_set_asks_when_it_changes_accounts_and_says_how_many(
    bubble: Bubble, root: Path
) -> None:
    for name in ("alice", "bob", "carol"):
        bubble("account", "create", name, "--domain", f"{name}.example")
    bubble("account", "set", "carol", "--memory", "6GiB")
    before = snapshot(root)
    # carol's memory is her own: only alice and bob change.
    refused(
        bubble("plan", "set", "base", "--memory", "3GiB"),
        "change the limits of 2 account(s) on plan base",
    )
    assert snapshot(root) == before
    # Bad input is reported as such, never as a question.
    code, _, err = bubble("plan", "set", "base", "--memory", "lots")
    assert code == 1 and "is not a size" in err and "--yes" not in err
    # A change that moves no account's limits, or a new plan, needs no confirmation.
    assert bubble("plan", "set", "base", "--memory", "2GiB")[0] == 0
    assert (
        bubble("plan", "set", "big", "--cpu", "4GHz", "--memory", "8GiB", "--disk", "1TiB")[0] == 0
    )
    assert bubble("plan", "set", "base", "--memory", "3GiB", "--yes")[0] == 0
    shown = json.loads(bubble("account", "show", "alice", "--json")[1])
    assert shown["base"]["memory_mib"] == 3072


@pytest.mark.usefixtures("two_servers")
def test_account_delete_purge_asks_first(bubble: Bubble, root: Path) -> None:
    bubble("account", "create", "alice", "--domain", "alice.example")
    before = snapshot(root)
    refused(
        bubble("account", "delete", "alice", "--purge"),
        "delete account alice and its files, databases and mail without an archive",
    )
    assert snapshot(root) == before
    assert bubble("account", "delete", "alice", "--purge", "--yes")[0] == 0
    # catalog only here: the removal is recorded, the next converge carries it out
    assert json.loads(bubble("account", "show", "alice", "--json")[1])["state"] == "purging"


def answer(root: Path, args: list[str], reply: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a terminal as stdin (a pty) and type `reply` at its prompt."""
    main, terminal = os.openpty()
    process = start(*args, root=root, env={"BUBBLE_APPLY": "0"}, terminal=terminal)
    os.close(terminal)
    try:
        os.write(main, reply.encode())
        out, err = process.communicate(timeout=60)
    finally:
        os.close(main)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


@pytest.mark.usefixtures("two_servers")
def test_on_a_terminal_the_operator_is_asked(root: Path) -> None:
    before = snapshot(root)
    no = answer(root, ["server", "remove", "web2"], "n\n")
    question = "This will remove server web2 (the next `bubble apply` destroys it). Continue?"
    assert question in no.stdout
    assert no.returncode == 1
    assert no.stderr == (
        "error: cancelled: did not remove server web2 (the next `bubble apply` destroys it)\n"
    )
    assert snapshot(root) == before
    yes = answer(root, ["server", "remove", "web2"], "y\n")
    assert yes.returncode == 0, yes.stderr
    assert "removed server web2" in yes.stdout
    assert "web2" not in (root / "catalog" / "servers.yml").read_text()


def copy_toolkit(target: Path) -> Path:
    for part in TOOLKIT_PARTS:
        source = TOOLKIT_DIR / part
        if source.is_dir():
            shutil.copytree(source, target / part, symlinks=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / part)
    return target


def test_toolkit_version_follows_the_contents_of_what_a_converge_uses(tmp_path: Path) -> None:
    copy = copy_toolkit(tmp_path / "toolkit")
    version = toolkit_version(copy)
    assert len(version) == 16
    # The same files elsewhere, touched, with other files around them: the same version.
    assert version == toolkit_version(TOOLKIT_DIR)
    task = copy / "roles" / "baseline" / "tasks" / "main.yml"
    os.utime(task, (0, 0))
    (copy / "README.md").write_text("not part of a converge\n")
    (copy / "roles" / "__pycache__").mkdir()
    (copy / "roles" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    toolkit_version.cache_clear()
    assert toolkit_version(copy) == version

    # Any change to a role, a playbook, the fleet settings or ansible.cfg is a new version.
    seen = {version}
    for path in (
        task,
        copy / "playbooks" / "site.yml",
        copy / "inventory" / "group_vars" / "all.yml",
        copy / "ansible.cfg",
    ):
        path.write_text(path.read_text() + "# changed\n")
        toolkit_version.cache_clear()
        seen.add(toolkit_version(copy))
    (copy / "roles" / "baseline" / "tasks" / "new.yml").write_text("---\n")
    toolkit_version.cache_clear()
    seen.add(toolkit_version(copy))
    assert len(seen) == 6


def test_toolkit_version_is_computed_once_per_process() -> None:
    toolkit_version.cache_clear()
    first = toolkit_version()
    assert toolkit_version() is first
    assert toolkit_version.cache_info().hits == 1
