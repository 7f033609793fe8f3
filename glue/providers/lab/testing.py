"""A handle on one lab server for tests and scripts: ssh to it as root, find its processes."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from glue.providers.lab.config import LabConfig
from glue.providers.lab.server import leader_pid, load_state, server_names
from glue.providers.lab.ssh import ssh_argv, ssh_options

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
