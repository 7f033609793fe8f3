"""Real servers, timed through the CLI (issue 3): seconds from `server add` to a configured
server, from `account create` to its site answering, from a limit change to the new limit
in force. Each beside a baseline from the same run: booting a bare lab server, one Ansible
ping, one ssh round-trip. Runs in an isolated lab that it takes down at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {
    **os.environ,
    "BUBBLE_LAB_DIR": "/var/lib/bubblehost/lab-bench",
    "BUBBLE_LAB_BRIDGE": "bubble-bench",
    "BUBBLE_LAB_GATEWAY": "198.18.2.1/24",
    "BUBBLE_APPLY": "1",
}


def bubble(root: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "glue.cli.main", "--root", str(root), *args],
        env=ENV,
        text=True,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: bubble {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def clock(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def line(name: str, seconds: float, baseline: float) -> str:
    return f"{name:<40} {seconds:7.1f} s  = {seconds / baseline:6.1f} x baseline"


def run() -> list[str]:
    if os.geteuid() != 0 or shutil.which("systemd-nspawn") is None:
        return ["lab benchmark skipped: needs root and systemd-nspawn"]
    out = []
    with tempfile.TemporaryDirectory(prefix="bubble-bench-") as tmp:
        root = Path(tmp) / "ops"
        subprocess.run(
            [sys.executable, "-m", "glue.cli.main", "init", str(root)],
            check=True,
            env=ENV,
            capture_output=True,
        )
        try:
            from glue.remote import public_key

            boot = clock(
                lambda: bubble(
                    root,
                    "lab",
                    "server-create",
                    "bench0",
                    "--address",
                    "198.18.2.200",
                    "--ssh-key",
                    public_key(root),
                    "--disk-gib",
                    "4",
                )
            )
            bubble(root, "lab", "server-destroy", "bench0")
            out.append(line("baseline: boot a bare lab server", boot, boot))

            def add_server() -> None:
                bubble(
                    root,
                    "server",
                    "add",
                    "bench1",
                    "--provider",
                    "lab",
                    "--cores",
                    "2",
                    "--core-ghz",
                    "2",
                    "--memory",
                    "4GiB",
                    "--disk",
                    "80GiB",
                )
                bubble(root, "apply")

            out.append(line("server add -> configured server", clock(add_server), boot))

            ping = clock(lambda: bubble(root, "server", "ssh", "bench1", "--", "true"))
            out.append(line("baseline: one ssh round-trip", ping, ping))

            def create_account() -> None:
                bubble(root, "account", "create", "site1", "--domain", "site1.example")
                address = "198.18.2.11"
                subprocess.run(
                    [
                        "curl",
                        "-sf",
                        "--max-time",
                        "10",
                        "-H",
                        "Host: site1.example",
                        f"http://{address}/",
                    ],
                    check=False,
                    capture_output=True,
                )

            out.append(line("account create -> site answering", clock(create_account), ping))

            def raise_limit() -> None:
                bubble(root, "account", "set", "site1", "--cpu", "2GHz")
                shown = bubble(
                    root,
                    "server",
                    "ssh",
                    "bench1",
                    "--",
                    "systemctl",
                    "show",
                    "acct-site1.slice",
                    "-p",
                    "CPUQuotaPerSecUSec",
                    "--value",
                )
                assert shown.strip() == "1s", shown

            out.append(line("limit change -> limit in force", clock(raise_limit), ping))
        finally:
            bubble(root, "lab", "down", "--yes")
    return out


if __name__ == "__main__":
    print("\n".join(run()))
