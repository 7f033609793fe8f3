"""The caps on a recommendation (scaler/caps.py): each in the issue's order, then properties."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from glue.models import ElasticRules, Resource
from scaler.billing import hourly_rate
from scaler.caps import Decision, Funds, caps, hourly_cost
from scaler.policy import Recommendation, Rule, recommend
from scaler.usage import Usage
from tests.support.scaler import NOW, RICH, RULE, resources, rules, simulate, steady, usages

ROOM = 10**9


def rec(
    kind: Literal["raise", "lower", "hold"],
    frm: int,
    to: int,
    resource: Resource = "cpu",
    floor: int | None = 1000,
) -> Recommendation:
    return Recommendation(kind, resource, frm, to, "use >= 90% for 120 s", floor)


def test_a_raise_that_passes_every_cap_keeps_its_reason() -> None:
    d = caps(rec("raise", 1000, 1500), RULE, RICH, ROOM)
    assert d == Decision("raise", "cpu", 1000, 1500, "cpu 1000->1500 MHz: use >= 90% for 120 s")


def test_the_ceiling_cuts_a_raise_and_holds_at_it() -> None:
    assert caps(rec("raise", 2800, 3300), RULE, RICH, ROOM).to == 3000
    d = caps(rec("raise", 3000, 3500), RULE, RICH, ROOM)
    assert (d.kind, d.to) == ("hold", 3000)
    assert "ceiling 3000 MHz" in d.reason


def test_a_raise_the_server_has_no_room_for_is_deferred_with_its_reason() -> None:
    d = caps(rec("raise", 1000, 1500, "memory"), RULE, RICH, server_free=499)
    assert (d.kind, d.from_, d.to) == ("deferred", 1000, 1500)
    assert d.reason.startswith("memory 1000->1500 MiB: the server has only 499 MiB free")
    assert caps(rec("raise", 1000, 1500), RULE, RICH, server_free=500).kind == "raise"


def test_the_wallet_must_cover_the_next_hour_at_the_new_level() -> None:
    # Two steps above base at 10 cents a step, and 7 cents an hour for the other resources.
    funds = Funds(elastic=True, wallet=26, other_hourly=7)
    d = caps(rec("raise", 1500, 2000), RULE, funds, ROOM)
    assert (d.kind, d.to) == ("hold", 1500)
    assert d.reason == "cpu 1500->1500 MHz: wallet 26 cents < next hour 27 cents"
    assert caps(rec("raise", 1500, 2000), RULE, replace(funds, wallet=27), ROOM).kind == "raise"


def test_an_empty_wallet_raises_nothing() -> None:
    d = caps(rec("raise", 1000, 1500), RULE, Funds(elastic=True, wallet=0), ROOM)
    assert d.kind == "hold"


def test_the_daily_spend_cap_counts_what_was_spent_today_and_the_next_hour() -> None:
    funds = Funds(elastic=True, wallet=10_000, spent_today=91, max_daily=100)
    d = caps(rec("raise", 1000, 1500), RULE, funds, ROOM)
    assert d.kind == "hold"
    assert d.reason.endswith("spent today 91 + next hour 10 cents > daily cap 100 cents")
    assert caps(rec("raise", 1000, 1500), RULE, replace(funds, spent_today=90), ROOM).kind == (
        "raise"
    )


def test_the_caps_apply_in_order_ceiling_room_wallet_spend_cap() -> None:
    broke = Funds(elastic=True, wallet=0, spent_today=500, max_daily=1)
    assert "ceiling" in caps(rec("raise", 3000, 3500), RULE, broke, 0).reason
    assert caps(rec("raise", 1000, 1500), RULE, broke, 0).kind == "deferred"
    assert "wallet" in caps(rec("raise", 1000, 1500), RULE, broke, ROOM).reason
    capped = replace(broke, wallet=10_000)
    assert "daily cap" in caps(rec("raise", 1000, 1500), RULE, capped, ROOM).reason


def test_a_lower_or_a_hold_passes_the_money_caps_untouched() -> None:
    broke = Funds(elastic=True, wallet=0, spent_today=500, max_daily=1)
    assert caps(rec("lower", 2000, 1500), RULE, broke, 0).kind == "lower"
    assert caps(rec("hold", 2000, 2000), RULE, broke, 0).kind == "hold"


def test_elasticity_off_raises_nothing() -> None:
    d = caps(rec("raise", 1000, 1500), RULE, Funds(elastic=False, wallet=10_000), ROOM)
    assert (d.kind, d.to, d.reason) == (
        "hold",
        1000,
        "cpu 1000->1000 MHz: elasticity is off: stays at base",
    )


def test_elasticity_off_lowers_a_boost_to_base_in_one_go() -> None:
    off = Funds(elastic=False, wallet=10_000)
    d = caps(rec("hold", 3000, 3000), RULE, off, ROOM)
    assert (d.kind, d.to) == ("lower", 1000)
    assert d.reason == "cpu 3000->1000 MHz: elasticity is off: boost lowered to base"


def test_elasticity_off_lowers_memory_no_further_than_its_use_plus_margin() -> None:
    off = Funds(elastic=False, wallet=0)
    assert caps(rec("hold", 3000, 3000, "memory", floor=1650), RULE, off, ROOM).to == 1650
    assert caps(rec("hold", 1600, 1600, "memory", floor=1650), RULE, off, ROOM).kind == "hold"


def test_elasticity_off_without_usage_holds() -> None:
    usage = Usage("alice", "memory", NOW, 3000)
    d = caps(recommend(usage, RULE), RULE, Funds(elastic=False, wallet=0), ROOM)
    assert (d.kind, d.to) == ("hold", 3000)
    assert "usage unknown" in d.reason


def test_the_next_hour_costs_what_billing_charges_a_part_cent_rounded_up() -> None:
    assert hourly_cost(RULE, 1000) == 0
    assert hourly_cost(RULE, 900) == 0
    assert hourly_cost(RULE, 1001) == 1  # 1/500 of a step at 10 cents: 0.02 -> 1 cent
    assert hourly_cost(RULE, 1250) == 5
    assert hourly_cost(RULE, 2000) == 20
    rules = ElasticRules.model_validate(
        {"cpu": {"step": RULE.step, "ceiling": RULE.ceiling, "hourly_price": "0.10"}}
    )
    for level in (1001, 1250, 1777, 2000, 3999):
        assert hourly_cost(RULE, level) == math.ceil(hourly_rate("cpu", level - 1000, rules))


def test_an_elastic_account_out_of_money_stays_at_base_under_load() -> None:
    run = simulate("cpu", 1000, RULE, ticks=500, funds=Funds(elastic=True, wallet=9))
    assert run.changes == 0
    run = simulate("cpu", 1000, RULE, ticks=500, funds=Funds(elastic=False, wallet=10**6))
    assert run.changes == 0


# --- properties -------------------------------------------------------------------------------


funds = st.builds(
    Funds,
    elastic=st.booleans(),
    wallet=st.integers(0, 20_000),
    spent_today=st.integers(0, 5000),
    max_daily=st.none() | st.integers(0, 5000),
    other_hourly=st.integers(0, 500),
)


@st.composite
def recommendations(draw: st.DrawFn, rule: Rule) -> Recommendation:
    """What recommend can say: a raise one step up, a lower to a level at or above base."""
    current = draw(st.integers(rule.base, rule.ceiling))
    kind = draw(
        st.sampled_from(["raise", "lower", "hold"] if current > rule.base else ["raise", "hold"])
    )
    to = {
        "raise": current + rule.step,
        "lower": max(rule.base, current - rule.step),
        "hold": current,
    }[kind]
    # A lower needs a covered down-window, so it always knows its floor (at most its target).
    known = st.integers(rule.base, to if kind == "lower" else current + 1)
    floor = draw(known if kind == "lower" else st.none() | known)
    resource = draw(resources)
    return Recommendation(kind, resource, current, to, "why", floor)


@given(st.data(), rules(), funds, st.integers(0, 20_000))
def test_a_decision_stays_in_bounds_and_a_raise_fits_and_is_paid_for(
    data: st.DataObject, rule: Rule, funds: Funds, free: int
) -> None:
    r = data.draw(recommendations(rule))
    d = caps(r, rule, funds, free)
    assert (d.from_, d.resource) == (r.from_, r.resource)
    if d.kind in ("raise", "deferred"):
        assert r.from_ < d.to <= rule.ceiling
    if d.kind == "raise":
        next_hour = hourly_cost(rule, d.to) + funds.other_hourly
        assert funds.elastic
        assert d.to - d.from_ <= free
        assert funds.wallet >= next_hour
        assert funds.max_daily is None or funds.spent_today + next_hour <= funds.max_daily
    if d.kind == "lower":
        assert rule.base <= d.to < r.from_
        assert r.floor is not None and d.to >= r.floor
    if d.kind == "hold":
        assert d.to == r.from_
    if not funds.elastic:
        assert d.kind in ("hold", "lower")
    assert "\n" not in d.reason


@given(rules(), resources, st.integers(0, 20_000), funds)
def test_a_hot_account_is_raised_only_when_every_cap_allows(
    rule: Rule, resource: Resource, use: int, funds: Funds
) -> None:
    usage = steady(resource, use, rule.base)
    d = caps(recommend(usage, rule), rule, funds, ROOM)
    one_step = min(rule.base + rule.step, rule.ceiling)
    next_hour = hourly_cost(rule, one_step) + funds.other_hourly
    allowed = (
        funds.elastic
        and one_step > rule.base
        and funds.wallet >= next_hour
        and (funds.max_daily is None or funds.spent_today + next_hour <= funds.max_daily)
    )
    assert (d.kind == "raise") == (allowed and use * 100 >= rule.up_percent * rule.base)


@given(st.data(), resources, rules(), funds, st.integers(0, 20_000))
def test_recommend_then_caps_never_leaves_base_ceiling_or_use_plus_margin(
    data: st.DataObject, resource: Resource, rule: Rule, funds: Funds, free: int
) -> None:
    usage = data.draw(usages(resource, rule))
    d = caps(recommend(usage, rule), rule, funds, free)
    if d.kind in ("raise", "deferred"):
        assert usage.current < d.to <= rule.ceiling
        assert funds.elastic
    if d.kind == "lower":
        assert rule.base <= d.to < usage.current
        if resource != "cpu":
            peak = max(usage.uses[usage.span(NOW - rule.down_after_s)])
            assert d.to >= peak * 110 / 100
