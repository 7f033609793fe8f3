"""Helpers for the bubble tests: run the playbooks against a lab server, measure from the host."""

from __future__ import annotations

import http.client
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glue.providers import lab

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

    def __init__(self, directory: Path, server: Any, core_mhz: int = 2000) -> None:
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


def as_account(
    server: Any, name: str, script: str, *, timeout: int = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a shell script as the account, inside its slice (as glue does: script on stdin)."""
    command = (
        f"systemd-run --quiet --wait --pipe --collect -p RuntimeMaxSec={timeout} "
        f"--slice=acct-{name}.slice --uid={name} --gid={name} "
        f"--working-directory=/srv/{name} -- sh -s"
    )
    return server.ssh(command, input=script, check=check, timeout=timeout + 30)


def put_file(server: Any, owner: str, path: str, content: str, mode: str = "0644") -> None:
    quoted = shlex.quote(path)
    server.ssh(
        f"cat > {quoted} && chown {owner}:{owner} {quoted} && chmod {mode} {quoted}",
        input=content,
    )


def http_get(address: str, host: str, path: str, timeout: float = 10) -> tuple[int, str]:
    """GET with a Host header, straight to the server's address. (0, '') = connection closed."""
    conn = http.client.HTTPConnection(address, 80, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return 0, ""
    finally:
        conn.close()


def slice_cgroup(server: Any, hierarchy: str, unit: str) -> Path:
    """The unit's cgroup as the HOST sees it (measured outside the server's own systemd)."""
    state = lab.load_state(server.cfg, server.name)
    assert state is not None
    top = next(Path(p) for p in state.cgroups if Path(p).parts[4] == hierarchy)
    found = sorted(top.rglob(unit))
    assert found, f"no cgroup {unit} under {top}"
    return found[0]


def cpu_seconds(cgroup: Path) -> float:
    for line in (cgroup / "cpu.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    raise AssertionError(f"usage_usec not in {cgroup}/cpu.stat")


def cpu_share(cgroup: Path, seconds: float = 3.0) -> float:
    """CPU used by the group, in cores, measured over `seconds`."""
    start_cpu, start = cpu_seconds(cgroup), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(cgroup) - start_cpu) / (time.monotonic() - start)


def main_pid(server: Any, unit: str) -> int:
    return int(server.ssh(f"systemctl show -P MainPID {unit}").stdout.strip())
