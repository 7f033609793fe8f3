"""The monitor end to end: real influxd (the agent's points), a real SMTP server (aiosmtpd,
STARTTLS and login required) and a webhook receiver each get exactly one notice per alert
and one resolved notice; every evaluation is `bubble monitor run --once` as a process of its
own, so each one is a restart: nothing is sent twice, nothing forgotten."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from glue.catalog import save_account, save_servers
from glue.monitor.readings import LIMIT_S
from glue.services.context import Context
from glue.services.root import init_root
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient
from tests.support.cli import invoke, run
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, Influxd, free_port, running_influxd
from tests.support.models import account, server
from tests.support.webhook import Receiver, receiving

pytestmark = pytest.mark.integration
SMTP_PASSWORD = "smtp-test-secret"
WEBHOOK_TOKEN = "T000/B000/hook-test-secret"


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    with running_influxd(tmp_path_factory.mktemp("influxd")) as running:
        yield running


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with receiving(WEBHOOK_TOKEN) as receiver:
        yield receiver


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[int, Path, list[Any]]]:
    """aiosmtpd on loopback with STARTTLS and login required: (port, its CA, messages)."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert, key = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    messages: list[Any] = []

    class Handler:
        async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
            assert session.authenticated  # login was required, over TLS
            messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
            return "250 OK"

    def login(_server: Any, _session: Any, _envelope: Any, _mechanism: str, auth: Any) -> Any:
        ok = auth.login == b"monitor" and auth.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,
        auth_required=True,
        authenticator=login,
    )
    controller.start()
    yield port, cert, messages
    controller.stop()


def write(influx: InfluxClient, now: float, failed: list[str], full: bool) -> None:
    """One tick of the agent on web1: heartbeat, server figures, /srv, alice's account."""
    ms = int(now * 1000)
    tags = {"server": "web1"}
    influx.write("agent", [(tags, {"seq": 1}, ms)])
    server_fields = {
        "load1": 0.5,
        "failed_units": len(failed),
        "failed_unit_names": ",".join(failed),
    }
    influx.write("server", [(tags, server_fields, ms)])
    influx.write(
        "disk",
        [({**tags, "path": "/srv"}, {"free_bytes": 50 * 2**30, "total_bytes": 100 * 2**30}, ms)],
    )
    used = 1024 * 2**20 if full else 10 * 2**20
    influx.write(
        "account",
        [({**tags, "account": "alice"}, {"disk_bytes": used, "disk_max_bytes": 1024 * 2**20}, ms)],
    )


def test_one_notice_per_alert_and_one_resolved_across_restarts(
    tmp_path: Path,
    influxd: Influxd,
    webhook: Receiver,
    smtp: tuple[int, Path, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BUBBLE_DATABASE_URL", raising=False)
    port, ca, mails = smtp
    root = init_root(tmp_path / "ops")
    catalog = Context(root=root).catalog().with_server("web1", server(address="198.18.250.1"))
    save_servers(catalog)
    alice = account("web1", domains=["alice.example"], email="alice@example.com")
    save_account(catalog.with_account("alice", alice), "alice")
    influx = InfluxClient(Endpoint(influxd.url, "monitor", "basic", ADMIN, ADMIN_PASSWORD))
    influx.execute("CREATE DATABASE monitor", database="")
    env = {
        "BUBBLE_INFLUX_URL": influxd.url,
        "BUBBLE_INFLUX_DATABASE": "monitor",
        "BUBBLE_INFLUX_AUTH": "basic",
        "BUBBLE_INFLUX_USERNAME": ADMIN,
        "BUBBLE_INFLUX_PASSWORD": ADMIN_PASSWORD,
    }

    def bubble(*args: str, stdin: str | None = None) -> Result:
        """Setting up and reading back: in this process (the monitor runs as its own)."""
        done = invoke(*args, root=root, env=env, input=stdin)
        assert done.exit_code == 0, done.output
        return done

    bubble("alerts", "channel", "add", "chat", "--webhook", "-", stdin=webhook.url + "\n")
    bubble("alerts", "channel", "add", "ops", "--email", "ops@example.com")
    bubble(
        "alerts",
        "smtp",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--username",
        "monitor",
        "--sender",
        "monitor@example.com",
        "--ca-file",
        str(ca),
        "--password-stdin",
        stdin=SMTP_PASSWORD + "\n",
    )
    for rule in ("service-failing", "account-at-limit"):
        bubble("alerts", "rule", "set", rule, "--for", "0s")
    text = (root / "catalog" / "alerts.yml").read_text(encoding="utf-8")
    assert WEBHOOK_TOKEN not in text and SMTP_PASSWORD not in text  # secrets stay out of git
    bubble("alerts", "grouping", "set", "--wait", "0s", "--interval", "0s")

    def evaluate(failed: list[str], full: bool) -> subprocess.CompletedProcess[str]:
        write(influx, time.time(), failed, full)
        done = run("monitor", "run", "--once", "--no-probes", root=root, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    # nginx failed and alice's disk full: two alerts, each notified once over two restarts
    for _ in range(2):
        done = evaluate(["nginx.service"], True)
    assert SMTP_PASSWORD not in done.stderr and WEBHOOK_TOKEN not in done.stderr
    firing = json.loads(bubble("alerts", "--json").output)
    assert {(a["rule"], a["server"], a["account"]) for a in firing} == {
        ("service-failing", "web1", None),
        ("account-at-limit", "web1", "alice"),
    }
    assert len(webhook.texts) == 1
    assert "[FIRING:2] web1" in webhook.texts[0][1]
    assert "nginx.service" in webhook.texts[0][1]
    # then both clear (alice's last full disk out of the window read): one resolved notice,
    # however often it is evaluated after
    time.sleep(LIMIT_S)
    for _ in range(2):
        evaluate([], False)
    assert json.loads(bubble("alerts", "--json").output) == []
    texts = [text for _, text in webhook.texts]
    assert len(texts) == 2 and texts[1].startswith("[RESOLVED] web1")
    ops = [m for to, m in mails if to == ["ops@example.com"]]
    owner = [m for to, m in mails if to == ["alice@example.com"]]
    assert [m["Subject"] for m in ops] == [
        "[FIRING:2] web1: account-at-limit, service-failing",
        "[RESOLVED] web1: account-at-limit, service-failing",
    ]
    # the owner hears of her own account's alert only (not of the server's nginx)
    assert len(owner) == 2 and all("nginx" not in m.get_payload() for m in owner)
    assert "account-at-limit" in owner[0]["Subject"]
    history = json.loads(bubble("alerts", "history", "--json").output)
    assert sorted((a["rule"], a["state"]) for a in history) == [  # each alert once
        ("account-at-limit", "closed"),
        ("service-failing", "closed"),
    ]
