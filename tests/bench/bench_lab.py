"""Real servers, timed through the CLI (issue 3): seconds from `server add` to a configured
server, from `account create` to its site answering, from a limit change to the new limit
in force. Each beside a baseline from the same run: booting a bare lab server, one Ansible
ping, one ssh round-trip. Runs in an isolated lab that it takes down at the end.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.cli import Bubble, server_args
from tests.support.lab_env import isolated_lab, lab_available, lab_env

LAB_ENV = lab_env(isolated_lab("bench", 2))


def clock(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def line(name: str, seconds: float, baseline: float) -> str:
    return f"{name:<40} {seconds:7.1f} s  = {seconds / baseline:6.1f} x baseline"


def run() -> list[str]:
    if not lab_available():
        return ["lab benchmark skipped: needs root and systemd-nspawn"]
    out = []
    with tempfile.TemporaryDirectory(prefix="bubble-bench-") as tmp:
        bubble = Bubble(Path(tmp) / "ops", LAB_ENV)
        bubble.init()
        try:
            from glue.remote import public_key

            boot = clock(
                lambda: bubble("lab", "server-create", "bench0", "--address", "198.18.2.200",
                               "--ssh-key", public_key(bubble.root), "--disk-gib", "4")
            )  # fmt: skip
            bubble("lab", "server-destroy", "bench0")
            out.append(line("baseline: boot a bare lab server", boot, boot))

            def add_server() -> None:
                bubble("server", "add", "bench1", *server_args(memory="4GiB", disk="80GiB"))
                bubble("apply")

            out.append(line("server add -> configured server", clock(add_server), boot))

            ping = clock(lambda: bubble("server", "ssh", "bench1", "--", "true"))
            out.append(line("baseline: one ssh round-trip", ping, ping))

            def create_account() -> None:
                bubble("account", "create", "site1", "--domain", "site1.example")
                address = "198.18.2.11"
                curl = ["curl", "-sf", "--max-time", "10", "-H", "Host: site1.example"]
                subprocess.run([*curl, f"http://{address}/"], check=False, capture_output=True)

            out.append(line("account create -> site answering", clock(create_account), ping))

            def raise_limit() -> None:
                bubble("account", "set", "site1", "--cpu", "2GHz")
                quota = (
                    "systemctl",
                    "show",
                    "acct-site1.slice",
                    "-p",
                    "CPUQuotaPerSecUSec",
                    "--value",
                )
                shown = bubble("server", "ssh", "bench1", "--", *quota)
                assert shown.strip() == "1s", shown

            out.append(line("limit change -> limit in force", clock(raise_limit), ping))
        finally:
            bubble("lab", "down", "--yes")
    return out


if __name__ == "__main__":
    print("\n".join(run()))
