"""Where the time goes, reported by pytest itself (a plugin: tests/conftest.py loads it).

At the end of a run the terminal summary lists the slowest tests (setup, call and teardown
together), each test module's wall time (module-scoped fixtures included: for a lab module,
its servers' boot and teardown) and the steps tests timed with `step_timings`.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

SLOWEST = 10

_test_seconds: dict[str, float] = defaultdict(float)
_module_span: dict[str, list[float]] = {}  # module path -> [first start, last finish]
_steps: dict[str, dict[str, float]] = {}  # module name -> label -> seconds


def step_timings(module: str) -> dict[str, float]:
    """The dict where module `module` (its __name__) records the seconds of its steps (label
    -> seconds); the run's summary shows them."""
    return _steps.setdefault(module, {})


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_runtest_logstart(nodeid: str) -> None:
    now = time.monotonic()
    _module_span.setdefault(_module(nodeid), [now, now])


def pytest_runtest_logfinish(nodeid: str) -> None:
    _module_span[_module(nodeid)][1] = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _test_seconds[report.nodeid] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _test_seconds:
        return
    write = terminalreporter.write_line
    terminalreporter.section("timings")
    write(f"slowest tests (of {len(_test_seconds)}):")
    for nodeid, seconds in sorted(_test_seconds.items(), key=lambda i: -i[1])[:SLOWEST]:
        write(f"  {seconds:8.2f} s  {nodeid}")
    spans = {module: span[1] - span[0] for module, span in _module_span.items()}
    lab = [m for m in spans if m.startswith("tests/lab/")]
    shown = sorted(
        {*sorted(spans, key=lambda m: -spans[m])[:SLOWEST], *lab}, key=lambda m: -spans[m]
    )
    write(f"module wall time (the slowest, and every lab module; {len(spans)} ran):")
    for module in shown:
        write(f"  {spans[module]:8.2f} s  {module}")
    for module, steps in _steps.items():
        if steps:
            write(f"steps of {module}:")
            for label, seconds in steps.items():
                write(f"  {seconds:8.2f} s  {label}")
