"""The panel's requests: who is asking (bearer token or session cookie), the CSRF check on
every cookie-authenticated unsafe request, and which account a principal may see."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from fastapi import HTTPException, Request

from glue.catalog import Catalog
from glue.models import Account
from glue.panel import auth
from glue.services import plans
from glue.services.context import Context

SESSION_COOKIE = "bubble_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Panel:
    """What the app serves: one operator root; `apply` carries limit changes to servers."""

    ctx: Context
    apply: bool = True

    def context(self) -> Context:
        """The root's Context with today's date (the server runs for days)."""
        today = dt.datetime.now(dt.UTC).date()
        if self.ctx.today != today:
            self.ctx.today = today
        return self.ctx

    def reading(self) -> Context:
        """The Context for a request that changes nothing (`Reading`)."""
        return Reading(self.context())


class Reading(Context):
    """One read-only request's view of the root: the catalog loaded once, however often the
    services it calls ask (at 10,000 accounts each load stats every file); the state DB
    shared. Never for a change: it would not see its own edit."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(root=ctx.root, settings=ctx.settings, today=ctx.today)
        self.__dict__.update(engine=ctx.engine, ledger=ctx.ledger)
        self._catalog: Catalog | None = None

    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = super().catalog()
        return self._catalog


def panel(request: Request) -> Panel:
    found: Panel = request.app.state.panel
    return found


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def cookie_session(request: Request) -> auth.Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    return auth.session(panel(request).ctx.engine, token) if token else None


def api_principal(request: Request) -> auth.Principal:
    """A bearer token, else the session cookie; a cookie alone never makes an unsafe request
    (the CSRF header must carry the session's token): 401 / 403 otherwise."""
    engine = panel(request).ctx.engine
    token = _bearer(request)
    if token is not None:
        who = auth.token_principal(engine, token)
        if who is None:
            raise HTTPException(401, "unknown or revoked token")
        return who
    found = cookie_session(request)
    if found is None:
        raise HTTPException(401, "log in or send a bearer token")
    if request.method not in SAFE_METHODS and not auth.same_secret(
        request.headers.get(CSRF_HEADER, ""), found.csrf
    ):
        raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token)")
    return found.who


def visible_account(who: auth.Principal, catalog: Catalog, name: str) -> Account:
    """The account if `who` may see it; another customer's answers exactly as a missing one."""
    account = catalog.accounts.get(name)
    if account is None or not (who.admin or who.account == name):
        raise HTTPException(404, f"unknown account {name!r}")
    return account


def require_admin(who: auth.Principal) -> None:
    """An admin's page or API object, asked for by a customer, answers exactly as a path
    that does not exist (as another account's does): nothing said about what is there."""
    if not who.admin:
        raise HTTPException(404, "Not Found")


def _version(shown: object) -> str:
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:16]


def account_version(ctx: Context, name: str) -> str:
    """What a form shows of an account, as a short hash: its catalog entry and its balance.
    A form carries it; a POST whose version is no longer current was made on a stale page."""
    account = ctx.catalog().accounts[name]
    return _version([account.model_dump(mode="json"), ctx.ledger.balance(name)])


def plan_version(ctx: Context, name: str) -> str:
    """A plan's version for its form, as `account_version` is an account's."""
    return _version(plans.get_plan(ctx, name).model_dump(mode="json"))


def require_current(version: str, current: str, what: str) -> None:
    """Refuse a form made on a page older than the last change of `what` (`account alice`,
    `plan base`), whose version is now `current`: nothing changes."""
    if version != current:
        raise HTTPException(
            409, f"{what} changed since this page was shown: reload it and try again"
        )
