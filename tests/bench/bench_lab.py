"""Real servers, timed through the CLI (issue 3): seconds from `server add` to a configured
server, from `account create` to its site answering, from a limit change to the new limit
in force. Each beside a baseline from the same run: booting a bare lab server, one Ansible
ping, one ssh round-trip. Issue 10: the scaler's reaction, from a CPU hog starting in an
elastic account to the raised quota in force, beside its target (the plan's up-window + 10 s),
and where those seconds went: sampling, the up-window, the scaler's wake-up, the limits push.
Runs in an isolated lab (with its InfluxDB) that it takes down at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from glue.providers.lab import influx_environment
from glue.settings import Settings
from scaler.influx import InfluxClient
from scaler.metrics import Window, samples
from tests.support.cli import Bubble, server_args, start
from tests.support.lab_env import isolated_lab, lab_available, lab_env
from tests.support.lab_server import LabServer

LAB = isolated_lab("bench", 2)
LAB_ENV = {**lab_env(LAB), **influx_environment(LAB)}
UP_AFTER_S = 10  # the bench plan's up-window (the toolkit's default is 120 s)
AGENT_INTERVAL_S = 2  # the usage agent's sampling interval here (the toolkit's default is 5 s)
UP_PERCENT = 90  # the toolkit's default threshold


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
        plans = bubble.root / "catalog/plans.yml"
        plans.write_text(plans.read_text().replace("up_after_s: 120", f"up_after_s: {UP_AFTER_S}"))
        with (bubble.root / "inventory/group_vars/all.yml").open("a") as settings:
            settings.write(f"\nusage_agent_interval: {AGENT_INTERVAL_S}\n")
        try:
            bubble("lab", "up")  # the lab's InfluxDB too: the agents report to it
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
            out += reaction(bubble, Path(tmp) / "scaler.jsonl")
        finally:
            bubble("lab", "down", "--yes")
    return out


def reaction(bubble: Bubble, log_path: Path) -> list[str]:
    """A one-core hog in site1 (elastic, funded, base 2 GHz = one core: 100% of its quota)
    with `bubble scaler run` going: seconds until a raised quota is in force, and the steps
    (from the agent's samples in InfluxDB and the scaler's own log lines)."""
    bubble("wallet", "credit", "site1", "100.00")
    bubble("account", "elastic", "site1", "on")
    quota = "systemctl show acct-site1.slice -p CPUQuotaPerSecUSec --value"
    server = LabServer("bench1", bubble.address("bench1"), LAB)
    log = log_path.open("w")
    scaler = start("scaler", "run", "--interval", "2s", "--json", env=bubble.env, output=log,
                   own_bubble_env=False)  # fmt: skip
    hog = ("systemd-run --quiet --unit=bench-hog --slice=acct-site1.slice --uid=site1 "
           "-p RuntimeMaxSec=300 --collect -- sh -c 'while :; do :; done'")  # fmt: skip
    try:
        time.sleep(5)  # the scaler's first tick
        started, load_at = time.perf_counter(), time.time()  # from before the hog's ssh
        server.ssh(hog)
        while server.ssh(quota).stdout.strip() == "1s":  # ssh alone (~0.2 s), not the CLI's
            if time.perf_counter() - started > 300:
                return ["lab reaction: load -> raised limit     no raise within 300 s"]
            time.sleep(0.2)
        seconds, seen_at = time.perf_counter() - started, time.time()
    finally:
        bubble.run("server", "ssh", "bench1", "--", "systemctl", "stop", "bench-hog")
        scaler.terminate()
        scaler.wait(30)
        log.close()
    target = UP_AFTER_S + 10
    return [
        f"{'lab reaction: load -> raised limit':<40} {seconds:7.1f} s  = "
        f"{seconds / target:6.2f} x target (up-window {UP_AFTER_S} s + 10 s; "
        f"agent every {AGENT_INTERVAL_S} s, scaler every 2 s)",
        *reaction_steps(load_at, seen_at, log_path),
    ]


def reaction_steps(load_at: float, seen_at: float, log_path: Path) -> list[str]:
    """Where the reaction's seconds went: load -> the agent's first hot sample (in InfluxDB)
    -> the scaler's raise -> its limits push started -> done -> seen by this bench."""
    env = influx_environment(LAB)
    settings = Settings.model_validate(
        {k.removeprefix("BUBBLE_").lower(): v for k, v in env.items()}
    )
    influx = InfluxClient.from_settings(settings)
    rows = samples(influx, "site1", Window(seen_at, seen_at - load_at + 10))
    hot = next(
        (
            dt.datetime.fromisoformat(row["at"]).timestamp()
            for row in rows
            if dt.datetime.fromisoformat(row["at"]).timestamp() > load_at
            and row["cpu"]["use"] is not None and row["cpu"]["limit"]
            and row["cpu"]["use"] * 100 >= UP_PERCENT * row["cpu"]["limit"]
        ),
        None,
    )  # fmt: skip
    marks: dict[str, float] = {}
    for text in log_path.read_text().splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        at, message = dt.datetime.fromisoformat(line["at"]).timestamp(), str(line["message"])
        if at < load_at:
            continue
        if message.startswith("site1: raise: cpu"):
            marks.setdefault("raise", at)
        elif "raise" in marks and message.startswith("ansible limits.yml"):
            marks.setdefault("push", at)
        elif "push" in marks and message.startswith("bench1: ") and "in force in" in message:
            marks.setdefault("done", at)
    points = [("load start", load_at), ("first hot sample", hot), ("raise decided",
              marks.get("raise")), ("limits push started", marks.get("push")),
              ("limits push done", marks.get("done")), ("seen in force", seen_at)]  # fmt: skip
    out = []
    for (frm, a), (to, b) in pairwise(points):
        step = f"  {frm} -> {to}"
        out.append(f"{step:<40} {b - a:7.1f} s" if a and b else f"{step:<40}       ? (not found)")
    return out


if __name__ == "__main__":
    print("\n".join(run()))
