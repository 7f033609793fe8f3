"""The playbooks run straight against one lab server, with a hand-written inventory (no CLI):
how the Ansible content is tested on its own."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glue.providers import lab
from tests.support.lab_server import LabServer

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)"
)


@dataclass
class PlaybookRun:
    playbook: str
    returncode: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]

    def changed_tasks(self) -> list[str]:
        """Names of tasks that reported a change (for readable assertion messages)."""
        found, task = [], ""
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:"):
                found.append(f"{task}: {line}")
        return found


class Inventory:
    """A hand-written inventory in the shape of docs/interfaces.md, for one lab server."""

    def __init__(self, directory: Path, server: LabServer, core_mhz: int = 2000) -> None:
        self.dir = directory
        self.server = server
        self.host_vars: dict[str, Any] = {
            "bubble_server": {
                "name": server.name,
                "provider": "lab",
                "cores": 2,
                "core_mhz": core_mhz,
                "memory_mib": 4096,
                "disk_mib": 2048,
            },
            "bubble_accounts": {},
        }
        (directory / "host_vars").mkdir(parents=True, exist_ok=True)
        key = str(server.ssh_key)
        hosts = {
            "bubble_servers": {
                "hosts": {server.name: {"ansible_host": server.address}},
                "vars": {
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": key,
                    "ansible_ssh_common_args": lab.ansible_ssh_common_args(server.cfg),
                },
            }
        }
        (directory / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=True))
        self.write()

    @property
    def accounts(self) -> dict[str, Any]:
        return self.host_vars["bubble_accounts"]

    def write(self) -> None:
        path = self.dir / "host_vars" / f"{self.server.name}.yml"
        path.write_text(yaml.safe_dump(self.host_vars, sort_keys=True))

    def run(self, playbook: str, *extra: str, timeout: float = 900) -> PlaybookRun:
        self.write()
        env = dict(os.environ)
        env.update(
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_STDOUT_CALLBACK="default",
            ANSIBLE_CALLBACK_RESULT_FORMAT="yaml",
        )
        argv = [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(REPO / "inventory" / "defaults.yml"),  # the toolkit's fleet settings
            "-i",
            str(self.dir / "hosts.yml"),
            str(REPO / "playbooks" / playbook),
            *extra,
        ]
        start = time.monotonic()
        # stdin from /dev/null: Ansible refuses a non-blocking stdin, and an ssh killed by an
        # earlier test can leave the inherited one non-blocking.
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO,
            check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = time.monotonic() - start
        run = PlaybookRun(playbook, done.returncode, done.stdout + done.stderr, seconds)
        for line in done.stdout.splitlines():
            m = RECAP.match(line)
            if m:
                run.recap[m["host"]] = {k: int(v) for k, v in m.groupdict().items() if k != "host"}
        (self.dir / f"{playbook}.{int(time.time())}.log").write_text(run.output)
        return run


def account(
    domains: list[str],
    *,
    cpu_mhz: int = 1000,
    core_mhz: int = 2000,
    memory_mib: int = 160,
    disk_mib: int = 100,
    tasks: int = 128,
) -> dict[str, Any]:
    """An account's entry in bubble_accounts, in the shape rendering writes it."""
    return {
        "state": "present",
        "suspended": False,
        "domains": domains,
        "email": f"admin@{domains[0]}",
        "limits": {
            "cpu_mhz": cpu_mhz,
            "cpu_quota_percent": cpu_mhz * 100 // core_mhz,
            "memory_mib": memory_mib,
            "memory_high_mib": memory_mib * 9 // 10,
            "disk_mib": disk_mib,
            "tasks": tasks,
            "io_read_mbps": None,
            "io_write_mbps": None,
        },
    }
