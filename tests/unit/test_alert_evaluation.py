"""Alert rules evaluated on recorded series: for-duration, hysteresis, repeat, inhibition,
silences, resolved notices, grouping, and the disk's time-to-full prediction."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from glue.catalog import CatalogError
from glue.errors import BubbleError
from glue.monitor.evaluate import (
    Alert,
    Key,
    Notice,
    Reading,
    Silence,
    plan_notices,
    step,
    time_to_full,
)
from glue.monitor.health import Disk, Health
from glue.monitor.readings import server_readings
from glue.monitor.rules import AlertsConfig, alerts_path, load_alerts, save_alerts, with_rule


def config(**rules: dict[str, object]) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {"rules": rules, "grouping": {"group_wait": "0s", "group_interval": "0s", "repeat": "4h"}}
    )


def replay(
    cfg: AlertsConfig,
    series: Sequence[Sequence[Reading]],
    every: float = 10,
    silences: Sequence[Silence] = (),
) -> tuple[list[tuple[float, Notice]], dict[Key, Alert]]:
    """Feed one list of readings per tick, `every` seconds apart; the notices sent, by time."""
    alerts: dict[Key, Alert] = {}
    groups: dict[str, float] = {}
    sent: list[tuple[float, Notice]] = []
    for i, readings in enumerate(series):
        now = 1000.0 + i * every
        alerts = step(alerts, readings, cfg, now)
        plan = plan_notices(alerts, silences, groups, cfg, now)
        sent += [(now, n) for n in plan.notices]
        alerts, groups = plan.alerts, plan.groups
    return sent, alerts


def disk(free: float, server: str = "web1") -> list[Reading]:
    return [Reading("disk-low", server, free)]


def names(notice: Notice) -> tuple[list[str], list[str]]:
    return [a.rule for a in notice.firing], [a.rule for a in notice.resolved]


def test_for_duration_holds_back_until_the_measure_stays_past_fire() -> None:
    cfg = config(**{"disk-low": {"for": "30s", "clear_for": "0s"}})
    # A 20 s dip does not fire; a dip of 30 s does, at its 30th second.
    sent, _ = replay(
        cfg, [disk(50), disk(8), disk(8), disk(50), disk(8), disk(8), disk(8), disk(8)]
    )
    assert [(t, names(n)) for t, n in sent] == [(1070.0, (["disk-low"], []))]


def test_hysteresis_keeps_firing_between_clear_and_fire_and_resolves_once() -> None:
    cfg = config(**{"disk-low": {"for": "0s", "clear_for": "0s", "fire": 10, "clear": 20}})
    sent, alerts = replay(cfg, [disk(9), disk(15), disk(11), disk(9), disk(19), disk(21), disk(9)])
    assert [(t, names(n)) for t, n in sent] == [
        (1000.0, (["disk-low"], [])),
        (1050.0, ([], ["disk-low"])),  # 15 and 19 are between: still firing, no flapping
        (1060.0, (["disk-low"], [])),
    ]
    assert alerts[("disk-low", "web1", "")].state == "firing"


def test_clear_for_waits_before_resolving() -> None:
    cfg = config(**{"disk-low": {"for": "0s", "clear_for": "30s"}})
    sent, _ = replay(
        cfg, [disk(5), disk(50), disk(50), disk(5), disk(50), disk(50), disk(50), disk(50)]
    )
    # the return to 5 % within 30 s of clearing is the same episode: one firing notice
    assert [(t, names(n)) for t, n in sent] == [
        (1000.0, (["disk-low"], [])),
        (1070.0, ([], ["disk-low"])),
    ]


def test_repeat_interval_resends_a_firing_alert() -> None:
    cfg = config(**{"service-failing": {"for": "0s", "repeat": "30s"}})
    series = [[Reading("service-failing", "web1", 1)]] * 8
    sent, _ = replay(cfg, series)
    assert [t for t, _ in sent] == [1000.0, 1030.0, 1060.0]


def test_grouping_waits_for_company_then_sends_one_notice_per_server() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "rules": {
                "service-failing": {"for": "0s"},
                "disk-low": {"for": "0s", "clear_for": "0s"},
            },
            "grouping": {"group_wait": "30s", "group_interval": "5m"},
        }
    )
    first = [Reading("service-failing", "web1", 1), Reading("disk-low", "web1", 50)]
    both = [Reading("service-failing", "web1", 1), Reading("disk-low", "web1", 5)]
    sent, _ = replay(cfg, [first, first, both, both, both, both, both])
    assert [(t, sorted(names(n)[0])) for t, n in sent] == [
        (1030.0, ["disk-low", "service-failing"])
    ]
    # a change after the first notice waits group_interval
    series = [first, first, first, first, both] + [both] * 40
    sent, _ = replay(cfg, series)
    assert [(t, names(n)[0]) for t, n in sent] == [
        (1030.0, ["service-failing"]),
        (1330.0, ["disk-low"]),
    ]


def test_a_critical_alert_inhibits_the_warnings_on_its_server_only() -> None:
    cfg = config(**{"server-down": {"for": "0s"}, "service-failing": {"for": "0s"}})
    readings = [
        Reading("server-down", "web1", 120),
        Reading("service-failing", "web1", 2),
        Reading("service-failing", "web2", 1),
    ]
    sent, alerts = replay(cfg, [readings, readings])
    assert {(n.server, tuple(a.rule for a in n.firing)) for _, n in sent} == {
        ("web1", ("server-down",)),
        ("web2", ("service-failing",)),
    }
    # the warning is still firing (listed), only its notice is held back
    assert alerts[("service-failing", "web1", "")].state == "firing"
    # once the critical one resolves, the warning beneath is notified
    up = [Reading("server-down", "web1", 0), readings[1], readings[2]]
    sent, _ = replay(cfg, [readings, up])
    assert [(n.server, names(n)) for t, n in sent if t == 1010.0] == [
        ("web1", (["service-failing"], ["server-down"]))
    ]


def test_a_silence_holds_notices_until_it_expires() -> None:
    cfg = config(**{"service-failing": {"for": "0s"}})
    series = [[Reading("service-failing", "web1", 1)]] * 6
    silence = Silence("web1", until=1030.0, reason="maintenance")
    sent, _ = replay(cfg, series, silences=[silence])
    assert [t for t, _ in sent] == [1030.0]
    by_rule = Silence("service-failing", until=9999.0)
    sent, alerts = replay(cfg, series, silences=[by_rule])
    assert sent == [] and alerts[("service-failing", "web1", "")].state == "firing"
    # resolved while silenced and never notified: no resolved notice, and closed
    sent, alerts = replay(
        cfg, [*series, [Reading("service-failing", "web1", 0)]], silences=[by_rule]
    )
    assert sent == [] and alerts[("service-failing", "web1", "")].state == "closed"


def test_missing_data_keeps_an_alert_and_a_gone_server_resolves_it() -> None:
    cfg = config(**{"service-failing": {"for": "0s"}})
    sent, alerts = replay(
        cfg, [[Reading("service-failing", "web1", 1)], [Reading("service-failing", "web1", None)]]
    )
    assert len(sent) == 1 and alerts[("service-failing", "web1", "")].state == "firing"
    sent, _ = replay(cfg, [[Reading("service-failing", "web1", 1)], []])
    assert [names(n) for _, n in sent] == [(["service-failing"], []), ([], ["service-failing"])]


def test_critical_threshold_and_prediction_raise_severity_and_notify_again() -> None:
    cfg = config(**{"disk-low": {"for": "0s", "clear_for": "0s"}})
    series = [disk(8), disk(2), [Reading("disk-low", "web2", 40, crit=True)]]
    sent, alerts = replay(cfg, series)
    assert [(n.server, [a.severity for a in n.firing]) for _, n in sent][:2] == [
        ("web1", ["warning"]),
        ("web1", ["critical"]),
    ]
    assert alerts[("disk-low", "web2", "")].severity == "critical"


def test_account_alerts_name_their_owner() -> None:
    cfg = config(**{"wallet-low": {"for": "0s"}})
    sent, _ = replay(cfg, [[Reading("wallet-low", "web1", 5, account="alice")]])
    assert sent[0][1].accounts == ["alice"]


def test_time_to_full_from_a_linear_trend() -> None:
    gib = 1024**3
    # 10 GiB free, losing 1 GiB an hour: full in 10 h (sampled every 5 min over 2 h)
    points = [(t, 12 * gib - t * gib / 3600) for t in range(0, 7201, 300)]
    assert time_to_full(points) == pytest.approx(10 * 3600)
    assert time_to_full([(t, 5 * gib) for t in range(0, 600, 60)]) is None  # flat
    assert time_to_full([(0, 1.0)]) is None
    assert time_to_full([(t, t * 10.0) for t in range(10)]) is None  # growing free space


GIB = 1024**3


def srv(free_gib: float, trend: list[tuple[float, float]]) -> list[Reading]:
    """disk-low's reading of a 100 GiB /srv with `free_gib` free now and the agent's trend."""
    health = Health("web1", "198.18.0.1", ssh=True, heartbeat_age_s=5,
                    disks=[Disk("/srv", int(free_gib * GIB), 100 * GIB, trend=trend)])  # fmt: skip
    return [r for r in server_readings([health], AlertsConfig()) if r.rule == "disk-low"]


def test_a_predicted_fill_counts_only_while_the_disk_is_under_its_free_threshold() -> None:
    """node_exporter's NodeFilesystemSpaceFillingUp: 24 h under 40 % free is a warning, 4 h
    under 20 % critical; with most of the disk free a falling trend is not an alert."""
    losing = [(t, (70 - t / 3600) * GIB) for t in range(0, 7201, 300)]  # 68 GiB, 1 GiB/h
    assert time_to_full(losing) == pytest.approx(68 * 3600)  # > 24 h: nothing to say
    (quiet,) = srv(68, losing)
    assert (quiet.warn, quiet.crit, quiet.summary) == (False, False, "/srv 68.0 % free")
    fast = [(t, (60 - 20 * t / 3600) * GIB) for t in range(0, 7201, 300)]  # 20 GiB, -20 GiB/h
    for free, warn, crit in ((60, False, False), (39, True, False), (19, True, True)):
        (reading,) = srv(free, fast)
        assert (reading.warn, reading.crit) == (warn, crit), free
    (soon,) = srv(19, fast)
    assert soon.summary == "/srv 19.0 % free; /srv full in 1.0 h"


def test_a_disk_filled_and_emptied_again_resolves_at_once() -> None:
    """The agent's trend is 5-min means over 6 h: the fill is still in the newest one after
    `rm`, so the line falls for minutes more. Without the free-% gate the freed disk stayed
    "full in 0.3 h" (critical) until the bucket rolled over (the lab's disk-low test, stop 25)."""
    cfg = config(**{"disk-low": {"for": "0s", "clear_for": "0s"}})
    filled = [(t, 60 * GIB) for t in range(0, 3600, 300)] + [(3600, 5 * GIB)]
    assert time_to_full(filled) is not None and time_to_full(filled) < 4 * 3600
    sent, alerts = replay(cfg, [srv(5, filled), srv(60, filled)])
    assert [(t, names(n)) for t, n in sent] == [
        (1000.0, (["disk-low"], [])),
        (1010.0, ([], ["disk-low"])),
    ]
    assert alerts[("disk-low", "web1", "")].state != "firing"


def test_rules_in_the_catalog_are_validated_naming_rule_and_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    alerts_path(tmp_path).parent.mkdir(parents=True)
    alerts_path(tmp_path).write_text("rules:\n  disk-low:\n    for: soon\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"rules\.disk-low\.for: 'soon' is not a duration"):
        load_alerts(tmp_path)
    alerts_path(tmp_path).write_text("rules:\n  disk-lo: {}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"rules\.disk-lo: unknown rule"):
        load_alerts(tmp_path)
    with pytest.raises(BubbleError, match=r"rules\.disk-low\.clear: 5 must be at or above fire"):
        with_rule(AlertsConfig(), "disk-low", {"clear": 5})
    assert with_rule(AlertsConfig(), "disk-low", {"for": "30s"}).rules["disk-low"].for_s == 30
    # a knob set to 0 stays 0 once written (not the default again)
    save_alerts(tmp_path, with_rule(AlertsConfig(), "disk-low", {"clear_for": "0s"}))
    assert load_alerts(tmp_path).rules["disk-low"].clear_for_s == 0
    # the prediction's free-% gates: written out, read back, and a percent
    assert "full_within_critical_under: 20" in alerts_path(tmp_path).read_text(encoding="utf-8")
    edited = with_rule(load_alerts(tmp_path), "disk-low", {"full_within_under": 25.5})
    save_alerts(tmp_path, edited)
    assert load_alerts(tmp_path).rules["disk-low"].full_within_under == 25.5
    with pytest.raises(BubbleError, match=r"rules\.disk-low\.full_within_under: .*100"):
        with_rule(AlertsConfig(), "disk-low", {"full_within_under": 140})
