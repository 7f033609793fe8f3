"""The JSON API under /api/v1: thin callers of glue.services (the CLI's own), with who may
do what. A customer sees only its own account: any other answers 404, like a missing one,
and an admin's object 404, like a path that does not exist (`require_admin`)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from glue.errors import BubbleError
from glue.models import AccountState, Resource, ServerState
from glue.panel import background, changes, moves, restores
from glue.panel.auth import Principal
from glue.panel.migrations import PASSWORD_KEYS, MigrationForm, jobs
from glue.panel.request import (
    SAFE_METHODS,
    api_principal,
    cookie_session,
    panel,
    require_admin,
    visible_account,
)
from glue.services import (
    accounts,
    backups,
    credentials,
    history,
    servers,
    topups,
    usage,
    wallets,
)
from glue.services.context import Context
from glue.units import format_money

log = logging.getLogger("bubble.panel")
router = APIRouter(prefix="/api/v1")
PAGE, MAX_PAGE = 50, 500  # accounts per page of `GET /accounts`: unless asked, at most
Who = Annotated[Principal, Depends(api_principal)]


def _ctx(request: Request) -> Context:
    """A read's Context loads the catalog once (`Panel.reading`); a change's sees its edit."""
    found = panel(request)
    return found.reading() if request.method in SAFE_METHODS else found.context()


def _mine(request: Request, who: Principal, name: str) -> Context:
    """The Context, once `who` may see account `name` (404 otherwise)."""
    ctx = _ctx(request)
    visible_account(who, ctx.catalog(), name)
    return ctx


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitsChange(Strict):
    cpu: str | None = None
    memory: str | None = None
    disk: str | None = None
    processes: int | None = None
    clear: bool = False


class BaseChange(Strict):
    cpu: str | None = None
    memory: str | None = None
    disk: str | None = None
    processes: int | None = None


class Credit(Strict):
    amount: str
    note: str = ""
    key: str | None = None


class TopUpRequest(Strict):
    amount: str


class Elastic(Strict):
    on: bool
    max_daily: str | None = None  # omitted: the cap stays; null: no cap


class Password(Strict):
    password: str


class MigrationOrder(Strict):
    """Sources as `bubble migrate` takes them; passwords only here, never in a URL."""

    files: str = ""
    databases: list[str] = []
    mail: list[str] = []
    files_password: str | None = None
    db_password: str | None = None
    mail_password: str | None = None
    mailbox_password: str | None = None

    def form(self) -> MigrationForm:
        given = {k: getattr(self, f"{k}_password") for k in PASSWORD_KEYS}
        return MigrationForm(self.files, tuple(self.databases), tuple(self.mail),
                             {k: v for k, v in given.items() if v is not None})  # fmt: skip


class RestoreOrder(Strict):
    """Exactly one of path (relative to the home), db, mailbox; archive: None for the newest."""

    archive: str | None = None
    path: str | None = None
    db: str | None = None
    mailbox: str | None = None

    def what(self) -> str:
        given = [(k, v) for k in restores.KINDS if (v := getattr(self, k)) is not None]
        if len(given) != 1:
            raise BubbleError("give exactly one of path, db, mailbox")
        return restores.what(*given[0])


class MoveOrder(Strict):
    """A server to move to (or resume the move to), or finish the switched move."""

    to: str | None = None
    finish: bool = False


class UpgradeOrder(Strict):
    cpu: str | None = None
    memory: str | None = None
    disk: str | None = None
    key: str | None = None

    def amounts(self) -> dict[Resource, str]:
        given = {"cpu": self.cpu, "memory": self.memory, "disk": self.disk}
        return {r: v for r, v in given.items() if v}  # type: ignore[misc]


@router.get("/session")
def whoami(request: Request, who: Who) -> dict[str, Any]:
    """Who is asking; for a cookie session also its CSRF token (send it as X-CSRF-Token)."""
    found = cookie_session(request)
    csrf = found.csrf if found is not None and found.who == who else None
    return {"name": who.name, "role": who.role, "account": who.account, "csrf": csrf}


PAGE_HEADERS = {
    "X-Total-Count": {"description": "how many accounts match", "schema": {"type": "integer"}},
    "Link": {"description": 'the next page, `<URL>; rel="next"`, while there is one',
             "schema": {"type": "string"}},
}  # fmt: skip


@router.get("/accounts", responses={200: {"headers": PAGE_HEADERS}})
def list_accounts(
    request: Request, response: Response, who: Who, q: str = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Accounts by name, `limit` of them (50 unless asked, at most 500) from `offset`; with
    `q`, only those whose name or a domain holds it (the accounts page's search). A customer
    sees its own only. The headers say how many match and where the next page is."""
    ctx = _ctx(request)
    found = [n for n in accounts.find_accounts(ctx.catalog(), q) if who.admin or n == who.account]
    response.headers["X-Total-Count"] = str(len(found))
    if offset + limit < len(found):
        following = request.url.include_query_params(limit=limit, offset=offset + limit)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return accounts.list_accounts(ctx, found[offset : offset + limit])


