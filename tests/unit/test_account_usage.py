"""`bubble account usage` against a real influxd holding points written in the agent's line
protocol (scaler/agent_lineproto.py, through InfluxClient.write)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from glue.panel.graphs import usage_svg
from glue.services.context import Context
from glue.services.usage import usage_graph
from glue.settings import Settings
from glue.state.schema import scaler_events
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient
from tests.support.cli import invoke
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, Influxd, free_port, running_influxd
from tests.support.panel import PASSWORD, Client, running_panel

MIB = 1024 * 1024
DATABASE = "usage"


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    with running_influxd(tmp_path_factory.mktemp("influxd")) as running:
        yield running


def settings(url: str) -> dict[str, str]:
    return {"BUBBLE_INFLUX_URL": url, "BUBBLE_INFLUX_DATABASE": DATABASE,
            "BUBBLE_INFLUX_AUTH": "basic", "BUBBLE_INFLUX_USERNAME": ADMIN,
            "BUBBLE_INFLUX_PASSWORD": ADMIN_PASSWORD, "BUBBLE_APPLY": "0"}  # fmt: skip


@pytest.fixture
def root_with_samples(root: Path, influxd: Influxd) -> tuple[Path, int]:
    """alice and bob on web1; the last 10 minutes of their samples every 5 s up to `now`
    (ms). alice: 400 of 1000 MHz, 300 of 2048 MiB, 1 GiB of 30 GiB, 12 of 256 tasks; 3 CPU
    periods throttled per sample in the last minute, one OOM kill 30 s ago, and no disk read
    60 s ago."""
    for args in (
        ("server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2",
         "--memory", "8GiB", "--disk", "100GiB"),
        ("account", "create", "alice", "--domain", "alice.example"),
        ("account", "create", "bob", "--domain", "bob.example"),
    ):  # fmt: skip
        assert invoke(*args, root=root, env={"BUBBLE_APPLY": "0"}).exit_code == 0
    client = InfluxClient(Endpoint(influxd.url, DATABASE, "basic", ADMIN, ADMIN_PASSWORD))
    client.execute(f"CREATE DATABASE {DATABASE}", database="")
    now = int(dt.datetime.now(dt.UTC).timestamp()) * 1000
    rows: list[tuple[dict[str, str], dict[str, Any], int]] = []
    for k in range(120, -1, -1):  # oldest first
        at = now - k * 5000
        fields: dict[str, Any] = {
            "cpu_mhz": 400, "cpu_limit_mhz": 1000, "mem_bytes": 300 * MIB,
            "mem_max_bytes": 2048 * MIB, "disk_bytes": 1024 * MIB, "disk_max_bytes": 30720 * MIB,
            "tasks": 12, "tasks_max": 256,
            "cpu_throttled_periods": 500 + 3 * max(0, 12 - k), "mem_oom_kills": int(k <= 6),
        }  # fmt: skip
        if k == 12:
            del fields["disk_bytes"], fields["disk_max_bytes"]
        rows.append(({"server": "web1", "account": "alice"}, fields, at))
        rows.append(({"server": "web1", "account": "bob"}, {"cpu_mhz": 7, "cpu_limit_mhz": 9}, at))
    client.write("account", rows)
    return root, now


def influx_settings(url: str) -> Settings:
    return Settings(influx_url=url, influx_database=DATABASE, influx_auth="basic",
                    influx_username=ADMIN, influx_password=ADMIN_PASSWORD)  # fmt: skip


def usage(root: Path, url: str, *args: str) -> tuple[int, str, str]:
    result = invoke("account", "usage", *args, root=root, env=settings(url))
    return result.exit_code, result.stdout, result.stderr


def test_usage_shows_use_limit_and_faults_per_sample(
    root_with_samples: tuple[Path, int], influxd: Influxd
) -> None:
    root, now = root_with_samples
    code, out, err = usage(root, influxd.url, "alice", "--since", "2m", "--json")
    assert code == 0, err
    rows = json.loads(out)
    times = [dt.datetime.fromisoformat(r["at"]).timestamp() * 1000 for r in rows]
    # Every 5 s of the last 2 minutes (the oldest may just have left the window), oldest first.
    assert times == sorted(times) and 24 <= len(rows) <= 25 and times[-1] == now
    assert all(t >= now - 125_000 for t in times)
    last = rows[-1]
    assert (last["cpu"], last["memory"], last["disk"]) == (
        {"use": 400, "limit": 1000}, {"use": 300, "limit": 2048}, {"use": 1024, "limit": 30720}
    )  # fmt: skip
    by_age = {round((now - t) / 5000): r for t, r in zip(times, rows, strict=True)}
    assert by_age[12]["disk"] == {"use": None, "limit": None}  # not read: a hole, not a zero
    # Only the counters the agent reported; each as its rise since the sample before.
    assert by_age[13]["events"] == {"cpu_throttled": 0, "oom_kills": 0}
    assert by_age[11]["events"]["cpu_throttled"] == 3
    assert by_age[6]["events"]["oom_kills"] == 1 and by_age[5]["events"]["oom_kills"] == 0
    code, out, _ = usage(root, influxd.url, "alice", "--since", "1m")
    assert code == 0 and "400 / 1000" in out and "oom_kills 1" in out and "cpu_throttled 3" in out
    code, out, _ = usage(root, influxd.url, "bob", "--json")
    assert code == 0 and {(r["cpu"]["use"], r["cpu"]["limit"]) for r in json.loads(out)} == {(7, 9)}


def test_usage_with_influxdb_away_or_an_unknown_account_is_one_line(
    root_with_samples: tuple[Path, int], influxd: Influxd
) -> None:
    root, _ = root_with_samples
    code, out, err = usage(root, f"http://127.0.0.1:{free_port()}", "alice")
    assert (code, out) == (1, "") and len(err.strip().splitlines()) == 1
    assert (
        err.startswith("error: usage of alice: InfluxDB at http://127.0.0.1:")
        and "unreachable" in err
    )
    code, out, err = usage(root, influxd.url, "carol")
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1
    assert "unknown account 'carol'" in err


def test_the_usage_graph_draws_use_limit_base_and_the_raises_in_its_window(
    root_with_samples: tuple[Path, int], influxd: Influxd
) -> None:
    root, now_ms = root_with_samples
    ctx = Context(root=root, settings=influx_settings(influxd.url))
    now = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC)
    with ctx.engine.begin() as connection:
        for minutes, reason in ((2, "busy <script>"), (120, "before the window")):
            connection.execute(insert(scaler_events).values(
                at=now - dt.timedelta(minutes=minutes), account="alice", resource="cpu",
                kind="raise", from_value=1000, to_value=1500, reason=reason,
            ))  # fmt: skip
    data = usage_graph(ctx, "alice", 3600, points=60, now=now + dt.timedelta(seconds=1))
    cpu = data["series"]["cpu"]
    # The last 10 minutes of samples, one point a minute (InfluxDB's intervals: 10 or 11).
    assert data["step"] == 60 and 10 <= len(cpu) <= 11
    assert [p[1:] for p in cpu] == [[400, 1000]] * len(cpu)
    assert data["base"]["cpu"] == 1000 and data["series"]["memory"][-1][1:] == [300, 2048]
    assert data["base"]["processes"] == 256 and data["series"]["processes"][-1][1:] == [12, 256]
    assert [m["reason"] for m in data["marks"]["cpu"]] == ["busy <script>"]
    svg = str(usage_svg(data, "cpu"))
    assert svg.count("<polyline") == 2 and 'class="mark raise"' in svg
    assert "busy &lt;script&gt;" in svg and "<script>" not in svg
    assert " raise 1000 → 1500 MHz: " in svg and "base 1000 MHz" in svg
    # A Polish page's hover texts are Polish (the scaler's reason stays as it wrote it).
    polish = str(usage_svg(data, "cpu", "pl"))
    assert " podniesienie 1000 → 1500 MHz: busy" in polish and "baza 1000 MHz" in polish
    assert " raise " not in polish and "użycie wobec bazy" in polish
    processes = str(usage_svg(data, "processes"))
    assert processes.count("<polyline") == 2 and "base 256 tasks" in processes


def test_the_admins_pages_show_current_use_and_draw_the_four_graphs(
    root_with_samples: tuple[Path, int], influxd: Influxd
) -> None:
    root, _ = root_with_samples
    env = {"BUBBLE_APPLY": "0", "BUBBLE_PASSWORD": PASSWORD}
    assert invoke("panel", "admin", "add", "root", root=root, env=env).exit_code == 0
    with running_panel(root, influx_settings(influxd.url)) as url:
        admin = Client(url)
        admin.login("root")
        page = admin.request("GET", "/admin/accounts/alice?range=1h").text
        assert 'id="usage-note"' not in page
        for resource in ("cpu", "memory", "disk", "processes"):
            assert f'id="graph-{resource}"' in page
        assert "base 256 tasks" in page and "<strong>1h</strong>" in page
        assert admin.request("GET", "/admin/accounts/alice?range=1y").status == 422
        # The list: use now / in force (base) per resource, for the page's accounts.
        listed = admin.request("GET", "/admin/accounts").text
        assert 'id="use-alice-cpu">400 / 1000 (1000)<' in listed
        assert 'id="use-alice-processes">12 / 256 (256)<' in listed
        assert 'id="use-bob-cpu">7 / 1000 (1000)<' in listed
        assert 'id="use-bob-memory">– / 2048 (2048)<' in listed  # bob's agent sent no memory
        found = admin.request("GET", "/admin/accounts?q=bob.ex").text
        assert "use-bob-cpu" in found and "use-alice-cpu" not in found
