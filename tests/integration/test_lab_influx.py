"""The lab's InfluxDB (glue.providers.lab.influx) with the real influxd, on a loopback
address of its own instead of a bridge: auth on, a root-only password file, idempotent up,
the control plane finding it through BUBBLE_INFLUX_PASSWORD_FILE, down stops it."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from glue.errors import BubbleError
from glue.providers.lab import influx
from glue.providers.lab.config import LabConfig
from glue.services.influx import setup
from glue.settings import Settings
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient, InfluxQueryError

pytestmark = pytest.mark.skipif(shutil.which("influxd") is None, reason="influxd not installed")


def test_up_is_idempotent_auth_is_on_and_down_stops_it(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path / "lab", gateway="127.0.86.1/8")
    try:
        url = influx.up(cfg)
        first = influx.status(cfg)
        assert first.running and url == "http://127.0.86.1:8086"
        assert influx.up(cfg) == url and influx.status(cfg).pid == first.pid  # kept
        secret = influx.influx_paths(cfg).password_file
        assert secret.stat().st_mode & 0o777 == 0o600
        assert (cfg.dir / "influxdb").stat().st_mode & 0o777 == 0o700
        env = influx.environment(cfg)
        assert secret.read_text().strip() not in "".join(env.values())
        settings = Settings.model_validate(
            {k.removeprefix("BUBBLE_").lower(): v for k, v in env.items()}
        )
        assert settings.influx_environment()["BUBBLE_INFLUX_PASSWORD"] == secret.read_text().strip()
        client = InfluxClient.from_settings(settings)
        # What `bubble lab up` runs, as `bubble scaler influx-setup` does: retention and the
        # agents' own user, then nothing.
        made = setup(settings)
        assert made[0] == "database bubblehost" and made[-2:] == [
            "user agent",
            "agent may write into bubblehost",
        ]
        assert setup(settings) == []
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/write?db=bubblehost", data=b"x v=1", timeout=5)  # noqa: S310
        assert refused.value.code == 401
        # The agents' own user: the role gets it, not the admin; it writes and does nothing else.
        agent = settings.influx_agent_environment()
        assert agent["BUBBLE_INFLUX_AGENT_USERNAME"] == "agent"
        agent_secret = influx.influx_paths(cfg).agent_password_file
        assert agent_secret.stat().st_mode & 0o777 == 0o600
        assert agent["BUBBLE_INFLUX_AGENT_PASSWORD"] == agent_secret.read_text().strip()
        assert agent["BUBBLE_INFLUX_AGENT_PASSWORD"] != secret.read_text().strip()
        writer = InfluxClient(
            Endpoint(url, "bubblehost", "basic", "agent", agent["BUBBLE_INFLUX_AGENT_PASSWORD"])
        )
        now_ms = int(time.time() * 1000)  # inside the raw policy's 48 h
        writer.write("account", [({"account": "alice"}, {"cpu_mhz": 5}, now_ms)])
        assert client.query('SELECT "cpu_mhz" FROM "account"')[0]["cpu_mhz"] == 5
        for statement in ('SELECT * FROM "account"', "DROP DATABASE bubblehost", "SHOW USERS"):
            with pytest.raises(InfluxQueryError):
                writer.query(statement) if statement.startswith("SELECT") else writer.execute(
                    statement
                )
        assert client.query('SELECT "cpu_mhz" FROM "account"')  # still there
    finally:
        influx.down(cfg)
    assert not influx.status(cfg).running
    influx.down(cfg)  # twice: nothing to do


def test_an_admin_with_another_password_is_named_not_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """up asks the admin to answer with its file's password; an admin someone else made (or a
    lost file) is a clear refusal with influxd's own reason, never a silent success."""
    cfg = LabConfig(dir=tmp_path / "lab", gateway="127.0.86.2/8")
    monkeypatch.setattr(influx, "ADMIN_TIMEOUT", 1.0)
    try:
        influx.up(cfg)
        influx.influx_paths(cfg).password_file.write_text("not-the-admins-password\n")
        with pytest.raises(
            BubbleError, match=r"create the admin: HTTP 401 .*authentication credentials"
        ):
            influx.up(cfg)
    finally:
        influx.down(cfg)


def test_an_unreadable_password_file_is_one_clear_error(tmp_path: Path) -> None:
    settings = Settings(influx_auth="basic", influx_password_file=tmp_path / "missing")
    with pytest.raises(BubbleError, match=r"BUBBLE_INFLUX_PASSWORD_FILE .*missing"):
        settings.influx_secret()