@router.get("/accounts/{name}")
def show_account(request: Request, who: Who, name: str) -> dict[str, Any]:
    return accounts.describe_account(_mine(request, who, name), name)


@router.get("/accounts/{name}/wallet")
def show_wallet(request: Request, who: Who, name: str) -> dict[str, Any]:
    return wallets.wallet(_mine(request, who, name), name)


@router.get("/accounts/{name}/usage")
def show_usage(
    request: Request, who: Who, name: str,
    since: Annotated[int, Query(ge=1, le=usage.RANGES["30d"])] = 3600,
    points: Annotated[int, Query(ge=1, le=usage.MAX_POINTS)] = usage.POINTS,
) -> dict[str, Any]:  # fmt: skip
    """What the usage graphs draw for the last `since` seconds in about `points` intervals
    (240 unless asked, at most 1000): per resource [time, highest use, highest limit in
    force] per interval, the base, the scaler's raises and lowers and the charges."""
    ctx = _mine(request, who, name)
    try:
        return usage.usage_graph(ctx, name, since, points)
    except BubbleError as exc:  # names internal hosts: for admins and the operator's log only
        log.warning("%s", exc)
        if who.admin:
            raise
        raise HTTPException(503, "usage is not available right now") from None


@router.get("/accounts/{name}/history")
def show_history(request: Request, who: Who, name: str) -> list[dict[str, Any]]:
    return history.account_history(_mine(request, who, name), name)


@router.get("/servers")
def list_servers(request: Request, who: Who) -> list[dict[str, Any]]:
    require_admin(who)
    return servers.list_servers(_ctx(request))


@router.get("/plans")
def list_plans(request: Request, who: Who) -> dict[str, Any]:
    catalog = _ctx(request).catalog()
    return {name: plan.model_dump(mode="json") for name, plan in sorted(catalog.plans.items())}


# ----------------------------------------------------------------- admin changes


@router.patch("/accounts/{name}/limits")
def set_limits(
    request: Request, who: Who, name: str, body: LimitsChange, tasks: BackgroundTasks
) -> dict[str, Any]:
    ctx = _mine(request, who, name)
    require_admin(who)
    wanted = body.model_dump(exclude={"clear"}, exclude_none=True)
    changes.set_limits(panel(request), tasks, who, name, wanted, body.clear)
    return accounts.describe_account(ctx, name)


def _state(request: Request, who: Principal, name: str, state: AccountState,
           tasks: BackgroundTasks) -> dict[str, Any]:  # fmt: skip
    _mine(request, who, name)
    require_admin(who)
    account = changes.set_state(panel(request), tasks, who, name, state)
    return {"account": name, "state": account.state.value}


