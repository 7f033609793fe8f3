"""Backups, restores and moves on real servers (issue 13): for one account of ~200 MB in
10,000 files, `bubble backup run --account` beside a plain `borg create` of the same home
from the same web server to a fresh repository on the same backup server (same ssh path,
encryption and compression; measured in this run), the time `bubble backup restore --path`
takes for one file, and the downtime of `bubble account move` (its own figure and an HTTP
poller's). Each printed as figure, target, ratio and PASS/MISS.

Runs in an isolated lab (198.18.10.0/24, servers bb-*) that it takes down at the end."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from tests.support.cli import Bubble, server_args
from tests.support.lab_env import isolated_lab, lab_available, lab_env
from tests.support.poller import Poller

LAB = isolated_lab("bb", 10)
LAB_ENV = lab_env(LAB)
ACCOUNT, DOMAIN = "bulk", "bulk.example"
COMPRESSION = "zstd,3"  # glue/backup/agent.py's
# 10,000 files of 20 KiB (half random, half text: a site's mix), 100 to a directory.
FILL = """
import os, random
rand, text = random.Random(13), b"<p>Lorem ipsum dolor sit amet, consectetur.</p>\\n" * 220
for i in range(10000):
    d = f"www/data/{i // 100:03d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{i:05d}.bin", "wb") as f:
        f.write(rand.randbytes(10240) + text[:10240])
"""
ONE_FILE = "www/data/042/04242.bin"
PAGE = "printf '<?php echo gethostname();' > www/host.php"
BASELINE_REPOS = "/srv/bench-baseline"
UNIT = f"bubble-backup@{ACCOUNT}.service"
PROPERTIES = "CPUQuota|IOWeight|IOSchedulingClass|Nice|MemoryMax"  # the unit's bounds


def bounds(properties: str = PROPERTIES) -> str:
    """A shell expansion: systemd-run with the backup unit's `properties` (from the unit)."""
    pattern = properties.replace("|", "\\|")
    return (f"$(systemctl cat {UNIT} | sed -n 's/^\\({pattern}\\)=/-p &/p' | tr '\\n' ' ' | "
            "sed 's/^/systemd-run --quiet --wait --collect --pipe -E BORG_PASSPHRASE "
            "-E BORG_BASE_DIR -E BORG_RSH /')")  # fmt: skip


BASELINE_KEY = "/root/.bench-baseline"
# The baseline's own throwaway repository: its passphrase is no secret (never a real one).
BASELINE_ENV = (
    f"export BORG_PASSPHRASE=bench BORG_BASE_DIR={BASELINE_KEY}/borg "
    f"BORG_RSH='ssh -i {BASELINE_KEY}/key -o IdentitiesOnly=yes -o BatchMode=yes "
    f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={BASELINE_KEY}/known_hosts'; "
)


def verdict(name: str, figure: float, unit: str, target: str, ratio: float, ok: bool) -> str:
    return (f"{name:<36} {figure:8.2f} {unit:<5} target {target:<16} ratio {ratio:5.2f}  "
            f"{'PASS' if ok else 'MISS'}")  # fmt: skip


