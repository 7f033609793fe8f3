"""The panel's server-rendered pages (templates shipped in the package): login with an
optional TOTP code, the admin's dashboard, accounts and one account, the customer's own
account. Every form posts the session's CSRF token; each change calls the same service as
the API (glue.panel.api's helpers) and redirects back with what was done."""

from __future__ import annotations

import logging
import math
import secrets
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context as JinjaContext

from glue.errors import BubbleError
from glue.limits import limits_in_force
from glue.locks import catalog_lock
from glue.models import RESOURCES, AccountState, ServerState
from glue.panel import auth, background, changes, i18n, moves, restores
from glue.panel.api import UpgradeOrder
from glue.panel.audit import catalog_log
from glue.panel.graphs import usage_svg
from glue.panel.migrations import MigrationForm, jobs, lines
from glue.panel.request import (
    SESSION_COOKIE,
    account_version,
    client_address,
    cookie_session,
    panel,
    plan_version,
    require_admin,
    require_current,
    visible_account,
)
from glue.remote import RemoteError
from glue.services import (
    accounts,
    backups,
    credentials,
    history,
    monitoring,
    plans,
    servers,
    topups,
    usage,
    wallets,
)
from glue.services.context import Context
from glue.state.boosts import boosts_at
from glue.units import format_money

log = logging.getLogger("bubble.panel")
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
LOGIN_CSRF_COOKIE = "bubble_login_csrf"
PAGE_SIZE = 50


@pass_context
def _term(page: JinjaContext, value: object, kind: str) -> str:
    """`{{ account.state | term("account state") }}`: a state or kind in the page's language."""
    return i18n.term(page["lang"], kind, str(value))


templates.env.filters["term"] = _term


def _secure(request: Request) -> bool:
    """Secure cookies when served over https (directly, or a TLS proxy that says so and is
    trusted: uvicorn's --forwarded-allow-ips)."""
    return request.url.scheme == "https"


def _language(request: Request) -> str:
    return i18n.chosen(request.cookies.get(i18n.LANGUAGE_COOKIE),
                       request.headers.get("accept-language", ""))  # fmt: skip


def render(request: Request, template: str, status: int = 200, **data: Any) -> Response:
    found = cookie_session(request) if "session" not in data else data["session"]
    data.setdefault("session", found)
    data.setdefault("done", request.query_params.get("done", ""))
    lang = _language(request)
    data.update(lang=lang, _=i18n.translator(lang), languages=i18n.LANGUAGES.items())
    # The switch comes back to this page; an error page's path is not echoed (it may name
    # an object the asker may not see): home.
    data.setdefault("back", request.url.path if status < 400 else "/")
    response = templates.TemplateResponse(request, template, data, status_code=status)
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def error_page(request: Request, status: int, message: str) -> Response:
    if status in (302, 303):
        return RedirectResponse(quote(message, safe="/?=&"), status_code=status)
    return render(request, "error.html", status, status_code=status, message=message)


def page_session(request: Request) -> auth.Session:
    found = cookie_session(request)
    if found is None:
        raise HTTPException(303, "/login")
    return found


Page = Annotated[auth.Session, Depends(page_session)]
Csrf = Annotated[str, Form()]
Version = Annotated[str, Form()]  # the account's (a plan's) version the form was shown with


def checked(session: auth.Session, csrf: str) -> auth.Principal:
    """The form's CSRF token is the session's, or nothing is done."""
    if not auth.same_secret(csrf, session.csrf):
        raise HTTPException(403, "this form is stale or forged (CSRF): reload the page")
    return session.who


