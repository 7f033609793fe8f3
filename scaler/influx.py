"""The control plane's InfluxDB client: write, InfluxQL queries as rows, ping, retention.

It speaks the v1 API (scaler/agent_http.py, shared with the agent): /write, /query, /ping,
which every InfluxDB generation serves. Settings (glue/settings.py, environment):
  BUBBLE_INFLUX_URL       http(s)://HOST:PORT, no credentials in it
  BUBBLE_INFLUX_DATABASE  default bubblehost
  BUBBLE_INFLUX_AUTH      none | basic | token
  BUBBLE_INFLUX_USERNAME, BUBBLE_INFLUX_PASSWORD   (basic: an InfluxDB 1.x user)
  BUBBLE_INFLUX_PASSWORD_FILE  read when the password is empty (keeps it out of the env)
  BUBBLE_INFLUX_TOKEN     (token: sent as `Authorization: Token ...`)
  BUBBLE_INFLUX_AGENT_USERNAME, BUBBLE_INFLUX_AGENT_PASSWORD_FILE, BUBBLE_INFLUX_AGENT_TOKEN
                          the usage agents' own (write-only) credentials; `ensure_writer`
                          makes such a 1.x user
InfluxDB 1.x: auth basic (or none with auth-enabled = false); `ensure_retention` creates the
database, its retention policies and continuous queries (run by glue.services.influx.setup:
`bubble scaler influx-setup`, `bubble lab up`).
InfluxDB 2.x: create a bucket and a DBRP mapping from BUBBLE_INFLUX_DATABASE/raw to it
(`influx v1 dbrp create --db bubblehost --rp raw --default --bucket-id ...`), an API token
with write (agents) or read+write (control plane) on it, and set auth token. 2.x has no
continuous queries: the roll-ups are InfluxDB tasks (or a bucket's own retention), so skip
`ensure_retention` there. InfluxDB 3.x Core: the database is created on first write; auth
token; retention is the database's own setting and 3.x has no continuous queries either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from glue.settings import Settings
from scaler.agent_http import Endpoint, InfluxRejected
from scaler.agent_lineproto import FieldValue, point

Row = dict[str, Any]
# One series' answer as it comes: the column names, and each row's values in their order.
Table = tuple[list[str], list[list[Any]]]

_DB_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_DURATION_RE = re.compile(r"(\d+)(w|d|h|m|s)")
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def duration_seconds(text: str) -> int:
    """`48h0m0s`, `720h0m0s`, `30d`, `0s` (infinite) -> seconds."""
    parts = _DURATION_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"InfluxDB duration {text!r}: not understood")
    return sum(int(n) * _SECONDS[u] for n, u in parts)


class InfluxQueryError(Exception):
    """A statement InfluxDB answered with an error (bad InfluxQL, unknown database...);
    `status` is the HTTP status when it refused the request itself (401: the credentials)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetentionPolicy:
    name: str
    duration: str  # InfluxQL duration literal, e.g. 48h, 30d
    default: bool = False

    def __post_init__(self) -> None:
        duration_seconds(self.duration)


@dataclass(frozen=True)
class Rollup:
    """A continuous query: means of every field of every measurement into `into` per `every`."""

    name: str
    into: str  # retention policy written to
    every: str  # GROUP BY time(...)
    source: str  # retention policy read from

    def __post_init__(self) -> None:
        duration_seconds(self.every)


# Raw for 48 h, 5-minute means for 30 days, hourly means for 13 months (design.md).
RETENTION = (
    RetentionPolicy("raw", "48h", default=True),
    RetentionPolicy("five_min", "30d"),
    RetentionPolicy("hourly", "396d"),
)
# Both roll-ups read raw: a mean of means would be named mean_mean_x, and raw holds 48 h.
ROLLUPS = (
    Rollup("cq_five_min", into="five_min", every="5m", source="raw"),
    Rollup("cq_hourly", into="hourly", every="1h", source="raw"),
)