@router.post("/accounts/{name}/suspend")
def suspend(request: Request, who: Who, name: str, tasks: BackgroundTasks) -> dict[str, Any]:
    return _state(request, who, name, AccountState.SUSPENDED, tasks)


@router.post("/accounts/{name}/resume")
def resume(request: Request, who: Who, name: str, tasks: BackgroundTasks) -> dict[str, Any]:
    return _state(request, who, name, AccountState.ACTIVE, tasks)


@router.post("/accounts/{name}/wallet/credits", status_code=201)
def credit(request: Request, who: Who, name: str, body: Credit) -> dict[str, Any]:
    _mine(request, who, name)
    require_admin(who)
    entry = changes.credit(panel(request), who, name, body.amount, body.note, body.key)
    return {"account": name, "amount": format_money(entry.amount_cents),
            "balance": format_money(entry.balance_after_cents), "key": entry.key,
            "created": entry.created}  # fmt: skip


@router.patch("/plans/{name}")
def set_plan(
    request: Request, who: Who, name: str, body: BaseChange, tasks: BackgroundTasks
) -> dict[str, Any]:
    """Change a plan's base (`bubble plan set`): every account following it changes too."""
    require_admin(who)
    wanted = body.model_dump(exclude_none=True)
    if not wanted:
        raise BubbleError("give cpu, memory, disk or processes")
    change = changes.set_plan(panel(request), tasks, who, name, wanted)
    return {"plan": name, "base": change.plan.base.model_dump(), "following": change.following}


def _server_state(
    request: Request, who: Principal, name: str, state: ServerState
) -> dict[str, Any]:
    require_admin(who)
    server = changes.set_server_state(panel(request), who, name, state)
    return {"server": name, "state": server.state.value}


@router.post("/servers/{name}/drain")
def drain_server(request: Request, who: Who, name: str) -> dict[str, Any]:
    return _server_state(request, who, name, ServerState.DRAINING)


@router.post("/servers/{name}/activate")
def activate_server(request: Request, who: Who, name: str) -> dict[str, Any]:
    return _server_state(request, who, name, ServerState.ACTIVE)


# ----------------------------------------------------------------- the customer's own changes


@router.put("/accounts/{name}/elastic")
def set_elastic(request: Request, who: Who, name: str, body: Elastic) -> dict[str, Any]:
    _mine(request, who, name)
    cap: int | None = accounts.KEEP
    if "max_daily" in body.model_fields_set:
        cap = changes.daily_cap(body.max_daily)
    account = changes.set_elastic(panel(request), who, name, body.on, cap)
    shown = None if account.max_daily is None else format_money(account.max_daily)
    return {"account": name, "elastic": account.elastic, "max_daily": shown}


