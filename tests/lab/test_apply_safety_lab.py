"""`bubble apply` on real lab servers: a server converged by another toolkit gets the full
converge (and `--full` forces it), which changes nothing but what was missing; a plan that
would replace a server holding accounts is refused with the server untouched, and destroying
an empty server is asked about first.

An isolated lab (its own directory, bridge and subnet; servers named ops-*), a fresh operator
root, and only the `bubble` CLI.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from glue.providers import lab
from glue.services.converge import toolkit_version
from tests.support.cli import Bubble, fresh_bubble, server_args
from tests.support.lab_env import isolated_lab, lab_env

pytestmark = pytest.mark.lab

LAB = isolated_lab("ops", 4)
LAB_ENV = lab_env(LAB)
LAB_SERVER = server_args(memory="4GiB", disk="80GiB")
MARK = "/etc/bubblehost/converged"
# Installed by the baseline role (site.yml) and by nothing accounts.yml runs.
BASELINE_FILE = "/etc/logrotate.d/bubblehost"
NO_TERMINAL = "pass --yes to confirm (no terminal to ask on)"


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr without progress lines."""
    return [line for line in done.stderr.splitlines() if not line.startswith("- ")]


def leader(name: str) -> int:
    state = lab.load_state(LAB, name)
    assert state is not None and lab.is_running(state), name
    return state.pid


@pytest.fixture(scope="module")
def bubble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bubble]:
    cli = fresh_bubble(tmp_path_factory, LAB_ENV)
    cli("server", "add", "ops-1", *LAB_SERVER)
    cli("account", "create", "alice", "--domain", "alice.example", "--no-apply")
    out = cli("apply")
    assert "terraform lab: create ops-1" in out
    assert "ops-1: configured from scratch" in out
    try:
        yield cli
    finally:
        cli.run("lab", "down", "--yes")


def test_the_converged_mark_carries_the_toolkit_version(bubble: Bubble) -> None:
    mark = bubble.on_server("ops-1", f"cat {MARK}")
    assert mark.splitlines()[0] == f"toolkit: {toolkit_version()}"
    assert mark.splitlines()[1].startswith("converged_at: ")


# One story on one server, so that each apply proves what the one before it left: every full
# converge below restores the one file removed before it and changes nothing else (so
# site.yml on a converged server is idempotent), and the plain apply after the first of them
# proves the mark it wrote is the current one. (A mark from before marks carried versions is
# read as another version: tests/unit/test_converge_service.py.)
STALE_MARK = "toolkit: 0000000000000000\\nconverged_at: 2026-01-01T00:00:00Z"
FULL_CONVERGE = f"ops-1: full converge to toolkit {toolkit_version()} (1 changes)"


def test_only_another_toolkit_or_full_gets_the_full_converge(bubble: Bubble) -> None:
    bubble.on_server("ops-1", f"printf '{STALE_MARK}\\n' > {MARK}; rm {BASELINE_FILE}")
    assert FULL_CONVERGE in bubble("apply")
    assert bubble.on_server("ops-1", f"test -f {BASELINE_FILE} && head -1 {MARK}") == (
        f"toolkit: {toolkit_version()}\n"
    )

    bubble.on_server("ops-1", f"rm {BASELINE_FILE}")
    out = bubble("apply")
    assert "terraform lab: no changes" in out
    assert "ops-1: up to date (0 changes)" in out
    assert bubble.on_server("ops-1", f"test -f {BASELINE_FILE} || echo missing") == "missing\n"
    assert FULL_CONVERGE in bubble("apply", "--full")
    bubble.on_server("ops-1", f"test -f {BASELINE_FILE}")


GUARDS = ("bubble-btrfs-guard", "bubble-db-guard")
OLD_TIMER = "[Timer]\\nOnUnitActiveSec=5s\\n[Install]\\nWantedBy=timers.target\\n"


def test_a_full_converge_retires_the_guards_old_timers(bubble: Bubble) -> None:
    """Servers set up before the two disk guards became services ran them from timers every
    5 s (a python started each time): the converge stops and removes the timers, and each
    guard is one process that stays."""
    plant = [f"printf '{OLD_TIMER}' > /etc/systemd/system/{g}.timer" for g in GUARDS]
    plant += ["systemctl daemon-reload", "systemctl enable --now " + " ".join(
        f"{g}.timer" for g in GUARDS
    ), f"printf '{STALE_MARK}\\n' > {MARK}"]  # fmt: skip
    bubble.on_server("ops-1", " && ".join(plant))
    assert bubble.on_server("ops-1", "systemctl is-active bubble-db-guard.timer") == "active\n"
    assert "ops-1: full converge" in bubble("apply")
    left = bubble.on_server("ops-1", "ls /etc/systemd/system | grep -c 'guard.timer' || true")
    assert left == "0\n"
    timers = " ".join(f"{g}.timer" for g in GUARDS)
    assert bubble.on_server("ops-1", f"systemctl is-active {timers} || true") == "inactive\n" * 2
    pids = f"systemctl show -P MainPID {' '.join(GUARDS)}"
    first = bubble.on_server("ops-1", pids).split()
    time.sleep(12)  # two of the guards' rounds
    assert bubble.on_server("ops-1", pids).split() == first
    assert "0" not in first, first


def test_replacing_a_server_that_holds_accounts_is_refused(bubble: Bubble) -> None:
    servers = bubble.root / "catalog" / "servers.yml"
    catalog = servers.read_text()
    before = leader("ops-1")
    bubble.on_server("ops-1", "echo precious > /srv/alice/www/keep.txt")
    # A bigger disk means a new lab server: alice's files would go with the old one.
    servers.write_text(catalog.replace("disk: 80GiB", "disk: 90GiB"))
    try:
        done = bubble.run("apply", "--yes")
    finally:
        servers.write_text(catalog)
    assert done.returncode == 1
    assert errors(done) == [
        "error: refusing to replace server ops-1, which holds 1 account(s) (alice): nothing "
        "applied (move or delete its accounts first, or undo the catalog change)"
    ]
    assert leader("ops-1") == before
    assert bubble.on_server("ops-1", "cat /srv/alice/www/keep.txt") == "precious\n"


def test_destroying_an_empty_server_is_asked_about(bubble: Bubble) -> None:
    bubble("server", "add", "ops-2", *LAB_SERVER)
    out = bubble("apply", "--server", "ops-1")  # Terraform boots ops-2; Ansible on ops-1 only
    assert "terraform lab: create ops-2" in out
    leader("ops-2")

    done = bubble.run("server", "remove", "ops-2")
    assert done.returncode == 1
    removal = "remove server ops-2 (the next `bubble apply` destroys it)"
    assert errors(done) == [f"error: this would {removal}: {NO_TERMINAL}"]
    bubble("server", "remove", "ops-2", "--yes")
    done = bubble.run("apply", "--server", "ops-1")
    assert done.returncode == 1
    assert "terraform lab: destroy ops-2" in done.stdout
    assert errors(done) == [f"error: this would destroy or replace server(s) ops-2: {NO_TERMINAL}"]
    leader("ops-2")
    out = bubble("apply", "--server", "ops-1", "--yes")
    assert "terraform lab: destroy ops-2" in out
    assert lab.load_state(LAB, "ops-2") is None


def test_lab_down_is_asked_about(bubble: Bubble) -> None:
    done = bubble.run("lab", "down")
    assert done.returncode == 1
    assert errors(done) == [
        f"error: this would destroy 1 lab server(s) in {LAB.dir}: ops-1: {NO_TERMINAL}"
    ]
    leader("ops-1")
