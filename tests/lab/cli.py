"""The `bubble` CLI as the lab tests and benchmarks run it: a subprocess bound to one
operator root and to an isolated lab (its own directory, bridge and subnet, so `bubble lab
down` in one module touches no other module's servers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = (sys.executable, "-m", "glue.cli.main")


def isolated_lab(name: str, octet: int) -> dict[str, str]:
    """The environment of lab `name` on 198.18.OCTET.0/24: give each module its own."""
    return {
        "BUBBLE_LAB_DIR": f"/var/lib/bubblehost/lab-{name}",
        "BUBBLE_LAB_BRIDGE": f"bubble-{name}",
        "BUBBLE_LAB_GATEWAY": f"198.18.{octet}.1/24",
        "BUBBLE_APPLY": "1",
    }


def server_args(memory: str, disk: str) -> tuple[str, ...]:
    """`server add` options for a lab server: 2 cores at 2 GHz (so 1 GHz = CPUQuota 50%)."""
    return ("--provider", "lab", "--cores", "2", "--core-ghz", "2", "--memory", memory,
            "--disk", disk)  # fmt: skip


def lab_available() -> bool:
    """Lab servers need root and systemd-nspawn."""
    return os.geteuid() == 0 and shutil.which("systemd-nspawn") is not None


class Bubble:
    """`bubble` against `root` in the lab `env` describes; stdin is never a terminal."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = {**os.environ, **env, "BUBBLE_ROOT": str(root)}

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 1200
    ) -> subprocess.CompletedProcess[str]:
        """The command's result, whatever its exit code."""
        return subprocess.run(
            [*CLI, *args],
            env=self.env,
            text=True,
            capture_output=True,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            timeout=timeout,
            check=False,
        )

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        """The command's stdout; it must succeed."""
        done = self.run(*args, stdin=stdin)
        if done.returncode != 0:
            raise AssertionError(f"bubble {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def init(self) -> None:
        """`bubble init` of this root."""
        self("init", str(self.root))

    def background(self, *args: str) -> subprocess.Popen[bytes]:
        """The command left running, its output dropped (the caller waits for it)."""
        return subprocess.Popen(
            [*CLI, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json"))

    def on_server(self, server: str, command: str) -> str:
        """A shell command as root on `server`."""
        return self("server", "ssh", server, "--", "sh", "-c", command)

    def as_account(self, account: str, command: str) -> str:
        """A shell command as `account`, in its home and slice."""
        return self("account", "exec", account, "--", "sh", "-c", command)


def fresh_bubble(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], prefix: str = "ops"
) -> Bubble:
    """The CLI on a new operator root (`bubble init`) in `env`'s lab; skips without a lab."""
    if not lab_available():
        pytest.skip("lab tests need root and systemd-nspawn")
    bubble = Bubble(tmp_path_factory.mktemp(prefix) / "root", env)
    bubble.init()
    return bubble
