"""The platform's noisy-neighbour goal (issue 12): a CPU, memory and process hog in a
neighbour's bubble keeps a quiet site's p99 within 1.2x of its quiet p99. `bubble stress
--neighbour` on a lab server measures both at 50/s in six rounds of a 10 s quiet block and
a 10 s block beside the hog (alternating, so the server's drift over minutes falls on both
alike: back-to-back 30 s runs with no hog at all differed by 0.7x-1.3x), PAIRS times on the
same server. Each is printed with its rounds and the periods in which the quiet site was
throttled by its own CPU quota (read from the host: a few such periods alone move its p99 by
10 ms) and the load generator's priority (real-time unless it may not), and where nginx and
PHP-FPM's workers waited 1 ms or more for a CPU in the run and what held it then (the kernel's
scheduler events, `tests.support.wakeups`; not the FPM master's, which ondemand wakes twice a
request off the request's path), then the median ratio beside the goal. What serves the
site runs with the short CPU slice of roles/web (`web_serving_slice_us`). Runs in the
bench's isolated lab, taken down at the end."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.bench.bench_lab import LAB, LAB_ENV
from tests.support.cli import Bubble
from tests.support.lab_env import lab_available
from tests.support.lab_server import LabServer, cpu_stat, slice_cgroup, unit_pids
from tests.support.stress import NEIGHBOUR, SITE, two_sites
from tests.support.wakeups import longest, traced, waits

GOAL = 1.2
PAIRS = 3
SERVING = ("nginx", "php-fpm")  # the processes that answer the quiet site (and its FPM master)
LONG_WAIT_US = 1000
SERVER = "bench1"


def throttled_periods(account: str) -> Callable[[], int]:
    """A reader of the account's throttled-period count, from the host's cgroup files (the
    cpu hierarchy of a hybrid host, else the unified one)."""
    server = LabServer(SERVER, "", LAB)  # found by its lab state: no address needed
    for hierarchy in ("cpu", "unified"):
        try:
            group = slice_cgroup(server, hierarchy, f"acct-{account}.slice")
        except (AssertionError, StopIteration):
            continue
        return lambda: int(cpu_stat(group, "nr_throttled"))
    raise AssertionError(f"no cpu cgroup of acct-{account}.slice on {SERVER}")


def fpm_master(account: str) -> str:
    """The host's PID of the account's PHP-FPM master: the one process of its unit whose
    parent is outside it (the workers are its children)."""
    pids = unit_pids(LabServer(SERVER, "", LAB), f"php-fpm-acct@{account}.service")
    return next(p for p in pids if _parent(p) not in pids)


def _parent(pid: str) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]


def run() -> list[str]:
    if not lab_available():
        return ["stress benchmark skipped: needs root and systemd-nspawn"]
    pairs: list[tuple[dict[str, float], int, str]] = []
    with tempfile.TemporaryDirectory(prefix="bubble-bench-") as tmp:
        bubble = Bubble(Path(tmp) / "ops", LAB_ENV)
        bubble.init()
        try:
            two_sites(bubble, SERVER)
            account = SITE.split(".")[0]
            throttled, master = throttled_periods(account), fpm_master(account)
            for _ in range(PAIRS):
                before = throttled()
                with traced() as trace:
                    result = bubble.json("stress", SITE, "--rate", "50/s", "--duration", "60s",
                                         "--rounds", "6", "--neighbour", NEIGHBOUR)  # fmt: skip
                assert isinstance(result, dict)
                realtime = all(run["realtime"] for run in result["runs"])
                waited = "no tracefs here"
                if trace:
                    found = [w for w in waits(trace(), SERVING) if w.pid != master]
                    waited = longest(found, LONG_WAIT_US)
                pairs.append(
                    ({**result["neighbour"], "realtime": realtime}, throttled() - before, waited)
                )
        finally:
            bubble("lab", "down", "--yes")
    lines = [
        f"{f'noisy neighbour: run {index}':<40} {n['quiet_p99_ms']:7.1f} ms quiet, "
        f"{n['busy_p99_ms']:.1f} ms beside the hog: {n['ratio']:.2f}x; the quiet site "
        f"throttled by its own quota in {own} periods; the generator at "
        f"{'real-time' if n['realtime'] else 'NORMAL'} priority; rounds (quiet/busy ms): "
        + ", ".join(f"{r['quiet_p99_ms']}/{r['busy_p99_ms']}" for r in n["rounds"])
        + f"; nginx and PHP-FPM's workers: {waited}"
        for index, (n, own, waited) in enumerate(pairs, 1)
        if n["ratio"] is not None
    ]
    ratios = [n["ratio"] for n, _, _ in pairs if n["ratio"] is not None]
    if not ratios:
        return [*lines, f"noisy neighbour: no p99 to compare ({pairs})"]
    median = statistics.median(ratios)
    verdict = "met" if median <= GOAL else "NOT met"
    return [
        *lines,
        f"{'noisy neighbour: median p99 ratio':<40} {median:7.2f} x quiet  (goal <= {GOAL}: "
        f"{verdict}; range {min(ratios):.2f}-{max(ratios):.2f})",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
