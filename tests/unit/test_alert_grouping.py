"""`bubble alerts grouping set/show` and `bubble alerts rule set`: written through the
catalog; a bad value is one line naming it and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from glue.monitor.rules import alerts_path, load_alerts
from tests.support.cli import CliResult


def test_grouping_set_writes_the_catalog_and_refuses_a_bad_duration(
    root: Path, bubble: Callable[..., CliResult]
) -> None:
    code, out, err = bubble("alerts", "grouping", "set", "--wait", "10s", "--interval", "2m")
    assert code == 0, err
    assert "group_wait 10s, group_interval 2m, repeat 4h" in out
    waits = load_alerts(root).grouping
    assert (waits.group_wait_s, waits.group_interval_s, waits.repeat_s) == (10, 120, 14400)
    code, out, _ = bubble("alerts", "grouping", "show", "--json")
    assert json.loads(out) == {"group_wait": "10s", "group_interval": "2m", "repeat": "4h"}

    before = alerts_path(root).read_bytes()
    code, _, err = bubble("alerts", "grouping", "set", "--wait", "0s", "--interval", "soon")
    assert code != 0
    assert err.strip().splitlines() == [
        "error: catalog/alerts.yml: grouping.group_interval: 'soon' is not a duration such as"
        " 30s, 5m or 4h (got 'soon')"
    ]
    assert alerts_path(root).read_bytes() == before  # nothing half-written: group_wait kept
    code, _, err = bubble("alerts", "grouping", "set")
    assert code != 0 and "nothing to change" in err


def test_rule_set_changes_the_disk_predictions_knobs(
    root: Path, bubble: Callable[..., CliResult]
) -> None:
    code, out, err = bubble(
        "alerts", "rule", "set", "disk-low", "--full-within", "12h", "--full-within-under", "30"
    )
    assert code == 0, err
    assert "rule disk-low: full_within 12h, full_within_under 30" in out
    disk = load_alerts(root).rules["disk-low"]
    assert (disk.full_within_s, disk.full_within_under) == (12 * 3600, 30)
    assert (disk.full_within_critical_s, disk.full_within_critical_under) == (4 * 3600, 20)

    before = alerts_path(root).read_bytes()
    code, _, err = bubble("alerts", "rule", "set", "disk-low", "--full-within-critical-under", "0")
    assert code != 0
    assert err.strip().splitlines() == [
        "error: catalog/alerts.yml: rules.disk-low.full_within_critical_under: Input should be"
        " greater than 0 (got 0.0)"
    ]
    assert alerts_path(root).read_bytes() == before
