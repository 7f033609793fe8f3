"""HTTP load at a constant arrival rate (an open model): request i is due at start + i/rate
whatever the answers before it did, and its latency runs from that DUE time, so a server that
stalls shows its stall in every request it held up (no coordinated omission). A request due
while `concurrency` are already in flight is not sent and counted as dropped.

One HTTP/1.1 connection per request (`Connection: close`): nothing is queued behind a slow
answer on a shared connection, and what a new visitor pays (the TCP handshake) is measured.

The generator drives at real-time priority where it may (`_realtime`): its own wait for a CPU
is not the site's latency."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

# The outcomes that are not an HTTP status.
TIMEOUT, REFUSED, RESET, BAD = "timeout", "refused", "reset", "bad-response"


@dataclass(frozen=True)
class Target:
    address: str  # where to connect (the account's server)
    host: str  # the Host header (the site's domain)
    port: int = 80
    path: str = "/"


@dataclass(frozen=True)
class Sample:
    due: float  # seconds after the run's start the request was due
    latency: float  # seconds from `due` to the whole answer (or to the failure)
    outcome: str  # the HTTP status ("200") or TIMEOUT, REFUSED, RESET, BAD


@dataclass
class Run:
    rate: float  # requests per second
    duration: float  # seconds
    start: float  # epoch seconds of the first due time
    start_monotonic: float  # the same moment on time.monotonic (the event loop's clock)
    samples: list[Sample] = field(default_factory=list)
    dropped: list[float] = field(default_factory=list)  # due times not sent
    realtime: bool = False  # driven at real-time priority (`_realtime`)

    @property
    def scheduled(self) -> int:
        return len(self.samples) + len(self.dropped)


def _request(target: Target) -> bytes:
    return (
        f"GET {target.path} HTTP/1.1\r\nHost: {target.host}\r\n"
        "User-Agent: bubble-stress\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


async def _fetch(target: Target, request: bytes) -> str:
    """The status of one GET, after reading the whole answer (the server closes)."""
    reader, writer = await asyncio.open_connection(target.address, target.port)
    try:
        writer.write(request)
        await writer.drain()
        status = (await reader.readline()).split()
        if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or not status[1].isdigit():
            return BAD
        while await reader.read(65536):  # the body: until the server closes
            pass
        return status[1].decode()
    finally:
        writer.close()


async def _outcome(target: Target, request: bytes, timeout: float) -> str:
    try:
        return await asyncio.wait_for(_fetch(target, request), timeout)
    except TimeoutError:
        return TIMEOUT
    except ConnectionRefusedError:
        return REFUSED
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        return RESET


async def drive(
    target: Target, rate: float, duration: float, concurrency: int, timeout: float
) -> Run:
    """`rate` requests a second for `duration` seconds on a fixed timetable; returns when
    every request sent has an outcome (at most `timeout` after the last one was due)."""
    loop = asyncio.get_running_loop()
    request = _request(target)
    begin = loop.time() + 0.05  # a moment to set up: the first request is not born late
    run = Run(rate, duration, time.time() + (begin - loop.time()), begin)
    in_flight: set[asyncio.Task[None]] = set()

    async def send(due: float) -> None:
        outcome = await _outcome(target, request, timeout)
        run.samples.append(Sample(due - begin, loop.time() - due, outcome))

    for i in range(round(rate * duration)):
        due = begin + i / rate
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        if len(in_flight) >= concurrency:
            run.dropped.append(due - begin)
            continue
        task = asyncio.create_task(send(due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    run.samples.sort(key=lambda s: s.due)
    return run


def joined(runs: list[Run]) -> Run:
    """Runs at one rate as one run: each after the one before on its own time axis (due
    times shifted by the durations before it), from the first one's start."""
    first = runs[0]
    out = Run(first.rate, 0.0, first.start, first.start_monotonic)
    out.realtime = all(run.realtime for run in runs)
    for run in runs:
        out.samples += [Sample(s.due + out.duration, s.latency, s.outcome) for s in run.samples]
        out.dropped += [due + out.duration for due in run.dropped]
        out.duration += run.duration
    return out


@contextlib.contextmanager
def _realtime() -> Iterator[bool]:
    """This thread at the lowest real-time priority (SCHED_FIFO 1) while in the block, if it
    may (root or CAP_SYS_NICE); yields whether it is. A generator sharing its cores with busy
    work waits for a CPU before it sends or reads, and that wait counted as latency: on a lab,
    whose servers share the control machine's cores, a site's p99 measured 9-12 ms at normal
    priority and 5.5-7 ms at this one, quiet and beside a neighbour's hog alike. RESET_ON_FORK:
    nothing started meanwhile (a thread, a process) inherits it; the thread's own policy comes
    back after."""
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(1))
    except PermissionError:
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setscheduler(0, policy, param)


def run_load(target: Target, rate: float, duration: float, concurrency: int, timeout: float) -> Run:
    with _realtime() as realtime:
        run = asyncio.run(drive(target, rate, duration, concurrency, timeout))
    run.realtime = realtime
    return run
