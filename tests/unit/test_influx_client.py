"""The control plane's InfluxDB client without a server: settings, auth, InfluxQL pieces."""

from __future__ import annotations

import pytest

from glue.settings import Settings
from scaler.agent_http import Endpoint
from scaler.influx import (
    InfluxClient,
    RetentionPolicy,
    _rows,
    _same_query,
    duration_seconds,
    quote_ident,
)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUBBLE_INFLUX_URL", "https://influx.example:8086")
    monkeypatch.setenv("BUBBLE_INFLUX_DATABASE", "fleet")
    monkeypatch.setenv("BUBBLE_INFLUX_AUTH", "token")
    monkeypatch.setenv("BUBBLE_INFLUX_TOKEN", "tok-123")
    settings = Settings()
    assert "tok-123" not in repr(settings)
    client = InfluxClient.from_settings(settings)
    assert client.database == "fleet"
    assert client.endpoint.headers() == {"Authorization": "Token tok-123"}
    assert "tok-123" not in repr(client.endpoint)


def test_token_auth_needs_a_token_and_bad_names_are_refused() -> None:
    with pytest.raises(ValueError, match="token is empty"):
        Endpoint("http://127.0.0.1:8086", "db", auth="token")
    with pytest.raises(ValueError, match="expected http"):
        Endpoint("ftp://127.0.0.1", "db")
    with pytest.raises(ValueError, match="database 'a;b'"):
        InfluxClient(Endpoint("http://127.0.0.1:8086", "a;b"))


def test_durations() -> None:
    assert duration_seconds("48h0m0s") == duration_seconds("48h") == 172800
    assert duration_seconds("720h0m0s") == duration_seconds("30d")
    assert duration_seconds("0s") == 0
    with pytest.raises(ValueError, match="not understood"):
        duration_seconds("48h; DROP DATABASE x")
    with pytest.raises(ValueError, match="not understood"):
        RetentionPolicy("raw", "forever")


def test_identifiers_quoted_and_stored_queries_compared_loosely() -> None:
    assert quote_ident('we"ird') == '"we\\"ird"'
    assert _same_query(
        "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(*) INTO db.rp.:MEASUREMENT END",
        'CREATE CONTINUOUS QUERY "cq" ON "db" BEGIN  '
        'SELECT mean(*) INTO "db"."rp".:MEASUREMENT END',
    )


def test_rows_flatten_series_with_tags() -> None:
    result = {
        "series": [
            {
                "name": "account",
                "tags": {"account": "alice"},
                "columns": ["time", "mean"],
                "values": [[1000, 1.5], [2000, 2.5]],
            }
        ]
    }
    assert _rows(result) == [
        {"measurement": "account", "account": "alice", "time": 1000, "mean": 1.5},
        {"measurement": "account", "account": "alice", "time": 2000, "mean": 2.5},
    ]
