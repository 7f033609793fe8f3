"""glue's tables of the state DB. Alembic revisions under migrations/ create them; this module
is the query-side description and must match the newest revision. The migrator describes its
own tables (migrator/schema.py); migrations/env.py holds both."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# One row per account that ever had money: the running balance, locked while an entry is added.
wallets = Table(
    "wallets",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("balance_cents", BigInteger, nullable=False),
)

# Every credit and charge. `key` makes each one happen once, however often it is retried.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False, index=True),
    Column("amount_cents", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", String(200), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("balance_after_cents", BigInteger, nullable=False),
    UniqueConstraint("key", name="uq_ledger_entries_key"),
)

# Limits raised above base by the scaler: one row per boost with the time range it held (the
# open one, `until` NULL, is in force); history is never overwritten.
boosts = Table(
    "boosts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False, index=True),
    Column("resource", String(16), nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=True, index=True),
    Column("reason", Text, nullable=False, default=""),
)

# The address each provider assigned to a server: a runtime fact, not in the catalog.
server_addresses = Table(
    "server_addresses",
    metadata,
    Column("server", String(64), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("address", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# What each upgrade purchase bought, written in the transaction of its ledger entry: the
# ledger is the truth of a purchase, and these rows let the catalog always be brought back in
# line with it. `key` is the catalog upgrade's key (ledger key + "#n").
upgrade_purchases = Table(
    "upgrade_purchases",
    metadata,
    Column("key", String(210), primary_key=True),
    Column("ledger_key", String(200), nullable=False, index=True),
    Column("account", String(64), nullable=False, index=True),
    Column("resource", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("expires", Date, nullable=False),
)

# Only one scaler acts at a time: the holder of the row named "scaler" until `expires_at`,
# renewed every tick (scaler/lease.py); `last_tick` says when it last finished one.
scaler_lease = Table(
    "scaler_lease",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_tick", DateTime(timezone=True), nullable=True),
)

# Every decision of the scaler that moved or wanted to move a limit, with its reason: raise,
# lower, deferred (no room on the server, or the server busy). `boosts` is what was in force
# (what billing meters); this is why.
scaler_events = Table(
    "scaler_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("account", String(64), nullable=False, index=True),
    Column("resource", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_value", BigInteger, nullable=False),
    Column("to_value", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

# The panel's logins: admins, and one customer per account (`account` set). Passwords as
# argon2id hashes; `totp_secret` only for a second factor. Names are unique across both kinds
# (one login form).
panel_users = Table(
    "panel_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("account", String(64), nullable=True, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("totp_secret", String(64), nullable=True),
    Column("totp_last", BigInteger, nullable=True),  # the last time step used: no replay
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Panel sessions and API tokens: only a SHA-256 of the secret is stored. A session carries
# its CSRF token; an API token has none (it is never sent by a browser on its own).
panel_sessions = Table(
    "panel_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

panel_tokens = Table(
    "panel_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user", String(64), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Failed logins, for the rate limit (per login name and per client address).
panel_login_failures = Table(
    "panel_login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, index=True),
    Column("address", String(64), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)

# Wallet top-ups: a bank-transfer request (`reference` shown to the customer for its transfer,
# decided by an admin) or a payment a provider notified (`reference`: its payment id). The
# credit itself is a ledger entry keyed by provider and reference: it happens once.
topups = Table(
    "topups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("reference", String(128), nullable=False),
    Column("account", String(64), nullable=False, index=True),
    Column("amount_cents", BigInteger, nullable=False),
    Column("state", String(16), nullable=False, index=True),  # requested, confirmed, rejected
    Column("requested_by", String(64), nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("provider", "reference", name="uq_topups_provider_reference"),
)

# Jobs the panel runs in the background (a customer's migration or restore, an admin's move):
# state and live progress for a page reload, the final report. `running` holds the account
# while the job runs (NULL after): its unique constraint is what allows one job per account at
# a time. No password.
panel_jobs = Table(
    "panel_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False, index=True),
    Column("running", String(64), nullable=True, unique=True),  # one job of an account at a time
    Column("kind", String(16), nullable=False, server_default="migration"),  # | restore | move
    Column("state", String(16), nullable=False),  # running | done | failed
    Column("started_by", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),  # the job's heartbeat
    Column("progress", Text, nullable=False, default="{}"),  # JSON: part -> total, done, state
    Column("report", Text, nullable=False, default=""),  # the migrator's JSON report
    Column("error", Text, nullable=False, default=""),
)

# Alerts (glue.monitor): one row per alert episode of a (rule, server, account). Open ones
# (pending, firing, resolved awaiting their notice) are what the monitor evaluates; closed
# ones are the history. A restart reads them back: nothing is sent twice or forgotten.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(32), nullable=False),
    Column("server", String(64), nullable=False, index=True),
    Column("account", String(64), nullable=False, default=""),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("active_since", DateTime(timezone=True), nullable=False),
    Column("since", DateTime(timezone=True), nullable=True, index=True),
    Column("clear_since", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("notified_at", DateTime(timezone=True), nullable=True),
    Column("notified_severity", String(16), nullable=True),
    Column("resolved_notified", Boolean, nullable=False, default=False),
    Column("summary", Text, nullable=False, default=""),
    Column("value", Float, nullable=True),
)

# When each server's group of alerts was last notified (group_interval counts from it).
alert_groups = Table(
    "alert_groups",
    metadata,
    Column("server", String(64), primary_key=True),
    Column("last_sent", DateTime(timezone=True), nullable=False),
)

# Silences: notices of alerts whose rule or server is `matcher` are held until `until`.
alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matcher", String(64), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Account moves (glue.services.moves): `open` holds the account until the move is finished
# (NULL after): its unique constraint allows one move per account at a time.
account_moves = Table(
    "account_moves",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False, index=True),
    Column("open", String(64), nullable=True, unique=True),
    Column("source", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("phase", String(16), nullable=False),  # copying | switched | finished
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("downtime_ms", Integer, nullable=True),
)
