"""`bubble stress`'s load generator against a deliberately slow HTTP server on loopback: the
server stalls for 1 s once; the requests due during the stall carry the wait in their
latency (measured from their DUE time: no coordinated omission), the timetable goes on
through it, and what the concurrency bound holds back is counted as dropped. The generator
drives at real-time priority when it may and hands that to nothing it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

import pytest

from glue.stress import stats
from glue.stress.load import REFUSED, Target, _realtime, run_load
from tests.support.http_site import Quiet, serving

STALL_AFTER_S, STALL_S = 0.5, 1.0
RATE, DURATION = 100.0, 2.0


@dataclass
class Stall:
    first: float | None = None  # monotonic time of the first request
    until: float | None = None  # the stall's end (monotonic), once it began


class SlowOnce(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.stall = Stall()
        self.lock = threading.Lock()


class Handler(Quiet):
    server: SlowOnce

    def do_GET(self) -> None:
        now = time.monotonic()
        with self.server.lock:
            stall = self.server.stall
            stall.first = stall.first or now
            if stall.until is None and now - stall.first >= STALL_AFTER_S:
                stall.until = now + STALL_S
            until = stall.until
        if until is not None and now < until:
            time.sleep(until - now)  # this thread is held, as a stuck worker would be
        self.answer(200 if self.path == "/" else 404)


@pytest.fixture
def slow() -> Iterator[SlowOnce]:
    with serving(SlowOnce()) as server:
        assert isinstance(server, SlowOnce)
        yield server


def test_requests_due_during_a_stall_carry_the_wait_from_their_due_time(slow: SlowOnce) -> None:
    target = Target("127.0.0.1", "site.example", slow.server_address[1])
    run = run_load(target, RATE, DURATION, concurrency=512, timeout=5)
    until = slow.stall.until
    assert until is not None
    # The timetable went on through the stall: every request was sent, each answered.
    assert run.scheduled == len(run.samples) == round(RATE * DURATION) and not run.dropped
    assert {s.outcome for s in run.samples} == {"200"}
    stalled = [s for s in run.samples if run.start_monotonic + s.due < until - 0.05]
    held = [s for s in stalled if run.start_monotonic + s.due > until - STALL_S + 0.05]
    assert len(held) >= 0.8 * RATE * STALL_S
    for s in held:  # each waited from its due time until the stall ended, at least
        assert s.latency >= until - (run.start_monotonic + s.due) - 0.01, s
    # The first one held waited the whole stall; p99 shows it, p50 does not.
    assert max(s.latency for s in run.samples) >= 0.9 * STALL_S
    figures = stats.summary(run)
    assert figures["latency_ms"]["p99"] >= 0.8 * STALL_S * 1000
    assert figures["latency_ms"]["p50"] < 0.5 * STALL_S * 1000
    # Per second: the second the stall began in shows it.
    began = int(until - STALL_S - run.start_monotonic)
    seconds = {s["second"]: s for s in stats.per_second(run)}
    assert seconds[began]["max"] >= 0.9 * STALL_S * 1000, seconds


def test_a_bound_on_requests_in_flight_drops_and_counts_the_rest(slow: SlowOnce) -> None:
    target = Target("127.0.0.1", "site.example", slow.server_address[1], "/missing")
    run = run_load(target, RATE, 1.6, concurrency=10, timeout=5)
    figures = stats.summary(run)
    # During the stall 10 are held; what was due meanwhile (about 90) is dropped, not late.
    assert 0.7 * RATE * STALL_S <= figures["dropped"] <= RATE * STALL_S
    assert figures["scheduled"] == 160 == figures["sent"] + figures["dropped"]
    assert figures["errors"] == {"404": figures["sent"]} and figures["ok"] == 0
    assert figures["error_share"] == 1.0


def test_a_closed_port_is_an_error_not_a_hang() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    server.server_close()
    run = run_load(Target("127.0.0.1", "x.example", port), 50, 0.5, concurrency=8, timeout=2)
    assert stats.summary(run)["errors"] == {REFUSED: 25}
    assert stats.summary(run)["latency_ms"]["p99"] is None


def _policy() -> int:
    return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK


def test_the_generator_drives_at_real_time_priority_and_hands_it_to_nothing_it_starts() -> None:
    assert os.geteuid() == 0, "the lab's tests run as root"
    assert _policy() == os.SCHED_OTHER
    seen: list[int] = []
    with _realtime() as realtime:
        assert realtime and _policy() == os.SCHED_FIFO and os.sched_getparam(0).sched_priority == 1
        thread = threading.Thread(target=lambda: seen.append(_policy()))
        thread.start()
        thread.join()
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    assert seen == [os.SCHED_OTHER] and int(child.stdout) == os.SCHED_OTHER
    assert _policy() == os.SCHED_OTHER  # the thread's own policy is back
    run = run_load(Target("127.0.0.1", "x.example", 9), 10, 0.1, concurrency=2, timeout=1)
    assert run.realtime and stats.summary(run)["realtime"] is True


def test_without_the_right_to_real_time_the_generator_drives_at_normal_priority() -> None:
    probe = (
        "from glue.stress.load import _realtime\n"
        "import os\n"
        "with _realtime() as realtime:\n"
        "    print(realtime, os.sched_getscheduler(0))\n"
    )
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    out = subprocess.run(
        [*nobody, sys.executable, "-c", probe], capture_output=True, text=True, check=True,
        cwd=os.getcwd(),
    )  # fmt: skip
    assert out.stdout.split() == ["False", str(os.SCHED_OTHER)]