class InfluxClient:
    def __init__(self, endpoint: Endpoint) -> None:
        if not _DB_RE.fullmatch(endpoint.database):
            raise ValueError(f"InfluxDB database {endpoint.database!r}: letters, digits, _ . -")
        self.endpoint = endpoint

    @classmethod
    def from_settings(cls, settings: Settings, timeout: float = 10.0) -> InfluxClient:
        return cls(
            Endpoint(
                url=settings.influx_url,
                database=settings.influx_database,
                auth=settings.influx_auth,
                username=settings.influx_username,
                password=settings.influx_secret(),
                token=settings.influx_token.get_secret_value(),
                timeout=timeout,
            )
        )

    @property
    def database(self) -> str:
        return self.endpoint.database

    def ping(self) -> bool:
        return self.endpoint.ping()

    def write(
        self,
        measurement: str,
        rows: Sequence[tuple[Mapping[str, str], Mapping[str, FieldValue], int]],
        precision: str = "ms",
    ) -> None:
        """Write (tags, fields, timestamp) rows of one measurement, in batches of 5000."""
        lines = [point(measurement, tags, fields, ts) for tags, fields, ts in rows]
        for start in range(0, len(lines), 5000):
            self.endpoint.write_lines(lines[start : start + 5000], precision)

    def query(self, statement: str, database: str | None = None) -> list[Row]:
        """One InfluxQL statement -> rows: {"measurement", tag..., column...}; time in ms."""
        results = self._run(statement, database, post=False)
        return _rows(results[0]) if results else []

    def table(self, statement: str, database: str | None = None) -> Table:
        """One statement answered by one series (no GROUP BY) -> its columns and rows as they
        come: no dict per row, for answers of tens of thousands of rows (the scaler's)."""
        results = self._run(statement, database, post=False)
        series = results[0].get("series", []) if results else []
        if len(series) > 1:
            raise InfluxQueryError(f"{statement[:120]}: {len(series)} series, one expected")
        if not series:
            return [], []
        return list(series[0]["columns"]), list(series[0].get("values", []))

    def execute(self, statement: str, database: str | None = None) -> None:
        """A statement that changes something (CREATE, ALTER, DROP): sent by POST."""
        self._run(statement, database, post=True)

    def _run(self, statement: str, database: str | None, post: bool) -> list[dict[str, Any]]:
        params = {"q": statement, "epoch": "ms"}
        db = self.database if database is None else database
        if db:
            params["db"] = db
        try:
            if post:
                _, body = self.endpoint.request("POST", "/query", {}, urlencode(params).encode())
            else:
                _, body = self.endpoint.request("GET", "/query", params)
        except InfluxRejected as exc:
            raise InfluxQueryError(f"{statement[:120]}: {exc}", exc.status) from None
        doc = json.loads(body)
        results: list[dict[str, Any]] = doc.get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxQueryError(f"{statement[:120]}: {result['error']}")
        return results

    def ensure_writer(self, username: str, password: str) -> list[str]:
        """An InfluxDB 1.x user who may write into this database and do nothing else (the usage
        agents'), with this password; returns what changed. Idempotent."""
        if not _DB_RE.fullmatch(username):
            raise ValueError(f"InfluxDB user {username!r}: letters, digits, _ . - only")
        user = quote_ident(username)
        secret = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
        changed: list[str] = []
        known = {str(row.get("user")) for row in self.query("SHOW USERS", database="")}
        try:
            if username in known:
                self.execute(f"SET PASSWORD FOR {user} = {secret}", database="")
            else:
                self.execute(f"CREATE USER {user} WITH PASSWORD {secret}", database="")
                changed.append(f"user {username}")
        except InfluxQueryError as exc:  # its text holds the statement: never the password
            raise InfluxQueryError(str(exc).replace(secret, "'...'"), exc.status) from None
        grants = [
            (str(g.get("database")), str(g.get("privilege")))
            for g in self.query(f"SHOW GRANTS FOR {user}", database="")
        ]
        if grants != [(self.database, "WRITE")]:
            for database, _ in grants:
                self.execute(f"REVOKE ALL ON {quote_ident(database)} FROM {user}", database="")
            self.execute(f"GRANT WRITE ON {quote_ident(self.database)} TO {user}", database="")
            changed.append(f"{username} may write into {self.database}")
        return changed

    def ensure_retention(
        self,
        policies: Sequence[RetentionPolicy] = RETENTION,
        rollups: Sequence[Rollup] = ROLLUPS,
    ) -> list[str]:
        """Database, retention policies and continuous queries as wanted; returns what changed.

        Idempotent: a second run changes nothing and returns []. A policy whose duration
        differs is altered in place (its data stays); a continuous query whose text differs
        is dropped and created again (InfluxQL cannot alter one).
        """
        db = quote_ident(self.database)
        changed: list[str] = []
        databases = {row["name"] for row in self.query("SHOW DATABASES", database="")}
        if self.database not in databases:
            self.execute(f"CREATE DATABASE {db}", database="")
            changed.append(f"database {self.database}")
        have = {row["name"]: row for row in self.query(f"SHOW RETENTION POLICIES ON {db}")}
        for rp in policies:
            default = " DEFAULT" if rp.default else ""
            current = have.get(rp.name)
            if current is None:
                self.execute(
                    f"CREATE RETENTION POLICY {quote_ident(rp.name)} ON {db} "
                    f"DURATION {rp.duration} REPLICATION 1{default}"
                )
                changed.append(f"retention policy {rp.name} {rp.duration}")
            elif duration_seconds(str(current["duration"])) != duration_seconds(rp.duration) or (
                rp.default and not current.get("default")
            ):
                self.execute(
                    f"ALTER RETENTION POLICY {quote_ident(rp.name)} ON {db} "
                    f"DURATION {rp.duration}{default}"
                )
                changed.append(f"retention policy {rp.name} {rp.duration} (altered)")
        queries = {
            row["name"]: str(row["query"])
            for row in self.query("SHOW CONTINUOUS QUERIES", database="")
            if row.get("measurement") == self.database
        }
        for cq in rollups:
            text = (
                # Names quoted, durations checked by duration_seconds(): nothing raw goes in.
                f"CREATE CONTINUOUS QUERY {quote_ident(cq.name)} ON {db} BEGIN "  # noqa: S608
                f"SELECT mean(*) INTO {db}.{quote_ident(cq.into)}.:MEASUREMENT "
                f"FROM {db}.{quote_ident(cq.source)}./.*/ "
                f"GROUP BY time({cq.every}), * END"
            )
            current_text = queries.get(cq.name)
            if current_text is not None and _same_query(current_text, text):
                continue
            if current_text is not None:
                self.execute(f"DROP CONTINUOUS QUERY {quote_ident(cq.name)} ON {db}")
            self.execute(text)
            changed.append(f"continuous query {cq.name}")
        return changed


def _same_query(stored: str, wanted: str) -> bool:
    # InfluxDB stores the statement re-rendered: quotes only where needed, its own spacing.
    def norm(text: str) -> str:
        return re.sub(r"\s+", " ", text.replace('"', "")).strip().lower()

    return norm(stored) == norm(wanted)


def _rows(result: Mapping[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for series in result.get("series", []):
        base: Row = {"measurement": series.get("name", "")}
        base.update(series.get("tags") or {})
        columns = series["columns"]
        for values in series.get("values", []):
            row = dict(base)
            row.update(zip(columns, values, strict=True))
            rows.append(row)
    return rows
