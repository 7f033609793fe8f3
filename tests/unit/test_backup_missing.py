"""backup-missing: the accounts' last good backups (as glue.services.backups.last_good_backups
answered, recorded below) -> readings -> alerts; the repositories read once per refresh
interval, in the background after the first read, never once per tick."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

from glue.monitor.channels import Delivery
from glue.monitor.evaluate import step
from glue.monitor.readings import NEVER, LastBackups, LastGood, backup_readings
from glue.monitor.rules import AlertsConfig
from glue.monitor.run import tick
from glue.services.context import Context
from glue.services.monitoring import firing_alerts
from glue.settings import Settings
from tests.support.cli import CliResult
from tests.support.models import account, catalog, server

NOTHING = Delivery([], [])  # no channel: nothing sent, nothing failed
NOW = dt.datetime(2026, 12, 3, 4, 0, tzinfo=dt.UTC).timestamp()
# last_good_backups as it answered on a fleet: borg's UTC times, None for no archive.
RECORDED: LastGood = {
    "alice": "2026-12-03T02:00:00.000000",  # 2 h ago
    "bob": "2026-12-02T01:30:00.000000",  # 26.5 h ago
    "carol": None,  # on a backed-up server, never backed up
    "dave": None,  # on a server without a backup server
}
CATALOG = catalog(
    {"web1": server(), "web2": server(), "bk": server(role="backup")},
    {
        "alice": account("web1"),
        "bob": account("web1"),
        "carol": account("web1"),
        "dave": account("web2"),
        "erin": account("web1"),  # created since the last read
        "gone": account("web1", state="removing"),
    },
)


def test_old_or_missing_backups_fire_only_on_backed_up_servers() -> None:
    readings = {r.account: r for r in backup_readings(CATALOG, {"web1"}, RECORDED, NOW)}
    assert set(readings) == {"alice", "bob", "carol", "erin"}
    assert readings["alice"].value == 2.0 and readings["bob"].value == 26.5
    assert readings["carol"].value == NEVER and readings["carol"].summary == "no backup yet"
    assert readings["erin"].value is None  # not read yet: no data, not "missing"
    assert all(r.server == "web1" and r.rule == "backup-missing" for r in readings.values())

    config = AlertsConfig()
    alerts = step({}, readings.values(), config, NOW)
    firing = {a.account for a in alerts.values() if a.state == "firing"}
    assert firing == {"bob", "carol"}  # over the rule's 26 h, or none at all
    assert "26.5 h ago" in alerts[("backup-missing", "web1", "bob")].summary

    # bob's nightly backup lands: his alert resolves; carol's stays; a read that has not
    # answered yet (None) keeps every alert as it is.
    later = NOW + 3600
    fresh = {**RECORDED, "bob": "2026-12-03T04:30:00.000000"}
    after = step(alerts, backup_readings(CATALOG, {"web1"}, fresh, later), config, later)
    states = {a.account: a.state for a in after.values()}
    assert states == {"bob": "resolved", "carol": "firing"}
    kept = step(alerts, backup_readings(CATALOG, {"web1"}, None, later), config, later)
    assert kept == alerts
    # web1 no longer backed up (its backup server gone from the catalog): the alerts clear.
    cleared = step(alerts, backup_readings(CATALOG, set(), RECORDED, later), config, later)
    assert {a.state for a in cleared.values()} == {"resolved"}


def counting(answer: LastGood, gate: threading.Event) -> tuple[Callable[[], LastGood], list[int]]:
    calls: list[int] = []

    def read() -> LastGood:
        calls.append(1)
        if len(calls) > 1:
            assert gate.wait(10)
        return answer

    return read, calls


def test_repositories_are_read_once_per_refresh_and_never_hold_a_tick_up() -> None:
    gate = threading.Event()
    read, calls = counting(RECORDED, gate)
    cache = LastBackups(read, refresh_s=900)
    assert cache.get(NOW) == RECORDED and len(calls) == 1  # the first read waits
    for second in range(0, 900, 5):  # a tick every 5 s for 15 minutes: no read
        assert cache.get(NOW + second) == RECORDED
    assert len(calls) == 1
    started = time.monotonic()
    assert cache.get(NOW + 900) == RECORDED  # due: read in the background ...
    assert time.monotonic() - started < 1, "a tick waited on borg"
    assert cache.get(NOW + 905) == RECORDED and len(calls) == 2  # ... one at a time
    gate.set()
    assert cache._reading is not None
    cache._reading.join(10)
    assert cache.get(NOW + 910) == RECORDED and len(calls) == 2


def test_a_failed_read_keeps_what_was_read_before() -> None:
    answers: list[LastGood | Exception] = [RECORDED, OSError("ssh: no route to host")]

    def read() -> LastGood:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = LastBackups(read, refresh_s=60)
    assert cache.get(NOW) == RECORDED
    cache.get(NOW + 60)
    assert cache._reading is not None
    cache._reading.join(10)
    assert cache.get(NOW + 61) == RECORDED


def test_the_monitor_tick_alerts_on_a_missing_backup(
    root: Path, bubble: Callable[..., CliResult]
) -> None:
    """The tick's wiring on a real root and state DB: no repository is read while the
    catalog has no backup server; with one, once per refresh interval."""
    spec = ("--provider", "lab", "--cores", "2", "--core-ghz", "2", "--memory", "4GiB",
            "--disk", "40GiB")  # fmt: skip
    for name in ("web1", "web2"):
        assert bubble("server", "add", name, *spec)[0] == 0
    for name, web in (("alice", "web1"), ("bob", "web1"), ("carol", "web2")):
        code, _, err = bubble("account", "create", name, "--domain", f"{name}.example",
                              "--server", web, "--no-apply")  # fmt: skip
        assert code == 0, err
    recorded = {"alice": "2026-12-03T03:00:00", "bob": "2026-12-01T23:00:00", "carol": None}
    reads: list[int] = []
    cache = LastBackups(lambda: reads.append(1) or recorded, refresh_s=900)
    ctx = Context(root, Settings())

    def missing(at: float) -> list[tuple[str, str, str]]:
        tick(ctx, None, at, probes=False, send=lambda *_: NOTHING, backups=cache)
        alerts = firing_alerts(ctx)
        return [(a["server"], a["account"]) for a in alerts if a["rule"] == "backup-missing"]

    assert missing(NOW) == [] and reads == []  # nothing is backed up: nothing to read
    assert bubble("server", "add", "bk", *spec, "--role", "backup")[0] == 0
    for second in (0, 5, 10):
        assert missing(NOW + second) == [("web1", "bob"), ("web2", "carol")]
    assert len(reads) == 1
