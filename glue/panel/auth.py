"""Who may use the panel: logins (argon2id hashes, optional TOTP), sessions with their CSRF
token, API tokens, and the rate limit on failed logins. Only hashes of secrets are stored.

Nothing here knows HTTP: `glue.panel.request` binds it to requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, func, insert, select, update

from glue.errors import BubbleError
from glue.state.schema import panel_login_failures, panel_sessions, panel_tokens, panel_users

ADMIN, CUSTOMER = "admin", "customer"
ADMIN_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MIN_PASSWORD = 10
SESSION_TTL = dt.timedelta(hours=12)
# Failed logins within WINDOW: past these counts the login must wait. One client guessing one
# name is stopped at 5; the name's own limit is much higher so that one hostile client cannot
# lock its owner out (a denial of service), yet many clients together are still slowed.
WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_NAME_FROM_ADDRESS = 5
MAX_FAILURES_PER_NAME = 50
MAX_FAILURES_PER_ADDRESS = 20

_hasher = PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) parameters
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    account: str | None = None  # a customer's own account

    @property
    def admin(self) -> bool:
        return self.role == ADMIN


class LoginRefused(BubbleError):
    """Wrong name, password or code: one message for all, nothing said about which."""


class TooManyFailures(BubbleError):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BubbleError(f"password: at least {MIN_PASSWORD} characters")


def add_admin(engine: Engine, name: str, password: str, totp: bool) -> str | None:
    """A new admin; with `totp` its second factor's secret, returned once (for the app)."""
    if not ADMIN_NAME_RE.fullmatch(name):
        raise BubbleError(f"{name!r} is not a valid admin name (a-z, 0-9, _ and -, at most 32)")
    _check_password(password)
    secret = pyotp.random_base32() if totp else None
    with engine.begin() as connection:
        if connection.execute(select(panel_users.c.name).where(panel_users.c.name == name)).first():
            raise BubbleError(f"panel login {name!r} already exists")
        connection.execute(
            insert(panel_users).values(
                name=name, role=ADMIN, account=None, password_hash=_hasher.hash(password),
                totp_secret=secret, created_at=_now(),
            )
        )  # fmt: skip
    return secret


def set_customer_password(engine: Engine, account: str, password: str) -> None:
    """The account's one customer login (its name is the account's): created or its
    password replaced (every session of it ends)."""
    _check_password(password)
    hashed = _hasher.hash(password)
    with engine.begin() as connection:
        row = connection.execute(select(panel_users).where(panel_users.c.name == account)).first()
        if row is not None and row.role != CUSTOMER:
            raise BubbleError(f"panel login {account!r} is an admin's: rename that admin first")
        if row is None:
            connection.execute(
                insert(panel_users).values(
                    name=account, role=CUSTOMER, account=account, password_hash=hashed,
                    totp_secret=None, created_at=_now(),
                )
            )  # fmt: skip
        else:
            connection.execute(
                update(panel_users)
                .where(panel_users.c.name == account)
                .values(password_hash=hashed)
            )
            connection.execute(delete(panel_sessions).where(panel_sessions.c.user == account))


def _principal(row: object) -> Principal:
    return Principal(row.name, row.role, row.account)  # type: ignore[attr-defined]


def principal(engine: Engine, name: str) -> Principal | None:
    """The panel login of this name, if there is one."""
    with engine.connect() as connection:
        row = connection.execute(select(panel_users).where(panel_users.c.name == name)).first()
    return None if row is None else _principal(row)


def create_token(engine: Engine, who: Principal) -> str:
    """A new API bearer token for this login; returned once, only its hash is kept."""
    token = "bht_" + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(
            insert(panel_tokens).values(token_hash=_digest(token), user=who.name, created_at=_now())
        )
    return token


def token_principal(engine: Engine, token: str) -> Principal | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(panel_users)
            .join(panel_tokens, panel_tokens.c.user == panel_users.c.name)
            .where(panel_tokens.c.token_hash == _digest(token))
        ).first()
    return None if row is None else _principal(row)


@dataclass(frozen=True)
class Session:
    who: Principal
    csrf: str
    token: str = ""  # the cookie's value: only when the session was just made


def _refuse_when_throttled(engine: Engine, name: str, address: str, now: dt.datetime) -> None:
    failures = panel_login_failures.c
    recent = failures.at >= now - WINDOW
    with engine.connect() as connection:
        for where, most in (
            (
                (failures.name == name, failures.address == address),
                MAX_FAILURES_PER_NAME_FROM_ADDRESS,
            ),
            ((failures.name == name,), MAX_FAILURES_PER_NAME),
            ((failures.address == address,), MAX_FAILURES_PER_ADDRESS),
        ):
            count = connection.execute(
                select(func.count()).select_from(panel_login_failures).where(recent, *where)
            ).scalar_one()
            if count >= most:
                minutes = int(WINDOW.total_seconds() // 60)
                raise TooManyFailures(f"too many failed logins: try again in {minutes} minutes")


def login(engine: Engine, name: str, password: str, code: str, address: str) -> Session:
    """A new session for a right name, password (and TOTP code where the login has one).
    Failures are counted per name and client address, per name and per address; past a limit
    even the right password is refused until the window has passed."""
    now = _now()
    name, address = name.strip()[:64], address[:64]
    _refuse_when_throttled(engine, name, address, now)
    with engine.connect() as connection:
        row = connection.execute(select(panel_users).where(panel_users.c.name == name)).first()
    ok = _verified(row.password_hash if row else _DUMMY, password) and row is not None
    if ok and row is not None and row.totp_secret:
        ok = _second_factor(engine, name, row.totp_secret, row.totp_last, code.strip(), now)
    if not ok or row is None:
        with engine.begin() as connection:
            connection.execute(
                insert(panel_login_failures).values(name=name, address=address, at=now)
            )
        raise LoginRefused("wrong name, password or code")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(delete(panel_sessions).where(panel_sessions.c.expires_at < now))
        connection.execute(
            insert(panel_sessions).values(
                token_hash=_digest(token), user=name, csrf=csrf, expires_at=now + SESSION_TTL
            )
        )
    return Session(_principal(row), csrf, token)


def _second_factor(
    engine: Engine, name: str, secret: str, last: int | None, code: str, now: dt.datetime
) -> bool:
    """The code of this time step or a neighbour (clock drift), each usable once: the step
    is recorded only if it is newer than the last one used (one conditional UPDATE)."""
    totp = pyotp.TOTP(secret)
    for offset in (-1, 0, 1):
        step = totp.timecode(now) + offset
        if not secrets.compare_digest(totp.generate_otp(step), code):
            continue
        with engine.begin() as connection:
            newer = (panel_users.c.totp_last.is_(None)) | (panel_users.c.totp_last < step)
            done = connection.execute(
                update(panel_users).where(panel_users.c.name == name, newer).values(totp_last=step)
            )
        return done.rowcount == 1
    return False


def _verified(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def session(engine: Engine, token: str) -> Session | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(panel_users, panel_sessions.c.csrf)
            .join(panel_sessions, panel_sessions.c.user == panel_users.c.name)
            .where(
                panel_sessions.c.token_hash == _digest(token),
                panel_sessions.c.expires_at > _now(),
            )
        ).first()
    return None if row is None else Session(_principal(row), row.csrf)


def logout(engine: Engine, token: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            delete(panel_sessions).where(panel_sessions.c.token_hash == _digest(token))
        )


def same_secret(given: str, expected: str) -> bool:
    return bool(given) and secrets.compare_digest(given, expected)