@router.get("/accounts/{name}/upgrade")
def quote_upgrade(
    request: Request, who: Who, name: str,
    cpu: str | None = None, memory: str | None = None, disk: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The price of an upgrade, before buying it."""
    order = UpgradeOrder(cpu=cpu, memory=memory, disk=disk)
    return accounts.upgrade_quote(_mine(request, who, name), name, order.amounts())


@router.post("/accounts/{name}/upgrades", status_code=201)
def buy_upgrade(
    request: Request, who: Who, name: str, body: UpgradeOrder, tasks: BackgroundTasks
) -> dict[str, Any]:
    _mine(request, who, name)
    bought = changes.buy_upgrade(panel(request), tasks, who, name, body.amounts(), body.key)
    return {"account": name, "key": bought.key, "created": bought.created,
            "fee": format_money(bought.fee_cents if bought.created else 0),
            "expires": bought.expires.isoformat(),
            "balance": format_money(bought.balance_cents)}  # fmt: skip


# ----------------------------------------------------------------- mailboxes and FTP
# Passwords only in request bodies: never in a path, an answer or a log line.


@router.get("/accounts/{name}/mailboxes")
def list_mailboxes(request: Request, who: Who, name: str) -> list[str]:
    return credentials.list_mailboxes(_mine(request, who, name), name)


@router.put("/accounts/{name}/mailboxes/{address}")
def set_mailbox(request: Request, who: Who, name: str, address: str,
                body: Password) -> dict[str, Any]:  # fmt: skip
    """Create the mailbox or set its password."""
    _mine(request, who, name)
    changes.set_mailbox(panel(request), who, name, address, body.password)
    return {"account": name, "mailbox": address.lower(), "state": "ready"}


@router.delete("/accounts/{name}/mailboxes/{address}")
def delete_mailbox(request: Request, who: Who, name: str, address: str) -> dict[str, Any]:
    """Remove the mailbox (its mail is kept on the server)."""
    _mine(request, who, name)
    changes.set_mailbox(panel(request), who, name, address, None)
    return {"account": name, "mailbox": address.lower(), "state": "deleted"}


@router.put("/accounts/{name}/ftp-password")
def set_ftp_password(request: Request, who: Who, name: str, body: Password) -> dict[str, Any]:
    _mine(request, who, name)
    changes.set_ftp_password(panel(request), who, name, body.password)
    return {"account": name, "ftp_login": name}


# ----------------------------------------------------------------- migrations


@router.post("/accounts/{name}/migrations/check")
def check_migration(request: Request, who: Who, name: str, body: MigrationOrder) -> dict[str, Any]:
    """The pre-flight only: every login, every size, the fit in the disk limit."""
    _mine(request, who, name)
    return jobs(request).check(name, body.form()).to_dict()


@router.post("/accounts/{name}/migrations", status_code=202)
def start_migration(request: Request, who: Who, name: str, body: MigrationOrder) -> dict[str, Any]:
    """Start a migration in the background (one per account at a time): poll its URL."""
    _mine(request, who, name)
    job_id = jobs(request).start(who, name, body.form())
    return {"id": job_id, "url": f"/api/v1/accounts/{name}/migrations/{job_id}"}


@router.get("/accounts/{name}/migrations")
def list_migrations(request: Request, who: Who, name: str) -> list[dict[str, Any]]:
    return background.rows(_mine(request, who, name).engine, name, "migration")


def _job(request: Request, who: Principal, name: str, kind: str, job_id: int) -> dict[str, Any]:
    """One background job of the account: its state, progress and, once ended, its report."""
    found = background.rows(_mine(request, who, name).engine, name, kind, job_id)
    if not found:
        raise HTTPException(404, f"unknown {kind} {job_id} of {name}")
    return found[0]


@router.get("/accounts/{name}/migrations/{job_id}")
def show_migration(request: Request, who: Who, name: str, job_id: int) -> dict[str, Any]:
    """A migration's state, its progress (bytes per part) and, once ended, its report."""
    return _job(request, who, name, "migration", job_id)


# ----------------------------------------------------------------- backups and moves


@router.get("/accounts/{name}/backups")
def list_backups(request: Request, who: Who, name: str) -> list[dict[str, Any]]:
    """The account's archives, oldest first: name, time, size, what each holds."""
    ctx = _mine(request, who, name)
    try:
        return backups.list_archives(ctx, name)
    except BubbleError as exc:  # names internal hosts: for admins and the operator's log only
        log.warning("%s", exc)
        if who.admin:
            raise
        raise HTTPException(503, "backups are not available right now") from None


@router.post("/accounts/{name}/backups/restore", status_code=202)
def restore_backup(request: Request, who: Who, name: str, body: RestoreOrder) -> dict[str, Any]:
    """Restore one file, database or mailbox in the background (one job of an account at a
    time): poll its URL."""
    _mine(request, who, name)
    job_id = restores.start(panel(request), who, name, body.what(), body.archive)
    return {"id": job_id, "url": f"/api/v1/accounts/{name}/backups/restores/{job_id}"}


@router.get("/accounts/{name}/backups/restores")
def list_restores(request: Request, who: Who, name: str) -> list[dict[str, Any]]:
    return background.rows(_mine(request, who, name).engine, name, "restore")


@router.get("/accounts/{name}/backups/restores/{job_id}")
def show_restore(request: Request, who: Who, name: str, job_id: int) -> dict[str, Any]:
    """A restore's state, what it restores and, once ended, what was restored."""
    return _job(request, who, name, "restore", job_id)


@router.post("/accounts/{name}/move", status_code=202)
def move_account(request: Request, who: Who, name: str, body: MoveOrder) -> dict[str, Any]:
    """An admin moves the account to another server in the background (or finishes it)."""
    _mine(request, who, name)
    require_admin(who)
    job_id = moves.start(panel(request), who, name, body.to, body.finish)
    return {"id": job_id, "url": f"/api/v1/accounts/{name}/move"}


@router.get("/accounts/{name}/move")
def show_move(request: Request, who: Who, name: str) -> dict[str, Any]:
    """The account's open move (its phase) and the panel's move jobs, newest first."""
    ctx = _mine(request, who, name)
    require_admin(who)
    return {"move": moves.state(ctx, name), "jobs": background.rows(ctx.engine, name, "move")}


# ----------------------------------------------------------------- top-ups


def _topup_answer(request: Request, topup: topups.TopUp) -> dict[str, Any]:
    pay_to = panel(request).ctx.settings.bank_transfer_to
    return {**topup.as_dict(), "pay_to": pay_to if topup.provider == topups.BANK else None}


@router.post("/accounts/{name}/topups", status_code=201)
def request_topup(request: Request, who: Who, name: str, body: TopUpRequest) -> dict[str, Any]:
    """Ask for a bank-transfer top-up: put the reference answered on the transfer; the wallet
    is credited when an admin confirms the money arrived."""
    _mine(request, who, name)
    return _topup_answer(request, changes.request_topup(panel(request), who, name, body.amount))


@router.get("/accounts/{name}/topups")
def account_topups(request: Request, who: Who, name: str) -> list[dict[str, Any]]:
    ctx = _mine(request, who, name)
    return [_topup_answer(request, t) for t in topups.list_topups(ctx, account=name)]


@router.get("/topups")
def all_topups(request: Request, who: Who, state: str | None = None) -> list[dict[str, Any]]:
    require_admin(who)
    return [_topup_answer(request, t) for t in topups.list_topups(_ctx(request), state=state)]


def _decide(request: Request, who: Principal, reference: str, confirm: bool) -> dict[str, Any]:
    require_admin(who)
    topup, entry = changes.decide_topup(panel(request), who, reference, confirm)
    answer = _topup_answer(request, topup)
    if entry is not None:
        answer["balance"] = format_money(entry.balance_after_cents)
    return answer


@router.post("/topups/{reference}/confirm")
def confirm_topup(request: Request, who: Who, reference: str) -> dict[str, Any]:
    return _decide(request, who, reference, True)


@router.post("/topups/{reference}/reject")
def reject_topup(request: Request, who: Who, reference: str) -> dict[str, Any]:
    return _decide(request, who, reference, False)


@router.post("/payments/webhook/{provider}")
async def payment_webhook(request: Request, provider: str) -> dict[str, Any]:
    """A payment provider's signed notification (no login: the signature is the proof). A
    repeated notification credits once; a bad signature 401 and nothing credited."""
    body = await request.body()
    try:
        entry = await run_in_threadpool(
            topups.notified, panel(request).context(), provider, body, request.headers
        )
    except topups.UnknownProvider as exc:
        raise HTTPException(404, str(exc)) from None
    except topups.BadSignature as exc:
        log.warning("payment webhook %s: refused a notification with a bad signature", provider)
        raise HTTPException(401, str(exc)) from None
    return {"account": entry.account, "amount": format_money(entry.amount_cents),
            "credited": entry.created}  # fmt: skip