def clock(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def run() -> list[str]:
    if not lab_available():
        return ["backup benchmark skipped: needs root and systemd-nspawn"]
    with tempfile.TemporaryDirectory(prefix="bubble-bench-") as tmp:
        bubble = Bubble(Path(tmp) / "ops", LAB_ENV)
        bubble.init()
        try:
            return measure(bubble)
        finally:
            bubble("lab", "down", "--yes")


def measure(bubble: Bubble) -> list[str]:
    size, files = lab(bubble)
    return [f"account {ACCOUNT}: {size / 1e6:.0f} MB in {files} files",
            *backup(bubble, size), *restore(bubble), *move(bubble)]  # fmt: skip


def lab(bubble: Bubble) -> tuple[int, int]:
    """Two web servers and a backup server, the account filled on the first; its size and
    file count."""
    for web in ("bb-web", "bb-web2"):
        bubble("server", "add", web, *server_args(memory="4GiB", disk="80GiB"))
    bubble("server", "add", "bb-store", *server_args(memory="2GiB", disk="40GiB"),
           "--role", "backup")  # fmt: skip
    bubble("account", "create", ACCOUNT, "--domain", DOMAIN, "--server", "bb-web", "--no-apply")
    bubble("apply")
    bubble.as_account(ACCOUNT, PAGE)
    # A first run makes the repository and borg's cache: the timed run is a backup like a
    # nightly one, not the set-up. Archive names have minutes: the next run waits for one.
    bubble("backup", "run", "--account", ACCOUNT)
    minute = dt.datetime.now().minute
    bubble("account", "exec", ACCOUNT, "--", "python3", "-", stdin=FILL)
    size = int(bubble.as_account(ACCOUNT, "du -sb . | cut -f1"))
    files = int(bubble.as_account(ACCOUNT, "find . -type f | wc -l"))
    while dt.datetime.now().minute == minute:
        time.sleep(1)
    return size, files


def backup(bubble: Bubble, size: int) -> list[str]:
    """`bubble backup run --account` beside plain `borg create` (unbounded, then within the
    backup unit's own bounds: what the cap costs)."""
    mb = size / 1e6
    ours = clock(lambda: bubble("backup", "run", "--account", ACCOUNT))
    repos = prepare_baseline(bubble, ("plain", "bounded"))
    plain = clock(lambda: baseline(bubble, repos["plain"]))
    bounded = clock(lambda: baseline(bubble, repos["bounded"], bounds()))
    return [
        f"{'  plain borg create (baseline)':<36} {mb / plain:8.2f} MB/s  ({plain:.1f} s)",
        f"{'  plain borg create, unit bounds':<36} {mb / bounded:8.2f} MB/s  ({bounded:.1f} s)",
        f"{'  bubble backup run --account':<36} {mb / ours:8.2f} MB/s  ({ours:.1f} s)",
        verdict("backup throughput vs plain borg", mb / ours, "MB/s", ">= 0.9x baseline",
                plain / ours, plain / ours >= 0.9),
    ]  # fmt: skip


def restore(bubble: Bubble) -> list[str]:
    digest = f"sha256sum {ONE_FILE} | cut -c1-64"
    before = bubble.as_account(ACCOUNT, digest)
    bubble.as_account(ACCOUNT, f"rm {ONE_FILE}")
    took = clock(lambda: bubble("backup", "restore", ACCOUNT, "--path", ONE_FILE))
    assert bubble.as_account(ACCOUNT, digest) == before, "the restored file differs"
    return [verdict("restore one file", took, "s", "< 10 s", took / 10, took < 10)]


def move(bubble: Bubble) -> list[str]:
    poller = Poller(bubble.address("bb-web"), DOMAIN, "/host.php")
    poller.start()
    try:
        moved = bubble.json("account", "move", ACCOUNT, "--to", "bb-web2")
        time.sleep(1)
    finally:
        poller.stop.set()
        poller.join()
    assert isinstance(moved, dict) and moved["phase"] == "switched", moved
    reported, seen = moved["downtime_ms"] / 1000, poller.downtime()
    statuses = sorted({status for _, status, _ in poller.seen})
    return [
        verdict("move downtime (reported)", reported, "s", "< 10 s", reported / 10,
                reported < 10),
        verdict("move downtime (HTTP poller)", seen, "s", "< 10 s", seen / 10, seen < 10),
        f"  poller: {len(poller.seen)} requests, statuses {statuses}",
    ]  # fmt: skip


def baseline(bubble: Bubble, repo: str, run: str = "") -> None:
    """`borg create` of the same home as root on the web server, pushed over ssh to fresh
    repository `repo` (see prepare_baseline). `run` prefixes the command (systemd-run with
    the backup unit's bounds)."""
    bubble.on_server("bb-web", f"{BASELINE_ENV} cd / && {run} borg create --compression "
                     f"{COMPRESSION} {repo}::plain srv/{ACCOUNT}")  # fmt: skip


def prepare_baseline(bubble: Bubble, names: tuple[str, ...]) -> dict[str, str]:
    """A key of the web server's root let into the backup server's root (this lab's only)
    and an empty repository (repokey-blake2) for each of `names`: name -> its URL."""
    public = bubble.on_server(
        "bb-web", f"set -e; mkdir -p -m 0700 {BASELINE_KEY}; ssh-keygen -q -t ed25519 -N '' "
        f"-f {BASELINE_KEY}/key; cat {BASELINE_KEY}/key.pub"
    )  # fmt: skip
    bubble("server", "ssh", "bb-store", "--", "sh", "-c",
           "cat >> /root/.ssh/authorized_keys", stdin=public)  # fmt: skip
    store = bubble.address("bb-store")
    repos = {name: f"ssh://root@{store}{BASELINE_REPOS}/{name}" for name in names}
    for repo in repos.values():
        bubble.on_server("bb-web", f"{BASELINE_ENV} borg init --encryption=repokey-blake2 "
                         f"--make-parent-dirs {repo}")  # fmt: skip
    return repos


if __name__ == "__main__":
    print("\n".join(run()))
