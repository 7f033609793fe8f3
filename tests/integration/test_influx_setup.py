"""`bubble scaler influx-setup` against a real influxd (1.x, auth on): it makes the database,
the retention policies and continuous queries and the agents' own user from the settings, a
second run changes nothing, and a refusal is one line with nothing made."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient
from tests.support.cli import run
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, Influxd, running_influxd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("influxd") is None, reason="influxd not installed"),
]

AGENT_PASSWORD = "agent-test-secret"


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    with running_influxd(tmp_path_factory.mktemp("influxd")) as server:
        yield server


def _secret(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def _settings(server: Influxd, database: str, tmp_path: Path, password: str) -> dict[str, str]:
    """The BUBBLE_INFLUX_* the scaler reads; the secrets in files, never on the command line."""
    return {
        "BUBBLE_INFLUX_URL": server.url,
        "BUBBLE_INFLUX_DATABASE": database,
        "BUBBLE_INFLUX_AUTH": "basic",
        "BUBBLE_INFLUX_USERNAME": ADMIN,
        "BUBBLE_INFLUX_PASSWORD_FILE": str(_secret(tmp_path / "admin.secret", password)),
        "BUBBLE_INFLUX_AGENT_USERNAME": "agent",
        "BUBBLE_INFLUX_AGENT_PASSWORD_FILE": str(_secret(tmp_path / "agent", AGENT_PASSWORD)),
    }


def _admin(server: Influxd, database: str) -> InfluxClient:
    return InfluxClient(Endpoint(server.url, database, "basic", ADMIN, ADMIN_PASSWORD))


def _shown(client: InfluxClient) -> tuple[dict[str, tuple[str, bool]], dict[str, str]]:
    policies = {
        row["name"]: (row["duration"], row["default"])
        for row in client.query("SHOW RETENTION POLICIES")
    }
    queries = {
        row["name"]: row["query"]
        for row in client.query("SHOW CONTINUOUS QUERIES", database="")
        if row["measurement"] == client.database
    }
    return policies, queries


def test_setup_makes_retention_and_roll_ups_and_again_changes_nothing(
    influxd: Influxd, tmp_path: Path
) -> None:
    env = _settings(influxd, "ops", tmp_path, ADMIN_PASSWORD)
    first = run("scaler", "influx-setup", "--json", env=env, own_bubble_env=False)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["changed"] == [
        "database ops",
        "retention policy raw 48h",
        "retention policy five_min 30d",
        "retention policy hourly 396d",
        "continuous query cq_five_min",
        "continuous query cq_hourly",
        "user agent",
        "agent may write into ops",
    ]
    client = _admin(influxd, "ops")
    policies, queries = _shown(client)
    assert {name: policies[name] for name in ("raw", "five_min", "hourly")} == {
        "raw": ("48h0m0s", True),
        "five_min": ("720h0m0s", False),
        "hourly": ("9504h0m0s", False),
    }
    assert [name for name, (_, default) in policies.items() if default] == ["raw"]
    assert sorted(queries) == ["cq_five_min", "cq_hourly"]
    five_min = "INTO ops.five_min.:MEASUREMENT FROM ops.raw./.*/ GROUP BY time(5m)"
    assert five_min in queries["cq_five_min"]
    assert client.query("SHOW GRANTS FOR agent", database="") == [
        {"measurement": "", "database": "ops", "privilege": "WRITE"}
    ]

    again = run("scaler", "influx-setup", env=env, own_bubble_env=False)
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == (
        f"InfluxDB {influxd.url}, database ops: already set up, nothing changed\n"
    )
    assert _shown(client) == (policies, queries)
    for done in (first, again):
        assert ADMIN_PASSWORD not in done.stdout + done.stderr
        assert AGENT_PASSWORD not in done.stdout + done.stderr


def test_a_wrong_password_is_one_line_naming_it_and_nothing_is_made(
    influxd: Influxd, tmp_path: Path
) -> None:
    env = _settings(influxd, "refused", tmp_path, "not-the-password")
    done = run("scaler", "influx-setup", env=env, own_bubble_env=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"error: InfluxDB setup: {influxd.url} refused user {ADMIN}'s credentials (HTTP 401): "
        "check BUBBLE_INFLUX_USERNAME and BUBBLE_INFLUX_PASSWORD or BUBBLE_INFLUX_PASSWORD_FILE\n"
    )
    databases = _admin(influxd, "ops").query("SHOW DATABASES", database="")
    assert "refused" not in {row["name"] for row in databases}
    assert "not-the-password" not in done.stderr


def test_token_auth_says_what_it_cannot_do_and_where_to_read(tmp_path: Path) -> None:
    """2.x/3.x: no retention policies or continuous queries there; nothing is asked of it."""
    env = {
        "BUBBLE_INFLUX_URL": "http://127.0.0.1:9",  # nothing listens: nothing must be sent
        "BUBBLE_INFLUX_AUTH": "token",
        "BUBBLE_INFLUX_TOKEN": "a-2x-token",
    }
    done = run("scaler", "influx-setup", env=env, own_bubble_env=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1 and "a-2x-token" not in done.stderr
    assert done.stderr.startswith("error: InfluxDB setup: auth token means InfluxDB 2.x/3.x")
    assert '(README, "InfluxDB settings and set-up")' in done.stderr
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "### InfluxDB settings and set-up" in readme
