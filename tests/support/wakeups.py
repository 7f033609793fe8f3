"""Where a server's processes waited for a CPU, from the kernel's own scheduler events
(tracefs: `sched_wakeup`, then the `sched_switch` that runs the woken task): how long each
wake-up waited and which process held the CPU until then. For the noisy-neighbour benchmark:
a site's p99 is made of a few waits of milliseconds, and what held the CPU in them says what
to change (the neighbour's hog, a root service's timer, the load generator itself)."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("sched_wakeup", "sched_switch")
BUFFER_KIB = 65536  # per CPU: a 60 s run at 50/s leaves ~10 MiB of these events a CPU
# "  comm-pid  [cpu] flags  seconds: event: key=value ..." (comm may hold spaces and dashes)
_LINE = re.compile(r"^\s*.+?-\d+\s+\[\d+\]\s+\S+\s+([\d.]+): (sched_wakeup|sched_switch): (.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)")


@dataclass(frozen=True)
class Wait:
    pid: str  # the woken task (as this machine numbers it)
    comm: str
    us: float  # from its wake-up to running
    holder: str  # the task the CPU switched from when it ran (what it waited behind)


@contextlib.contextmanager
def traced() -> Iterator[Callable[[], str] | None]:
    """The scheduler's wake-up and switch events of this whole machine while in the block
    (every lab server shares its kernel); yields a reader of the trace text, for after the
    block, or None where tracefs cannot be mounted. Puts tracefs back as it found it."""
    mounted = (TRACEFS / "trace").exists()
    if not mounted and not _mount():
        yield None
        return
    size = (TRACEFS / "buffer_size_kb").read_text().split()[0]
    on = (TRACEFS / "tracing_on").read_text().strip()
    text: list[str] = []
    try:
        (TRACEFS / "buffer_size_kb").write_text(str(BUFFER_KIB))
        (TRACEFS / "trace").write_text("")
        for event in EVENTS:
            (TRACEFS / "events/sched" / event / "enable").write_text("1")
        (TRACEFS / "tracing_on").write_text("1")
        yield lambda: "".join(text)
    finally:
        (TRACEFS / "tracing_on").write_text(on)
        for event in EVENTS:
            (TRACEFS / "events/sched" / event / "enable").write_text("0")
        text.append((TRACEFS / "trace").read_text())
        (TRACEFS / "trace").write_text("")
        (TRACEFS / "buffer_size_kb").write_text(size)
        if not mounted:
            subprocess.run(["umount", str(TRACEFS)], check=False)


def _mount() -> bool:
    done = subprocess.run(
        ["mount", "-t", "tracefs", "tracefs", str(TRACEFS)], capture_output=True, check=False
    )
    return done.returncode == 0 and (TRACEFS / "trace").exists()


def waits(trace: str, prefixes: Iterable[str]) -> list[Wait]:
    """Each wake-up of a task whose name starts with one of `prefixes`, with its wait."""
    wanted = tuple(prefixes)
    woken: dict[str, tuple[float, str]] = {}  # pid -> (when, comm)
    out = []
    for line in trace.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        seconds, event, rest = match.groups()
        fields = dict(_FIELD.findall(rest))
        if event == "sched_wakeup":
            if fields.get("comm", "").startswith(wanted):
                woken[fields["pid"]] = (float(seconds), fields["comm"])
        elif (ran := woken.pop(fields.get("next_pid", ""), None)) is not None:
            when, comm = ran
            out.append(
                Wait(fields["next_pid"], comm, (float(seconds) - when) * 1e6, fields["prev_comm"])
            )
    return out


def longest(found: list[Wait], over_us: float, most: int = 8) -> str:
    """The waits over `over_us` by what held the CPU, the `most` frequent holders first:
    "sh 3 (1.9 ms), ..." (their count and mean wait)."""
    long = [w for w in found if w.us >= over_us]
    by_holder: dict[str, list[float]] = defaultdict(list)
    for wait in long:
        by_holder[wait.holder].append(wait.us)
    frequent = sorted(by_holder.items(), key=lambda item: len(item[1]), reverse=True)[:most]
    held = ", ".join(
        f"{holder} {len(us)} ({sum(us) / len(us) / 1000:.1f} ms)" for holder, us in frequent
    )
    return f"{len(long)} of {len(found)} wake-ups waited >= {over_us / 1000:g} ms" + (
        f"; the CPU held by: {held}" if held else ""
    )
