"""A handle on one lab server (ssh to it as root, find its processes) and what tests measure
on it from the host: its units' cgroups and CPU use, its sites over HTTP."""

from __future__ import annotations

import http.client
import ipaddress
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from glue.providers.lab import (
    LabConfig,
    leader_pid,
    load_state,
    server_names,
    ssh_argv,
    ssh_options,
)

# Addresses handed out when a test does not name one: clear of glue's .11 upwards.
AUTO_ADDRESSES = range(100, 250)


@dataclass(frozen=True)
class LabServer:
    name: str
    address: str
    cfg: LabConfig

    @property
    def ssh_key(self) -> Path:
        """Private key that root on this server accepts (the lab's own)."""
        return self.cfg.ssh_key

    def ssh_options(self) -> list[str]:
        return ssh_options(self.cfg)

    def ssh(
        self, command: str, *, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command as root on the server; stdout/stderr captured as text."""
        done = subprocess.run(
            ssh_argv(self.address, command, self.cfg),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{self.name}: `{command}` exited {done.returncode}: {done.stderr.strip()}"
            )
        return done

    def leader_pid(self) -> int:
        """Host PID of the server's systemd (for nsenter or reading its cgroups)."""
        state = load_state(self.cfg, self.name)
        pid = leader_pid(state) if state else None
        assert pid, f"{self.name} is not running"
        return pid


def free_address(cfg: LabConfig) -> str:
    taken = set()
    for name in server_names(cfg):
        state = load_state(cfg, name)
        if state is not None:
            taken.add(state.address)
    net = cfg.gateway_interface.network
    for host in AUTO_ADDRESSES:
        candidate = str(ipaddress.IPv4Address(int(net.network_address) + host))
        if candidate not in taken:
            return candidate
    raise RuntimeError("no free lab address left")


def as_account(
    server: LabServer, name: str, script: str, *, timeout: int = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a shell script as the account, inside its slice (as glue does: script on stdin)."""
    command = (
        f"systemd-run --quiet --wait --pipe --collect -p RuntimeMaxSec={timeout} "
        f"--slice=acct-{name}.slice --uid={name} --gid={name} "
        f"--working-directory=/srv/{name} -- sh -s"
    )
    return server.ssh(command, input=script, check=check, timeout=timeout + 30)


def put_file(server: LabServer, owner: str, path: str, content: str, mode: str = "0644") -> None:
    quoted = shlex.quote(path)
    server.ssh(
        f"cat > {quoted} && chown {owner}:{owner} {quoted} && chmod {mode} {quoted}",
        input=content,
    )


def main_pid(server: LabServer, unit: str) -> int:
    return int(server.ssh(f"systemctl show -P MainPID {unit}").stdout.strip())


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


def slice_cgroup(server: LabServer, hierarchy: str, unit: str) -> Path:
    """The unit's cgroup as the HOST sees it: measured outside the server's own systemd."""
    state = load_state(server.cfg, server.name)
    assert state is not None
    top = next(Path(p) for p in state.cgroups if Path(p).parts[4] == hierarchy)
    found = sorted(top.rglob(unit))
    assert found, f"no cgroup {unit} under {top}"
    return found[0]


def se_slice(sched: str) -> int:
    """The scheduler's slice (ns) in /proc/PID/sched's text (or its se.slice line alone)."""
    line = next(x for x in sched.splitlines() if x.startswith("se.slice "))
    return int(line.split(":")[1])


def unit_pids(server: LabServer, unit: str) -> list[str]:
    """The unit's processes, as the host numbers them."""
    return (slice_cgroup(server, "unified", unit) / "cgroup.procs").read_text().split()


def cpu_slices(server: LabServer, unit: str) -> dict[str, int]:
    """The slice (`se_slice`) of each process of the unit, by "PID COMMAND", from the host."""
    slices: dict[str, int] = {}
    for pid in unit_pids(server, unit):
        try:
            sched = Path(f"/proc/{pid}/sched").read_text()
            command = Path(f"/proc/{pid}/comm").read_text().strip()
        except FileNotFoundError:
            continue  # it ended meanwhile
        slices[f"{pid} {command}"] = se_slice(sched)
    return slices


def cpu_stat(cgroup: Path, key: str) -> str:
    """One value of the group's cpu.stat."""
    for line in (cgroup / "cpu.stat").read_text().splitlines():
        if line.startswith(f"{key} "):
            return line.split()[1]
    raise AssertionError(f"{key} not in {cgroup}/cpu.stat")


def cpu_seconds(cgroup: Path) -> float:
    """CPU time of the cgroup2 group (usage_usec is kept for every cgroup2 group).

    cpuacct.usage cannot serve: the host mounts cpu and cpuacct apart, and systemd v1 only
    creates unit cgroups in cpu then. The cgroup2 tree ("unified") has every unit, on this
    hybrid set-up as on a real Debian 12 server, so the agent can read it the same way.
    """
    return int(cpu_stat(cgroup, "usage_usec")) / 1e6


def cpu_share(cgroup: Path, seconds: float = 3.0) -> float:
    """CPU used by the group, in cores, measured over `seconds`."""
    start_cpu, start = cpu_seconds(cgroup), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(cgroup) - start_cpu) / (time.monotonic() - start)


def cpu_shares(cgroup: Path, samples: int = 3, seconds: float = 2.0) -> list[float]:
    """CPU used per wall second, over a few windows (other work on 2 cores can dip one)."""
    return [cpu_share(cgroup, seconds) for _ in range(samples)]
