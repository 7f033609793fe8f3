"""What the control machine keeps (state DB, logs, ssh key, rendered inventory and Terraform
variables) is readable by its owner only, even when bubble runs under umask 000."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from glue.ansible import run_playbook
from glue.paths import state_dir
from glue.remote import control_key
from glue.services.root import init_root
from glue.state.db import default_url, open_engine
from glue.state.ledger import Ledger
from tests.support.cli import invoke

pytestmark = pytest.mark.integration

PLAYBOOK = """
- name: A play that logs
  hosts: all
  gather_facts: false
  tasks:
    - name: Say something
      ansible.builtin.debug:
        msg: hello
"""


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_under(path: Path) -> dict[str, int]:
    return {str(p): mode(p) for p in [path, *path.rglob("*")]}


@pytest.mark.usefixtures("open_umask")
def test_control_machine_files_are_private_under_umask_000(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUBBLE_DATABASE_URL", raising=False)
    root = init_root(tmp_path / "ops")
    (root / "state").mkdir(mode=0o777)  # left wide open by an older version
    for args in (
        ["server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2",
         "--memory", "8GiB", "--disk", "100GiB"],
        ["server", "add", "web2", "--provider", "hcloud", "--type", "cx22", "--region", "fsn1",
         "--cores", "2", "--core-ghz", "2", "--memory", "4GiB", "--disk", "40GiB"],
        ["account", "create", "alice", "--domain", "alice.example", "--server", "web1"],
        ["wallet", "credit", "alice", "5.00"],
        ["render"],
    ):  # fmt: skip
        result = invoke(*args, root=root, env={"BUBBLE_APPLY": "0"})
        assert result.exit_code == 0, result.stderr
    key = control_key(root)
    # The Ansible log, in the directory apply makes for it (with the umask's 0777).
    logs = state_dir(root) / "logs"
    logs.mkdir()
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    web9:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: /usr/bin/python3\n"
    )
    run_playbook(str(playbook), [inventory], log_path=logs / "ansible.jsonl")

    # A writer holds the DB open (its -wal and -shm exist while it does).
    ledger = Ledger(open_engine(default_url(root)))
    with ledger.transaction() as connection:
        ledger.post(connection, "alice", 100, "credit", "while-open")
    state = root / "state"
    assert mode(state) == 0o700
    database = sorted(p.name for p in state.glob("bubble.sqlite*"))
    assert database == ["bubble.sqlite", "bubble.sqlite-shm", "bubble.sqlite-wal"]
    assert {mode(state / name) for name in database} == {0o600}
    assert (logs / "ansible.jsonl").stat().st_size > 0
    assert key.with_suffix(".pub").exists()
    trees = [logs, key.parent, root / "inventory" / "generated", root / "terraform" / "generated"]
    for tree in trees:
        found = modes_under(tree)
        assert len(found) > 1, tree
        wrong = {
            path: oct(m)
            for path, m in found.items()
            if m != (0o700 if Path(path).is_dir() else 0o600)
        }
        assert wrong == {}, tree
    assert (root / "terraform" / "generated" / "hcloud.tfvars.json").exists()