def back(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={quote(done)}", status_code=303)


# ----------------------------------------------------------------- login


@router.get("/login")
def login_form(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", session=None, login_csrf=token, error="")
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/login")  # fmt: skip
    return response


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Csrf,
    code: Annotated[str, Form()] = "",
) -> Response:
    if not auth.same_secret(csrf, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise HTTPException(403, "this form is stale or forged (CSRF): reload the page")
    try:
        made = auth.login(panel(request).ctx.engine, name, password, code, client_address(request))
    except auth.TooManyFailures as exc:
        return render(request, "login.html", 429, session=None, login_csrf=csrf, error=str(exc))
    except auth.LoginRefused as exc:
        return render(request, "login.html", 401, session=None, login_csrf=csrf, error=str(exc))
    response = RedirectResponse("/", status_code=303)
    ttl = int(auth.SESSION_TTL.total_seconds())
    response.set_cookie(SESSION_COOKIE, made.token, httponly=True, samesite="strict",
                        secure=_secure(request), max_age=ttl)  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: Page, csrf: Csrf) -> Response:
    checked(session, csrf)
    auth.logout(panel(request).ctx.engine, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/language")
def switch_language(request: Request, to: str, back: str = "/") -> Response:
    """The language switch: remembered in a cookie (a year), back to the page it was on."""
    if to not in i18n.LANGUAGES:
        raise BubbleError(f"to: {to!r} is not one of {', '.join(i18n.LANGUAGES)}")
    # Only a path of this site: never a redirect elsewhere (//host, /\host, a scheme).
    if not back.startswith("/") or back.startswith(("//", "/\\")):
        back = "/"
    response = RedirectResponse(quote(back, safe="/"), status_code=303)
    response.set_cookie(i18n.LANGUAGE_COOKIE, to, max_age=365 * 86_400, httponly=True,
                        samesite="lax", secure=_secure(request))  # fmt: skip
    return response


@router.get("/")
def home(session: Page) -> Response:
    return RedirectResponse("/admin" if session.who.admin else "/account", status_code=303)


# ----------------------------------------------------------------- admin


@router.get("/admin")
def dashboard(request: Request, session: Page) -> Response:
    require_admin(session.who)
    ctx = panel(request).reading()
    catalog = ctx.catalog()
    per_server: dict[str, list[str]] = {name: [] for name in catalog.servers}
    for name, account in sorted(catalog.accounts.items()):
        per_server.setdefault(account.server, []).append(name)
    rows = servers.list_servers(ctx)
    return render(request, "dashboard.html", session=session, servers=rows,
                  per_server=per_server, resources=RESOURCES,
                  alerts=monitoring.firing_alerts(ctx))  # fmt: skip


@router.get("/admin/accounts")
def account_list(request: Request, session: Page, q: str = "", page: int = 1) -> Response:
    """Accounts found by name or domain, a page at a time: base, in force and current use
    read for the page's accounts only (one InfluxDB query for them, never for the fleet)."""
    require_admin(session.who)
    ctx = panel(request).reading()
    catalog = ctx.catalog()
    found = accounts.find_accounts(catalog, q)
    pages = max(1, math.ceil(len(found) / PAGE_SIZE))
    page = min(max(1, page), pages)
    shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    in_force = limits_in_force(catalog, boosts_at(ctx.engine), ctx.today, shown)
    try:
        use, note = usage.current_use(ctx, shown), ""
    except BubbleError as exc:  # the detail names internal hosts: the operator's log only
        log.warning("%s", exc)
        use, note = {}, "not available right now"
    return render(request, "accounts.html", session=session, q=q, page=page, pages=pages,
                  total=len(found), rows=accounts.list_accounts(ctx, shown),
                  in_force={n: limits.model_dump() for n, limits in in_force.items()},
                  use=use, note=note)  # fmt: skip


@router.get("/admin/accounts/{name}")
def admin_account(request: Request, session: Page, name: str, range: str = "24h") -> Response:
    """One account: its limits, state, wallet, history and the customer's usage graphs."""
    require_admin(session.who)
    ctx = panel(request).reading()
    visible_account(session.who, ctx.catalog(), name)
    graphs, note = _usage_graphs(request, ctx, name, range)
    return render(request, "account.html", session=session,
                  account=accounts.describe_account(ctx, name),
                  version=account_version(ctx, name),
                  wallet=wallets.wallet(ctx, name),
                  history=history.account_history(ctx, name),
                  graphs=graphs, note=note, chosen=range, ranges=usage.RANGES,
                  move=moves.state(ctx, name), move_job=moves.latest(panel(request), name),
                  targets=moves.targets(ctx, name))  # fmt: skip


def _admin_form(
    request: Request, session: auth.Session, csrf: str, name: str, version: str
) -> None:
    """An admin's form for an account it may see, with the session's CSRF token, made on a
    page that shows the account as it is now."""
    who = checked(session, csrf)
    require_admin(who)
    ctx = panel(request).context()
    visible_account(who, ctx.catalog(), name)
    require_current(version, account_version(ctx, name), f"account {name}")


def _limits_form(cpu: str, memory: str, disk: str, processes: str) -> dict[str, str | int]:
    """Limits from a form (an account's overrides, a plan's base): the fields given."""
    wanted: dict[str, str | int] = {
        k: v.strip() for k, v in (("cpu", cpu), ("memory", memory), ("disk", disk)) if v.strip()
    }
    if processes.strip():
        if not processes.strip().isdigit():
            raise BubbleError(f"processes: {processes!r} is not a whole number")
        wanted["processes"] = int(processes)
    return wanted


@router.post("/admin/accounts/{name}/limits")
def admin_limits(
    request: Request, session: Page, csrf: Csrf, version: Version, name: str,
    tasks: BackgroundTasks, cpu: Annotated[str, Form()] = "",
    memory: Annotated[str, Form()] = "", disk: Annotated[str, Form()] = "",
    processes: Annotated[str, Form()] = "", clear: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    with catalog_lock(panel(request).ctx.root):  # the version checked and the change: one step
        _admin_form(request, session, csrf, name, version)
        wanted = _limits_form(cpu, memory, disk, processes)
        if not wanted and not clear:
            raise BubbleError("give cpu, memory, disk or processes (or clear the overrides)")
        changes.set_limits(panel(request), tasks, session.who, name, wanted, bool(clear))
    return back(f"/admin/accounts/{name}", "limits saved")


@router.post("/admin/accounts/{name}/credit")
def admin_credit(
    request: Request, session: Page, csrf: Csrf, version: Version, name: str,
    amount: Annotated[str, Form()], note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    with catalog_lock(panel(request).ctx.root):  # the version checked and the change: one step
        _admin_form(request, session, csrf, name, version)
        entry = changes.credit(panel(request), session.who, name, amount, note)
    return back(f"/admin/accounts/{name}",
                f"credited {format_money(entry.amount_cents)}, balance "
                f"{format_money(entry.balance_after_cents)}")  # fmt: skip


@router.post("/admin/accounts/{name}/state")
def admin_state(
    request: Request, session: Page, csrf: Csrf, version: Version, name: str,
    tasks: BackgroundTasks, state: Annotated[str, Form()],
) -> Response:  # fmt: skip
    with catalog_lock(panel(request).ctx.root):  # the version checked and the change: one step
        _admin_form(request, session, csrf, name, version)
        if state not in (AccountState.ACTIVE.value, AccountState.SUSPENDED.value):
            raise BubbleError(f"state: {state!r} is not active or suspended")
        changes.set_state(panel(request), tasks, session.who, name, AccountState(state))
    return back(f"/admin/accounts/{name}", f"account {state}")


@router.post("/admin/accounts/{name}/move")
def admin_move(
    request: Request, session: Page, csrf: Csrf, version: Version, name: str,
    to: Annotated[str, Form()] = "", finish: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Move the account to a server (or finish its switched move) in the background."""
    _admin_form(request, session, csrf, name, version)
    job_id = moves.start(panel(request), session.who, name, to.strip() or None, bool(finish))
    return back(f"/admin/accounts/{name}", f"move {job_id} started")


@router.get("/admin/topups")
def admin_topups(request: Request, session: Page, state: str = "requested") -> Response:
    require_admin(session.who)
    rows = topups.list_topups(panel(request).reading(), state=state or None)
    return render(request, "topups.html", session=session, rows=rows, state=state,
                  states=topups.STATES, money=format_money)  # fmt: skip


@router.post("/admin/topups/{reference}")
def admin_topup_decide(
    request: Request, session: Page, csrf: Csrf, reference: str,
    decision: Annotated[str, Form()],
) -> Response:  # fmt: skip
    who = checked(session, csrf)
    require_admin(who)
    if decision not in ("confirm", "reject"):
        raise BubbleError(f"decision: {decision!r} is not confirm or reject")
    topup, _ = changes.decide_topup(panel(request), who, reference, decision == "confirm")
    amount = format_money(topup.amount_cents)
    return back("/admin/topups", f"{reference} {topup.state}: {amount} for {topup.account}")


def _per_hour(cents: Fraction) -> str:
    return format_money(math.ceil(cents))


@router.get("/admin/plans")
def plan_list(request: Request, session: Page) -> Response:
    require_admin(session.who)
    catalog = panel(request).reading().catalog()
    on_plan: dict[str, list[bool]] = {name: [] for name in catalog.plans}
    for account in catalog.accounts.values():
        follows = not account.overrides.model_dump(exclude_none=True)
        on_plan.setdefault(account.plan, []).append(follows)
    return render(request, "plans.html", session=session, plans=sorted(catalog.plans.items()),
                  on_plan=on_plan, resources=RESOURCES, money=format_money)  # fmt: skip


@router.get("/admin/plans/{name}")
def plan_preview(
    request: Request, session: Page, name: str,
    cpu: str = "", memory: str = "", disk: str = "", processes: str = "",
) -> Response:  # fmt: skip
    """What the change does before it is made: accounts that follow, whose base changes, the
    elastic hours they have in force now before and after."""
    require_admin(session.who)
    wanted = _limits_form(cpu, memory, disk, processes)
    if not wanted:
        raise BubbleError("give cpu, memory, disk or processes")
    ctx = panel(request).reading()
    cost = plans.plan_cost(ctx, name, wanted)
    now, after = _per_hour(cost.burn_now), _per_hour(cost.burn_after)
    return render(request, "plan.html", session=session, name=name, wanted=wanted, cost=cost,
                  burn_now=now, burn_after=after, version=plan_version(ctx, name))  # fmt: skip


@router.post("/admin/plans/{name}")
def plan_set(
    request: Request, session: Page, csrf: Csrf, version: Version, name: str,
    tasks: BackgroundTasks, cpu: Annotated[str, Form()] = "",
    memory: Annotated[str, Form()] = "", disk: Annotated[str, Form()] = "",
    processes: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """The change as previewed, or nothing when the plan changed since the preview."""
    with catalog_lock(panel(request).ctx.root):  # the version checked and the change: one step
        who = checked(session, csrf)
        require_admin(who)
        ctx = panel(request).context()
        require_current(version, plan_version(ctx, name), f"plan {name}")
        wanted = _limits_form(cpu, memory, disk, processes)
        if not wanted:
            raise BubbleError("give cpu, memory, disk or processes")
        change = changes.set_plan(panel(request), tasks, who, name, wanted)
    return back("/admin/plans", f"plan {name} updated; {change.following} account(s) follow it")


@router.get("/admin/servers")
def server_list(request: Request, session: Page) -> Response:
    require_admin(session.who)
    rows = servers.list_servers(panel(request).reading())
    return render(request, "servers.html", session=session, servers=rows)


@router.post("/admin/servers/{name}/state")
def server_state(
    request: Request, session: Page, csrf: Csrf, name: str, state: Annotated[str, Form()]
) -> Response:
    who = checked(session, csrf)
    require_admin(who)
    if state not in (ServerState.ACTIVE.value, ServerState.DRAINING.value):
        raise BubbleError(f"state: {state!r} is not active or draining")
    changes.set_server_state(panel(request), who, name, ServerState(state))
    return back("/admin/servers", f"server {name} is now {state}")


@router.get("/admin/audit")
def audit_log(request: Request, session: Page) -> Response:
    """Who changed what: the catalog's commits (their author is the acting person) and the
    ledger's money entries (their note names who credited or confirmed)."""
    require_admin(session.who)
    ctx = panel(request).reading()
    return render(request, "audit.html", session=session, commits=catalog_log(ctx.root),
                  entries=ctx.ledger.recent(), money=format_money)  # fmt: skip


# ----------------------------------------------------------------- the customer


def _own(session: auth.Session) -> str:
    if session.who.account is None:
        raise HTTPException(404, "admins have no account of their own: see /admin")
    return session.who.account


def _own_form(request: Request, session: auth.Session, csrf: str, version: str) -> str:
    """The customer's own account for a form with the session's CSRF token, made on a page
    that shows the account as it is now (a stale one changes nothing)."""
    checked(session, csrf)
    name = _own(session)
    require_current(version, account_version(panel(request).context(), name), f"account {name}")
    return name


def _latest_usage(ctx: Context, name: str) -> tuple[dict[str, Any] | None, str]:
    try:
        rows = usage.account_usage(ctx, name, 600)
    except BubbleError as exc:  # the detail names internal hosts: the operator's log only
        log.warning("%s", exc)
        return None, "not available right now"
    return (rows[-1], "") if rows else (None, "no samples in the last 10 minutes")


@router.get("/account")
def own_account(request: Request, session: Page) -> Response:
    name = _own(session)
    ctx = panel(request).reading()
    account = visible_account(session.who, ctx.catalog(), name)
    latest, usage_note = _latest_usage(ctx, name)
    cap = None if account.max_daily is None else format_money(account.max_daily)
    return render(request, "own.html", session=session,
                  account=accounts.describe_account(ctx, name), max_daily=cap,
                  version=account_version(ctx, name),
                  wallet=wallets.wallet(ctx, name), latest=latest, usage_note=usage_note,
                  resources=RESOURCES, topups=topups.list_topups(ctx, account=name)[:10],
                  pay_to=ctx.settings.bank_transfer_to,
                  alerts=monitoring.firing_alerts(ctx, account=name))  # fmt: skip


def _usage_graphs(
    request: Request, ctx: Context, name: str, range: str
) -> tuple[list[tuple[str, Any]], str]:
    """The account's graphs (CPU, memory, disk, processes) for the range chosen, or why not;
    their texts in the page's language."""
    if range not in usage.RANGES:
        raise BubbleError(f"range: {range!r} is not one of {', '.join(usage.RANGES)}")
    try:
        data = usage.usage_graph(ctx, name, usage.RANGES[range])
    except BubbleError as exc:  # the detail names internal hosts: the operator's log only
        log.warning("%s", exc)
        return [], "not available right now"
    lang = _language(request)
    return [(r, usage_svg(data, r, lang)) for r in data["series"]], ""


@router.get("/account/usage")
def own_usage(request: Request, session: Page, range: str = "1h") -> Response:
    """CPU, memory, disk and processes against the base and the limit in force, for 1 h,
    24 h or 30 days, with the scaler's raises, lowers and charges marked."""
    name = _own(session)
    ctx = panel(request).reading()
    visible_account(session.who, ctx.catalog(), name)
    graphs, note = _usage_graphs(request, ctx, name, range)
    return render(request, "usage.html", session=session, graphs=graphs, note=note,
                  chosen=range, ranges=usage.RANGES)  # fmt: skip


@router.post("/account/elastic")
def own_elastic(
    request: Request, session: Page, csrf: Csrf, version: Version,
    on: Annotated[str, Form()] = "", max_daily: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    with catalog_lock(panel(request).ctx.root):  # the version checked and the change: one step
        name = _own_form(request, session, csrf, version)
        who = session.who
        cap = changes.daily_cap(max_daily)
        account = changes.set_elastic(panel(request), who, name, bool(on), cap)
    return back("/account", f"elastic {'on' if account.elastic else 'off'}")


@router.post("/account/topup")
def own_topup(
    request: Request, session: Page, csrf: Csrf, amount: Annotated[str, Form()]
) -> Response:
    who = checked(session, csrf)
    asked = changes.request_topup(panel(request), who, _own(session), amount)
    amount = format_money(asked.amount_cents)
    return back("/account", f"transfer {amount} with the reference {asked.reference}; "
                            "your wallet is credited when it arrives")  # fmt: skip


@router.get("/account/upgrade")
def own_upgrade_quote(
    request: Request, session: Page, cpu: str = "", memory: str = "", disk: str = ""
) -> Response:
    name = _own(session)
    order = UpgradeOrder(cpu=cpu or None, memory=memory or None, disk=disk or None)
    ctx = panel(request).reading()
    quote_ = accounts.upgrade_quote(ctx, name, order.amounts())
    return render(request, "upgrade.html", session=session, quote=quote_, order=order,
                  version=account_version(ctx, name))  # fmt: skip


@router.post("/account/upgrade")
def own_upgrade(
    request: Request, session: Page, csrf: Csrf, version: Version, tasks: BackgroundTasks,
    cpu: Annotated[str, Form()] = "", memory: Annotated[str, Form()] = "",
    disk: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    with catalog_lock(panel(request).ctx.root):  # the version checked and the change: one step
        name = _own_form(request, session, csrf, version)
        who = session.who
        order = UpgradeOrder(cpu=cpu or None, memory=memory or None, disk=disk or None)
        bought = changes.buy_upgrade(panel(request), tasks, who, name, order.amounts())
    return back("/account", f"upgraded until {bought.expires}, balance "
                            f"{format_money(bought.balance_cents)}")  # fmt: skip


@router.post("/account/password")
def own_password(
    request: Request, session: Page, csrf: Csrf,
    current: Annotated[str, Form()], new: Annotated[str, Form()],
) -> Response:  # fmt: skip
    who = checked(session, csrf)
    name = _own(session)
    engine = panel(request).ctx.engine
    try:  # the current password, counted like a login
        auth.login(engine, name, current, "", client_address(request))
    except auth.LoginRefused:
        raise BubbleError("current password: wrong") from None
    auth.set_customer_password(engine, who.name, new)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account/mail")
def own_mail(request: Request, session: Page) -> Response:
    """The account's mailboxes (create, set a password, delete) and its FTP password."""
    name = _own(session)
    ctx = panel(request).context()
    account = visible_account(session.who, ctx.catalog(), name)
    try:
        mailboxes, unlisted = credentials.list_mailboxes(ctx, name), ""
    except RemoteError as exc:  # the server is asked: when it does not answer, the forms still work
        log.warning("%s", exc)  # the detail names internal hosts: the operator's log only
        mailboxes, unlisted = [], "not available right now"
    return render(request, "mail.html", session=session, name=name, domains=account.domains,
                  mailboxes=mailboxes, unlisted=unlisted,
                  version=account_version(ctx, name))  # fmt: skip


@router.post("/account/mailboxes")
def own_mailbox(
    request: Request, session: Page, csrf: Csrf, version: Version,
    address: Annotated[str, Form()], password: Annotated[str, Form()] = "",
    delete: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Create a mailbox or set its password; with `delete`, remove it (its mail is kept)."""
    name = _own_form(request, session, csrf, version)
    changes.set_mailbox(panel(request), session.who, name, address, None if delete else password)
    return back("/account/mail", f"mailbox {address.lower()} {'deleted' if delete else 'ready'}")


@router.post("/account/ftp-password")
def own_ftp_password(
    request: Request, session: Page, csrf: Csrf, version: Version,
    password: Annotated[str, Form()],
) -> Response:  # fmt: skip
    name = _own_form(request, session, csrf, version)
    changes.set_ftp_password(panel(request), session.who, name, password)
    return back("/account/mail", f"FTP password of {name} set")


@router.get("/account/migrate")
def own_migrate(request: Request, session: Page) -> Response:
    """The migration form, or the running job's live progress (the page reloads itself while
    it runs), and the last job's report."""
    name = _own(session)
    ctx = panel(request).context()
    visible_account(session.who, ctx.catalog(), name)
    latest = next(iter(background.rows(ctx.engine, name, "migration", limit=1)), None)
    return render(request, "migrate.html", session=session, name=name, job=latest,
                  version=account_version(ctx, name))  # fmt: skip


@router.post("/account/migrate/check")
def own_migrate_check(
    request: Request, session: Page, csrf: Csrf, version: Version,
    files: Annotated[str, Form()] = "", files_password: Annotated[str, Form()] = "",
    databases: Annotated[str, Form()] = "", db_password: Annotated[str, Form()] = "",
    mail: Annotated[str, Form()] = "", mail_password: Annotated[str, Form()] = "",
    mailbox_password: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Step 1: the pre-flight shown (warnings, sizes, the fit); the form's passwords stay in
    the panel's memory for step 2, never in the page."""
    name = _own_form(request, session, csrf, version)
    given = {"files": files_password, "db": db_password, "mail": mail_password,
             "mailbox": mailbox_password}  # fmt: skip
    form = MigrationForm(files, lines(databases), lines(mail),
                         {k: v for k, v in given.items() if v})  # fmt: skip
    report = jobs(request).check(name, form)
    token = jobs(request).remember(name, form) if report.ok else ""
    return render(request, "migrate_check.html", session=session, report=report, token=token,
                  version=version)  # fmt: skip


@router.post("/account/migrate/start")
def own_migrate_start(
    request: Request, session: Page, csrf: Csrf, version: Version,
    token: Annotated[str, Form()],
) -> Response:  # fmt: skip
    """Step 2: the checked migration runs in the background."""
    name = _own_form(request, session, csrf, version)
    job_id = jobs(request).start_checked(session.who, name, token)
    return back("/account/migrate", f"migration {job_id} started")


@router.get("/account/backups")
def own_backups(request: Request, session: Page) -> Response:
    """The account's archives (what each holds) and the restore forms, or the running
    restore (the page reloads itself while it runs) and the last one's result."""
    name = _own(session)
    ctx = panel(request).context()
    visible_account(session.who, ctx.catalog(), name)
    try:
        archives, note = backups.list_archives(ctx, name), ""
    except BubbleError as exc:  # the detail names internal hosts: the operator's log only
        log.warning("%s", exc)
        archives, note = [], "not available right now"
    databases = sorted({d for a in archives for d in a["databases"]})
    mailboxes = sorted({m for a in archives for m in a["mailboxes"]})
    return render(request, "backups.html", session=session, name=name, archives=archives,
                  note=note, databases=databases, mailboxes=mailboxes,
                  job=restores.latest(panel(request), name),
                  version=account_version(ctx, name))  # fmt: skip


@router.post("/account/backups/restore")
def own_restore(
    request: Request, session: Page, csrf: Csrf, version: Version,
    kind: Annotated[str, Form()], value: Annotated[str, Form()],
    archive: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """One file, database or mailbox restored from an archive in the background."""
    name = _own_form(request, session, csrf, version)
    asked = restores.what(kind, value)
    job_id = restores.start(panel(request), session.who, name, asked, archive.strip() or None)
    return back("/account/backups", f"restore {job_id} started")
