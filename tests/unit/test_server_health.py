"""The control plane's probes: ssh's banner, HTTP on the server and each account's site by its
own Host header; bounded by their timeout and concurrent, so a fleet that hangs costs a few
timeouts, not one per probe."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from glue.monitor.health import Ports, fleet_health
from glue.monitor.readings import server_readings
from glue.monitor.rules import AlertsConfig
from tests.support.models import account, catalog, server


@pytest.fixture
def fleet() -> Iterator[Ports]:
    """An ssh banner and an nginx on loopback: alice's site answers 200, bob's 502 (its PHP
    is down), any other Host 404."""
    seen: list[str] = []

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = self.headers["Host"]
            seen.append(host)
            self.send_response({"alice.example": 200, "bob.example": 502}.get(host, 404))
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    web = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    ssh = socket.create_server(("127.0.0.1", 0))

    def banner() -> None:
        while True:
            try:
                conn, _ = ssh.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.close()

    threading.Thread(target=web.serve_forever, daemon=True).start()
    threading.Thread(target=banner, daemon=True).start()
    yield Ports(ssh=ssh.getsockname()[1], http=web.server_address[1])
    web.shutdown()
    ssh.close()


def test_probes_name_each_site_by_its_own_host(fleet: Ports) -> None:
    cat = catalog(
        {"web1": server()},
        {
            "alice": account("web1", domains=["alice.example"]),
            "bob": account("web1", domains=["bob.example"]),
        },
    )
    health = fleet_health(cat, {"web1": "127.0.0.1"}, None, time.time(), ports=fleet)["web1"]
    assert health.ssh is True and health.http == 404
    assert health.sites == {"alice.example": 200, "bob.example": 502}
    assert health.failing == ["site bob.example: 502"]
    readings = {r.rule: r for r in server_readings([health], AlertsConfig())}
    assert readings["service-failing"].value == 1
    assert readings["server-down"].value == 0  # ssh answers: not down, whatever the heartbeat
    assert readings["reporter-silent"].value == 10**9  # ... but its agent never reported


def test_hanging_servers_cost_a_few_timeouts_not_one_per_probe() -> None:
    """200 servers and 200 sites whose connections are taken but never answered: 600
    probes at 0.2 s each would be 2 minutes one by one."""
    hang = socket.create_server(("127.0.0.1", 0), backlog=1024)
    port = hang.getsockname()[1]
    servers = {f"web{i}": server() for i in range(200)}
    accounts = {f"a{i}": account(f"web{i}", domains=[f"a{i}.example"]) for i in range(200)}
    started = time.monotonic()
    health = fleet_health(
        catalog(servers, accounts),
        dict.fromkeys(servers, "127.0.0.1"),
        None,
        time.time(),
        timeout=0.2,
        ports=Ports(port, port),
    )
    took = time.monotonic() - started
    hang.close()
    assert all(h.ssh is False and isinstance(h.http, str) for h in health.values())
    assert all(isinstance(s, str) for h in health.values() for s in h.sites.values())
    assert took < 600 / 64 * 0.2 + 3, took


def test_servers_not_built_or_down_on_purpose_raise_no_alert() -> None:
    """A cloud server before its first apply has no address; one set `state: down` is off on
    purpose: neither has a heartbeat nor ssh, and neither is 'server-down'."""
    cat = catalog({"new": server(), "off": server(state="down")}, {})
    health = fleet_health(
        cat, {"new": None, "off": "198.18.250.9"}, None, time.time(), probes=False
    )
    assert set(health) == {"new", "off"}
    assert server_readings(list(health.values()), AlertsConfig()) == []


def test_a_wallet_with_less_than_a_day_of_burn_is_read_to_the_cent(root: Path) -> None:
    """alice boosted one CPU step (0.02 an hour) with 0.10 left: 5 hours; bob's boost is
    paid for 100 hours; carol burns nothing (no boost): no reading."""
    import datetime as dt

    from glue.catalog import save_account, save_servers
    from glue.monitor.readings import account_readings
    from glue.services.context import Context
    from glue.state.schema import boosts

    ctx = Context(root=root)
    cat = ctx.catalog().with_server("web1", server())
    save_servers(cat)
    for name in ("alice", "bob", "carol"):
        cat = cat.with_account(name, account("web1", domains=[f"{name}.example"], elastic=True))
        save_account(cat, name)
    with ctx.ledger.transaction() as db:
        ctx.ledger.post(db, "alice", 10, "credit", "c-alice")
        ctx.ledger.post(db, "bob", 200, "credit", "c-bob")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with ctx.engine.begin() as db:
        db.execute(
            boosts.insert(),
            [
                {"account": n, "resource": "cpu", "value": 1500, "since": since, "until": None}
                for n in ("alice", "bob")
            ],
        )
    readings = account_readings(ctx.catalog(), {}, ctx.engine, time.time())
    wallets = {r.account: r.value for r in readings if r.rule == "wallet-low"}
    assert wallets == {"alice": 5.0, "bob": 100.0}
    fires = AlertsConfig().rules["wallet-low"].fire
    assert wallets["alice"] <= fires < wallets["bob"]
