"""The scaler's recommendation (scaler/policy.py): each rule by example, then under hypothesis."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from glue.models import Plan, Resource
from scaler.policy import Rule, Settings, recommend
from scaler.usage import Sample, Usage
from tests.support.scaler import (
    INTERVAL,
    NOW,
    RULE,
    resources,
    rules,
    series,
    simulate,
    steady,
    usages,
)

# --- up ---------------------------------------------------------------------------------------


def test_use_at_the_threshold_for_the_up_window_raises_one_step() -> None:
    rec = recommend(steady("cpu", 900, 1000, seconds=120), RULE)
    assert (rec.kind, rec.from_, rec.to) == ("raise", 1000, 1500)
    assert rec.reason == "cpu 1000->1500 MHz: use >= 90% for 120 s"


def test_one_sample_under_the_threshold_in_the_up_window_holds() -> None:
    uses = [950] * 25
    uses[3] = 899
    assert recommend(series("cpu", uses, 1000), RULE).kind == "hold"


def test_a_window_shorter_than_the_up_window_holds() -> None:
    rec = recommend(steady("cpu", 1000, 1000, seconds=100), RULE)
    assert rec.kind == "hold"
    assert "usage missing" in rec.why


def _raised_at(up_after_s: int, cold: int, hot: int) -> list[float]:
    """Every second from the first hot sample on: seconds after it at which the policy raises.
    Samples every INTERVAL: `cold` ones, then `hot` ones (the first hot one at NOW)."""
    rule = replace(RULE, up_after_s=up_after_s)
    samples = [Sample(NOW + i * INTERVAL, 100 if i < 0 else 950, 1000) for i in range(-cold, hot)]
    raised = []
    for second in range(int(hot * INTERVAL)):
        usage = Usage.of("alice", "cpu", NOW + second, 1000, samples, interval_s=INTERVAL)
        if recommend(usage, rule).kind == "raise":
            raised.append(float(second))
    return raised


def test_the_raise_comes_an_up_window_after_the_first_hot_sample_not_before_not_later() -> None:
    # After a calm stretch, after the agent's first point, and with a window that is not a
    # whole number of intervals (the first sample at or past it decides).
    for up_after_s, cold, first in ((30, 12, 30.0), (30, 0, 30.0), (12, 12, 15.0)):
        raised = _raised_at(up_after_s, cold, hot=12)
        assert raised, up_after_s
        assert raised[0] == first and up_after_s <= first <= up_after_s + INTERVAL, raised


def test_a_hot_run_that_breaks_counts_again_from_its_next_first_sample() -> None:
    uses = [950] * 30
    uses[20] = 100  # 45 s ago: the run since spans 40 s, under the 120 s window
    rec = recommend(series("cpu", uses, 1000), replace(RULE, up_after_s=40))
    assert (rec.kind, rec.why) == ("raise", "use >= 90% for 40 s")
    rec = recommend(series("cpu", uses, 1000), replace(RULE, up_after_s=41))
    assert (rec.kind, rec.why) == ("hold", "held, use >= 90% for 40 s so far")


def test_an_oom_kill_raises_memory_at_once_even_without_samples() -> None:
    usage = Usage("alice", "memory", NOW, 1000, events=frozenset({"oom_kill"}))
    rec = recommend(usage, RULE)
    assert (rec.kind, rec.to) == ("raise", 1500)
    assert "oom_kill" in rec.reason


def test_a_full_disk_raises_disk_at_once() -> None:
    usage = replace(steady("disk", 100, 1000), events=frozenset({"disk_full"}))
    assert recommend(usage, RULE).kind == "raise"


def test_an_event_of_another_resource_raises_nothing() -> None:
    usage = replace(steady("cpu", 100, 1000), events=frozenset({"oom_kill", "disk_full"}))
    assert recommend(usage, RULE).kind == "hold"


# --- down -------------------------------------------------------------------------------------


def test_use_under_the_down_threshold_of_the_lower_step_for_the_down_window_lowers() -> None:
    rec = recommend(steady("cpu", 500, 1500, seconds=900), RULE)
    assert (rec.kind, rec.from_, rec.to) == ("lower", 1500, 1000)
    assert "900 s" in rec.reason


def test_use_over_the_down_threshold_of_the_lower_step_holds() -> None:
    # 501 MHz is a third of 1500 but over half of 1000: lowering would invite a raise.
    rec = recommend(steady("cpu", 501, 1500), RULE)
    assert rec.kind == "hold"


def test_lowering_goes_one_step_and_never_below_base() -> None:
    assert recommend(steady("cpu", 10, 3000), RULE).to == 2500
    assert recommend(steady("cpu", 10, 1200), RULE).to == 1000
    at_base = recommend(steady("cpu", 10, 1000), RULE)
    assert (at_base.kind, at_base.why) == ("hold", "at base")


def test_memory_is_never_lowered_under_its_peak_use_plus_the_margin() -> None:
    rule = replace(RULE, up_percent=99, down_percent=95)
    uses = [900] * 181
    uses[50] = 950
    rec = recommend(series("memory", uses, 2000), rule)
    assert (rec.kind, rec.to, rec.floor) == ("lower", 1500, 1045)
    # From 1500 one step is 1000, under 950 + 10%: held, though 95% of 1000 is not crossed.
    rec = recommend(series("memory", uses, 1500), rule)
    assert (rec.kind, rec.to) == ("hold", 1500)
    assert rec.why == "peak use 950 MiB + margin is over 1000 MiB"
    assert recommend(series("memory", uses, 1500), rule, Settings(margin_percent=0)).to == 1000


def test_a_short_down_window_holds_and_tells_why() -> None:
    rec = recommend(steady("cpu", 10, 1500, seconds=600), RULE)
    assert rec.kind == "hold"
    assert rec.floor is None
    assert rec.why == "held, cannot lower: usage missing: a gap of 300 s in the last 900 s"


# --- missing and stale data -------------------------------------------------------------------


def test_a_gap_longer_than_two_intervals_holds() -> None:
    usage = steady("cpu", 10, 1500)
    hole = [s for s in usage.samples if not NOW - 400 < s.at < NOW - 389]
    rec = recommend(_only(usage, hole), RULE)
    assert rec.kind == "hold"
    assert "a gap of 15 s" in rec.why


def test_a_gap_of_two_intervals_still_counts() -> None:
    usage = steady("cpu", 10, 1500)
    hole = [s for s in usage.samples if s.at != NOW - 400]
    assert recommend(_only(usage, hole), RULE).kind == "lower"


def test_stale_samples_hold_even_a_busy_account() -> None:
    usage = replace(steady("cpu", 1000, 1000), now=NOW + 11)
    rec = recommend(usage, RULE)
    assert rec.kind == "hold"
    assert "usage missing" in rec.why


def test_no_samples_at_all_hold() -> None:
    rec = recommend(Usage("alice", "memory", NOW, 1500), RULE)
    assert (rec.kind, rec.to, rec.floor) == ("hold", 1500, None)
    assert rec.reason == "memory 1500->1500 MiB: held, usage missing: no samples in the last 120 s"


def test_a_limit_changed_inside_the_window_holds_until_a_full_window_at_the_new_one() -> None:
    usage = steady("cpu", 1000, 1000)
    moved = tuple(s if s.at < NOW - 60 else Sample(s.at, s.use, 1500) for s in usage.samples)
    rec = recommend(Usage.of("alice", "cpu", NOW, 1500, moved, interval_s=INTERVAL), RULE)
    assert rec.kind == "hold"
    assert rec.why == "held, a sample 65 s ago was under the limit 1000"


def test_the_rule_comes_from_the_plan_with_the_accounts_own_base() -> None:
    plan = Plan.model_validate(
        {
            "base": {"cpu": "1GHz", "memory": "1GiB", "disk": "10GiB"},
            "elastic": {"memory": {"step": "512MiB", "ceiling": "4GiB", "hourly_price": "0.05"}},
            "thresholds": {"up_percent": 80, "up_after_s": 30},
        }
    )
    assert Rule.of(plan, "cpu", 1000) is None
    assert Rule.of(plan, "memory", 2048) == Rule(
        base=2048, step=512, ceiling=4096, hourly_price=5, up_percent=80, up_after_s=30
    )


# --- properties -------------------------------------------------------------------------------


def _peak(usage: Usage, seconds: int) -> int:
    return max(usage.uses[usage.span(usage.now - seconds)])


@given(st.data(), resources, rules(), st.integers(0, 50))
def test_a_recommendation_moves_one_step_and_never_under_base_or_use_plus_margin(
    data: st.DataObject, resource: Resource, rule: Rule, margin: int
) -> None:
    usage = data.draw(usages(resource, rule))
    rec = recommend(usage, rule, Settings(margin_percent=margin))
    assert rec.from_ == usage.current
    if rec.kind == "raise":
        assert rec.to == usage.current + rule.step
    elif rec.kind == "lower":
        assert rec.to == max(rule.base, usage.current - rule.step) < usage.current
        if resource != "cpu":
            peak = _peak(usage, rule.down_after_s)
            assert rec.to >= peak + peak * margin / 100
    else:
        assert rec.to == usage.current
    assert "\n" not in rec.reason


def _with_hole(usage: Usage, window_s: int, data: st.DataObject) -> Usage:
    """`usage` without its samples in some [a, b] inside the last `window_s`, b - a >= 2
    intervals: the window then has a gap longer than two intervals."""
    a = data.draw(st.integers(0, window_s - 10))
    b = data.draw(st.integers(a + 10, window_s))
    return _only(usage, [s for s in usage.samples if not NOW - b <= s.at <= NOW - a])


def _only(usage: Usage, samples: list[Sample]) -> Usage:
    """`usage` with these samples only."""
    return Usage.of(
        usage.account, usage.resource, usage.now, usage.current, samples, usage.events, INTERVAL
    )


def _windows_of_ten_seconds_at_least(rule: Rule) -> Rule:
    up = max(rule.up_after_s, 10)
    return replace(rule, up_after_s=up, down_after_s=max(rule.down_after_s, up))


@given(st.data(), resources, rules())
def test_a_hole_in_the_up_window_changes_nothing(
    data: st.DataObject, resource: Resource, rule: Rule
) -> None:
    rule = _windows_of_ten_seconds_at_least(rule)
    usage = data.draw(usages(resource, rule))
    holed = replace(_with_hole(usage, rule.up_after_s, data), events=frozenset())
    rec = recommend(holed, rule)
    assert (rec.kind, rec.to) == ("hold", usage.current)


@given(st.data(), resources, rules())
def test_a_hole_in_the_down_window_never_lowers(
    data: st.DataObject, resource: Resource, rule: Rule
) -> None:
    rule = _windows_of_ten_seconds_at_least(rule)
    low = steady(resource, 0, data.draw(st.integers(rule.base, rule.base + 3 * rule.step)))
    rec = recommend(_with_hole(low, rule.down_after_s, data), rule)
    assert rec.kind == "hold"
    assert rec.floor is None


@settings(max_examples=60, deadline=None)
@given(resources, rules(), st.integers(0, 8000), st.data())
def test_a_steady_load_moves_one_way_then_stays(
    resource: Resource, rule: Rule, use: int, data: st.DataObject
) -> None:
    levels = max(0, rule.ceiling - rule.base) // rule.step + 2
    ticks = int(levels * (rule.down_after_s + rule.up_after_s) // INTERVAL) + 60
    start = data.draw(st.integers(rule.base, max(rule.base, rule.ceiling)))
    run = simulate(resource, use, rule, ticks, start=start)
    directions = {d.kind for d in run.decisions}
    assert len(directions) <= 1, run.decisions
    tail = int((rule.down_after_s + rule.up_after_s) // INTERVAL) + 2
    assert len(set(run.levels[-tail:])) == 1, run.decisions


def test_a_steady_load_just_over_the_threshold_changes_once_then_never() -> None:
    run = simulate("cpu", 950, RULE, ticks=2000)
    assert [(d.kind, d.from_, d.to) for d in run.decisions] == [("raise", 1000, 1500)]
    assert run.levels[-1] == 1500
    assert run.levels.index(1500) <= RULE.up_after_s // INTERVAL  # within the up-window
