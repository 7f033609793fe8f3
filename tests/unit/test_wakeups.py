"""The benchmark's wake-up waits (tests/support/wakeups.py) read from a real trace: lines of
a busy block on a lab server (nginx waking a PHP worker on a CPU where the neighbour's hog
ran; the load generator's real-time wake-up in between)."""

from __future__ import annotations

import pytest

from tests.support.wakeups import longest, waits

TRACE = """\
# tracer: nop
           nginx-6004    [000] d..6.   572.062021: sched_wakeup: comm=php-fpm8.2 pid=5829 prio=120 target_cpu=000
           nginx-6004    [000] d..2.   572.062047: sched_switch: prev_comm=nginx prev_pid=6004 prev_prio=120 prev_state=S ==> next_comm=php-fpm8.2 next_pid=5829 next_prio=120
      php-fpm8.2-7076    [001] d..6.   572.062518: sched_wakeup: comm=nginx pid=6004 prio=120 target_cpu=000
              sh-7741    [000] d..2.   572.062527: sched_switch: prev_comm=sh prev_pid=7741 prev_prio=120 prev_state=R ==> next_comm=nginx next_pid=6004 next_prio=120
           nginx-6004    [000] d..4.   572.062537: sched_wakeup: comm=php-fpm8.2 pid=7076 prio=120 target_cpu=001
           nginx-6004    [000] d.s8.   572.062605: sched_wakeup: comm=python pid=7653 prio=98 target_cpu=001
              sh-7721    [001] d..2.   572.062614: sched_switch: prev_comm=sh prev_pid=7721 prev_prio=120 prev_state=R ==> next_comm=python next_pid=7653 next_prio=98
          python-7653    [001] d..2.   572.062738: sched_switch: prev_comm=python prev_pid=7653 prev_prio=98 prev_state=S ==> next_comm=sh next_pid=7721 next_prio=120
              sh-7722    [001] d..2.   572.062743: sched_switch: prev_comm=sh prev_pid=7722 prev_prio=120 prev_state=R+ ==> next_comm=php-fpm8.2 next_pid=7076 next_prio=120
    kworker/u8:0-12      [001] d..2.   572.064587: sched_switch: prev_comm=kworker/u8:0 prev_pid=12 prev_prio=120 prev_state=I ==> next_comm=rcu_preempt next_pid=15 next_prio=120
"""  # noqa: E501


def test_each_wake_up_waits_until_its_task_runs_and_names_what_held_the_cpu() -> None:
    found = waits(TRACE, ("php-fpm", "nginx"))
    assert [(w.pid, w.comm, w.holder) for w in found] == [
        ("5829", "php-fpm8.2", "nginx"), ("6004", "nginx", "sh"), ("7076", "php-fpm8.2", "sh")
    ]  # fmt: skip
    assert [w.us for w in found] == pytest.approx([26, 9, 206], abs=0.5)


def test_only_the_named_tasks_count() -> None:
    assert [w.us for w in waits(TRACE, ("php-fpm",))] == pytest.approx([26, 206], abs=0.5)
    assert waits(TRACE, ("mariadb",)) == []


def test_the_long_waits_are_summed_up_by_holder() -> None:
    found = waits(TRACE, ("php-fpm", "nginx"))
    assert longest(found, 20) == (
        "2 of 3 wake-ups waited >= 0.02 ms; the CPU held by: nginx 1 (0.0 ms), sh 1 (0.2 ms)"
    )
    assert longest(found, 1000) == "0 of 3 wake-ups waited >= 1 ms"
