"""The panel's API in bounded answers, served for real (uvicorn on loopback) with a real
influxd: the account list a page at a time (searched as the accounts page searches), and
usage over 30 days in about `points` intervals, never every sample."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glue.settings import Settings
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, running_influxd
from tests.support.panel import Client, panel_root, running_panel
from tests.support.panel import api_token as token

pytestmark = pytest.mark.integration
ACCOUNTS = ("alice", "bob", "carol", "dave", "erin")
DATABASE = "paging"
DAYS_30 = 30 * 86_400
EVERY = 300  # seconds between samples: 30 days of them are 8,641


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return panel_root(tmp_path_factory.mktemp("paging"), accounts=ACCOUNTS)


@pytest.fixture(scope="module")
def url(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The panel with alice's last 30 days of usage, a sample every 5 minutes."""
    with running_influxd(tmp_path_factory.mktemp("influxd")) as influxd:
        endpoint = Endpoint(influxd.url, DATABASE, "basic", ADMIN, ADMIN_PASSWORD)
        seed(InfluxClient(endpoint))
        settings = Settings(influx_url=influxd.url, influx_database=DATABASE,
                            influx_auth="basic", influx_username=ADMIN,
                            influx_password=ADMIN_PASSWORD)  # fmt: skip
        with running_panel(root, settings) as found:
            yield found


def seed(influx: InfluxClient) -> None:
    influx.execute(f"CREATE DATABASE {DATABASE}", database="")
    now = int(time.time())
    fields = {"cpu_mhz": 400, "cpu_limit_mhz": 1000, "tasks": 12, "tasks_max": 256}
    rows = [({"server": "web1", "account": "alice"}, fields, (now - k) * 1000)
            for k in range(DAYS_30, -1, -EVERY)]  # fmt: skip
    influx.write("account", rows)


def names(reply: Any) -> list[str]:
    return [a["name"] for a in reply.json()]


def test_the_account_list_comes_a_page_at_a_time(url: str, root: Path) -> None:
    admin = Client(url, token=token(root, "--admin", "root"))
    first = admin.request("GET", "/api/v1/accounts?limit=2")
    assert first.status == 200 and names(first) == ["alice", "bob"]
    assert first.headers["X-Total-Count"] == "5"
    following = first.headers["Link"]
    assert following == '</api/v1/accounts?limit=2&offset=2>; rel="next"'
    second = admin.request("GET", following[1:].split(">", 1)[0])
    assert names(second) == ["carol", "dave"]
    last = admin.request("GET", "/api/v1/accounts?limit=2&offset=4")
    assert names(last) == ["erin"] and "Link" not in last.headers
    # Unless asked, a page of 50: all five here; the search is the accounts page's.
    assert names(admin.request("GET", "/api/v1/accounts")) == list(ACCOUNTS)
    searched = admin.request("GET", "/api/v1/accounts?q=DAVE.example")
    assert names(searched) == ["dave"] and searched.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=ten"])
def test_a_bad_limit_is_one_line_naming_it(url: str, root: Path, query: str) -> None:
    admin = Client(url, token=token(root, "--admin", "root"))
    reply = admin.request("GET", f"/api/v1/accounts?{query}")
    assert reply.status == 422 and reply.json()["detail"].startswith("query.limit: ")


def test_a_customer_pages_through_its_own_account_only(url: str, root: Path) -> None:
    bob = Client(url, token=token(root, "--account", "bob"))
    mine = bob.request("GET", "/api/v1/accounts?limit=1")
    assert names(mine) == ["bob"] and mine.headers["X-Total-Count"] == "1"
    assert "Link" not in mine.headers
    assert names(bob.request("GET", "/api/v1/accounts?offset=1")) == []
    others = bob.request("GET", "/api/v1/accounts?q=alice")
    assert names(others) == [] and others.headers["X-Total-Count"] == "0"


def test_thirty_days_of_usage_come_in_about_points_intervals(url: str, root: Path) -> None:
    alice = Client(url, token=token(root, "--account", "alice"))
    month = alice.request("GET", f"/api/v1/accounts/alice/usage?since={DAYS_30}&points=100")
    assert month.status == 200, month.text
    data = month.json()
    cpu = data["series"]["cpu"]
    assert data["step"] == DAYS_30 // 100 and 95 <= len(cpu) <= 101  # of 8,641 samples
    assert {(p[1], p[2]) for p in cpu} == {(400, 1000)}
    assert data["base"]["cpu"] == 1000 and set(data["series"]) >= {"cpu", "processes"}
    unasked = alice.request("GET", f"/api/v1/accounts/alice/usage?since={DAYS_30}").json()
    assert 235 <= len(unasked["series"]["cpu"]) <= 241  # the pages' 240
    too_many = alice.request("GET", "/api/v1/accounts/alice/usage?points=1001")
    assert too_many.status == 422 and too_many.json()["detail"].startswith("query.points: ")
