"""The panel's API served for real (uvicorn on loopback) over a real SQLite state DB and a
catalog in a git repository: logins, the rate limit, CSRF, the customer boundary attacked
from inside an account, money to the cent, stale forms, and every endpoint as each caller
(anonymous, another customer, the account's customer, an admin) gets it, with real usage
(a real InfluxDB) and history in the answers."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyotp
import pytest

from glue.catalog import load_catalog
from glue.models import AccountState, ServerState
from glue.services import accounts, servers
from glue.services.context import Context
from glue.settings import Settings
from glue.state.boosts import apply_levels
from scaler.agent_http import Endpoint
from scaler.billing import bill
from scaler.influx import InfluxClient
from tests.support.cli import invoke
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, running_influxd
from tests.support.panel import PASSWORD, Client, Reply, form_field, panel_root, running_panel
from tests.support.panel import api_token as token
from tests.unit.test_account_usage import DATABASE, MIB, influx_settings
from tests.unit.test_history_and_burn import HOUR, record, tariffs

pytestmark = pytest.mark.integration
WEBHOOK_SECRET = b"webhook secret of the test provider"
BANK_TO = "IBAN PL00 1234 (Bubblehost)"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return panel_root(tmp_path_factory.mktemp("panel"))


@pytest.fixture(scope="module")
def url(root: Path) -> Iterator[str]:
    settings = Settings(bank_transfer_to=BANK_TO,
                        payment_webhooks={"acme": WEBHOOK_SECRET.decode()})  # fmt: skip
    with running_panel(root, settings) as found:
        yield found


def balance(root: Path, name: str) -> int:
    return Context(root=root).ledger.balance(name)


def test_login_sets_a_strict_http_only_cookie_and_a_wrong_password_gets_nothing(url: str) -> None:
    admin = Client(url)
    reply = admin.login("root")
    assert reply.status == 303 and reply.headers["location"] == "/"
    cookie = next(c for c in reply.headers.get_all("set-cookie") if "bubble_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert admin.request("GET", "/api/v1/session").json()["role"] == "admin"
    assert admin.request("GET", "/admin").status == 200

    # Behind the TLS proxy (trusted loopback, X-Forwarded-Proto): the cookie is Secure.
    page = admin.request("GET", "/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in page.headers["set-cookie"]

    stranger = Client(url)
    refused = stranger.login("root", "not the password")
    assert refused.status == 401 and "wrong name, password or code" in refused.text
    assert "bubble_session" not in stranger.cookies
    assert stranger.request("GET", "/api/v1/accounts").status == 401
    assert stranger.request("GET", "/admin").headers["location"] == "/login"
    assert Client(url, token="bht_forged").request("GET", "/api/v1/accounts").status == 401


def test_a_cookie_without_the_csrf_token_changes_nothing(url: str, root: Path) -> None:
    alice = Client(url)
    assert alice.login("alice").status == 303
    wish = {"on": True, "max_daily": "2.50"}
    refused = alice.request("PUT", "/api/v1/accounts/alice/elastic", body=wish)
    assert refused.status == 403 and "CSRF" in refused.json()["detail"]
    forged = alice.request("PUT", "/api/v1/accounts/alice/elastic", body=wish,
                           headers={"X-CSRF-Token": "guessed"})  # fmt: skip
    assert forged.status == 403
    assert load_catalog(root).accounts["alice"].elastic is False

    bob_file = root / "catalog" / "accounts" / "bob.yml"  # the operator's edit, not committed
    bob_file.write_text(bob_file.read_text() + "# operator: checking bob\n")
    done = alice.request("PUT", "/api/v1/accounts/alice/elastic", body=wish,
                         headers={"X-CSRF-Token": alice.csrf()})  # fmt: skip
    assert done.status == 200, done.text
    assert done.json() == {"account": "alice", "elastic": True, "max_daily": "2.50"}
    account = load_catalog(root).accounts["alice"]
    assert account.elastic is True and account.max_daily == 250
    # The change is in the catalog's history, by the customer who made it.
    author = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%an|%s"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert author == "alice (customer)|panel: elastic on for alice"
    # Only alice's file: the operator's edit of bob is neither committed nor signed by alice.
    files = subprocess.run(["git", "-C", str(root), "show", "--name-only", "--format=", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert files == ["catalog/accounts/alice.yml"]
    assert "# operator: checking bob" in bob_file.read_text()


def test_customer_alice_cannot_see_or_touch_bob(url: str, root: Path) -> None:
    """The attack from inside an account: every way at bob answers as a missing account."""
    alice = Client(url)
    alice.login("alice")
    csrf = {"X-CSRF-Token": alice.csrf()}
    assert [a["name"] for a in alice.request("GET", "/api/v1/accounts").json()] == ["alice"]
    for path in ("", "/wallet", "/history", "/usage"):
        bob = alice.request("GET", f"/api/v1/accounts/bob{path}")
        missing = alice.request("GET", f"/api/v1/accounts/nobody{path}")
        assert bob.status == missing.status == 404
        assert bob.json()["detail"].replace("bob", "X") == missing.json()["detail"].replace(
            "nobody", "X"
        )
    elastic = alice.request("PUT", "/api/v1/accounts/bob/elastic", body={"on": True},
                            headers=csrf)  # fmt: skip
    upgrade = alice.request("POST", "/api/v1/accounts/bob/upgrades", body={"cpu": "+1GHz"},
                            headers=csrf)  # fmt: skip
    assert elastic.status == upgrade.status == 404
    # An admin's page or API object answers as a path that does not exist.
    bob_page, no_page = (alice.request("GET", p) for p in ("/admin/accounts/bob", "/admin/none"))
    assert bob_page.status == no_page.status == 404 and bob_page.text == no_page.text
    assert "bob" not in bob_page.text and 'id="balance"' not in bob_page.text
    fleet_list, no_api = (alice.request("GET", p) for p in ("/api/v1/servers", "/api/v1/none"))
    assert fleet_list.status == no_api.status == 404 and fleet_list.json() == no_api.json()
    assert load_catalog(root).accounts["bob"].elastic is False
    assert balance(root, "bob") == 100_00


def test_firing_alerts_on_the_dashboard_and_each_owner_sees_only_its_own(
    url: str, root: Path
) -> None:
    from glue.monitor import store
    from glue.monitor.evaluate import Alert

    now = time.time()

    def firing(rule: str, account: str = "") -> Alert:
        return Alert(
            rule,
            "web1",
            account,
            "warning",
            "firing",
            now,
            since=now,
            summary=f"{rule} {account or 'web1'}",
        )

    alerts = [firing("disk-low"), firing("account-at-limit", "alice"), firing("wallet-low", "bob")]
    engine = Context(root=root).engine
    opened = store.save(engine, {}, {a.key: a for a in alerts})
    try:
        admin = Client(url)
        admin.login("root")
        page = admin.request("GET", "/admin").text
        for text in ("disk-low web1", "account-at-limit alice", "wallet-low bob"):
            assert text in page
        alice = Client(url)
        assert alice.login("alice").status == 303
        own = alice.request("GET", "/account").text
        assert "account-at-limit alice" in own
        assert "wallet-low bob" not in own and "disk-low" not in own
    finally:
        closed = {k: replace(a, state="closed") for k, (_, a) in opened.items()}
        store.save(engine, opened, closed)


def test_an_account_token_cannot_credit_its_own_wallet(url: str, root: Path) -> None:
    alice = Client(url, token=token(root, "--account", "alice"))
    assert alice.request("GET", "/api/v1/accounts/alice/wallet").json()["account"] == "alice"
    refused = alice.request("POST", "/api/v1/accounts/alice/wallet/credits",
                            body={"amount": "1000.00"})  # fmt: skip
    assert refused.status == 404 and refused.json()["detail"] == "Not Found"
    limits = alice.request("PATCH", "/api/v1/accounts/alice/limits", body={"cpu": "8GHz"})
    assert limits.status == 404
    assert alice.request("PATCH", "/api/v1/plans/base", body={"cpu": "8GHz"}).status == 404
    assert alice.request("POST", "/api/v1/servers/web1/drain").status == 404
    assert alice.request("GET", "/api/v1/accounts/bob/wallet").status == 404
    bad = alice.request(
        "PUT", "/api/v1/accounts/alice/elastic", body={"on": True, "max_daily": "lots"}
    )
    assert bad.status == 422 and bad.json()["detail"].startswith("max_daily: ")
    assert balance(root, "alice") == 100_00


def test_an_admin_credits_to_the_cent_and_bad_input_changes_nothing(url: str, root: Path) -> None:
    admin = Client(url, token=token(root, "--admin", "root"))
    credit = admin.request("POST", "/api/v1/accounts/bob/wallet/credits",
                           body={"amount": "12.34", "note": "thanks"})  # fmt: skip
    assert credit.status == 201, credit.text
    assert credit.json()["balance"] == "112.34"
    assert balance(root, "bob") == 112_34
    wallet = admin.request("GET", "/api/v1/accounts/bob/wallet").json()
    assert wallet["balance"] == "112.34" and wallet["entries"][-1]["amount"] == "12.34"

    for body, field in (({"amount": "0.001"}, "amount: "), ({"amount": "1", "cents": 5}, "cents")):
        bad = admin.request("POST", "/api/v1/accounts/bob/wallet/credits", body=body)
        assert bad.status == 422 and field in bad.json()["detail"], bad.text
    bad = admin.request("PATCH", "/api/v1/accounts/bob/limits", body={"cpu": "fast"})
    assert bad.status == 422 and "cpu" in bad.json()["detail"]
    assert balance(root, "bob") == 112_34
    assert load_catalog(root).accounts["bob"].overrides.cpu_mhz is None

    done = admin.request("PATCH", "/api/v1/accounts/bob/limits", body={"cpu": "3GHz"})
    assert done.status == 200 and done.json()["in_force"]["cpu_mhz"] == 3000
    assert load_catalog(root).accounts["bob"].overrides.cpu_mhz == 3000
    servers = admin.request("GET", "/api/v1/servers").json()
    assert servers[0]["name"] == "web1" and servers[0]["accounts"] == 2
    assert (
        "/api/v1/accounts/{name}/wallet/credits"
        in admin.request("GET", "/api/v1/openapi.json").json()["paths"]
    )


def test_an_upgrade_shows_its_price_and_is_refused_without_cover(url: str, root: Path) -> None:
    bob = Client(url, token=token(root, "--account", "bob"))
    before = balance(root, "bob")  # 112.34: the base plan sells a GHz for 60.00 a year
    quote = bob.request("GET", "/api/v1/accounts/bob/upgrade?cpu=%2B1GHz").json()
    assert quote["fee"] == "60.00" and quote["covered"] is True
    too_much = bob.request("GET", "/api/v1/accounts/bob/upgrade?cpu=%2B2GHz").json()
    assert too_much["fee"] == "120.00" and too_much["covered"] is False
    refused = bob.request("POST", "/api/v1/accounts/bob/upgrades", body={"cpu": "+2GHz"})
    assert refused.status == 422 and "does not cover" in refused.json()["detail"]
    assert balance(root, "bob") == before
    bought = bob.request("POST", "/api/v1/accounts/bob/upgrades", body={"cpu": "+1GHz"})
    assert bought.status == 201 and bought.json()["fee"] == "60.00"
    assert balance(root, "bob") == before - 60_00


def test_failed_logins_are_rate_limited_even_for_the_right_password(url: str) -> None:
    bob = Client(url)
    for _ in range(5):
        assert bob.login("bob", "wrong password!").status == 401
    locked = bob.login("bob", PASSWORD)
    assert locked.status == 429 and "too many failed logins" in locked.text
    assert "bubble_session" not in bob.cookies
    # The guesser is locked out, not the owner: another client still logs in.
    owner = Client(url, source="127.0.0.2")
    assert owner.login("bob", PASSWORD).status == 303 and "bubble_session" in owner.cookies


def test_an_admin_with_totp_needs_the_current_code(url: str, root: Path) -> None:
    added = invoke("panel", "admin", "add", "ops", "--totp", "--json", root=root,
                   env={"BUBBLE_PASSWORD": PASSWORD}, catch_exceptions=False)  # fmt: skip
    assert added.exit_code == 0, added.stderr
    totp = pyotp.parse_uri(json.loads(added.stdout)["totp_uri"])
    assert Client(url).login("ops").status == 401
    assert Client(url).login("ops", code="000000" if totp.now() != "000000" else "1").status == 401
    code = totp.now()
    assert Client(url).login("ops", code=code).status == 303
    assert Client(url).login("ops", code=code).status == 401  # a code works once


def test_forms_need_the_csrf_token_and_a_customer_changes_its_password(
    url: str, root: Path
) -> None:
    admin, alice = Client(url), Client(url)
    admin.login("root")
    alice.login("alice")
    form = {"amount": "5.00", "csrf": "forged", "version": "any"}
    forged = admin.request("POST", "/admin/accounts/alice/credit", form=form)
    assert forged.status == 403 and balance(root, "alice") == 100_00
    new = {"current": PASSWORD, "new": "another long password"}
    assert alice.request("POST", "/account/password", form=new).status == 422  # no csrf field
    changed = alice.request("POST", "/account/password", form={**new, "csrf": alice.csrf()})
    assert changed.status == 303 and changed.headers["location"] == "/login"
    assert alice.request("GET", "/api/v1/session").status == 401  # its sessions ended
    assert Client(url).login("alice").status == 401
    assert Client(url).login("alice", "another long password").status == 303


def test_a_bank_transfer_credits_once_when_an_admin_confirms_it(url: str, root: Path) -> None:
    alice = Client(url, token=token(root, "--account", "alice"))
    admin = Client(url, token=token(root, "--admin", "root"))
    before = balance(root, "alice")
    asked = alice.request("POST", "/api/v1/accounts/alice/topups", body={"amount": "25.07"})
    assert asked.status == 201, asked.text
    ref = asked.json()["reference"]
    assert asked.json()["state"] == "requested" and asked.json()["pay_to"] == BANK_TO
    assert alice.request("POST", "/api/v1/accounts/bob/topups", body={"amount": "1"}).status == 404
    assert alice.request("POST", f"/api/v1/topups/{ref}/confirm").status == 404  # an admin's
    assert balance(root, "alice") == before

    for _ in range(2):  # confirming twice credits once
        done = admin.request("POST", f"/api/v1/topups/{ref}/confirm")
        assert done.status == 200 and done.json()["state"] == "confirmed", done.text
    assert balance(root, "alice") == before + 25_07
    assert admin.request("POST", f"/api/v1/topups/{ref}/reject").status == 422
    other = alice.request("POST", "/api/v1/accounts/alice/topups", body={"amount": "9.99"})
    rejected = admin.request("POST", f"/api/v1/topups/{other.json()['reference']}/reject")
    assert rejected.json()["state"] == "rejected"
    late = admin.request("POST", f"/api/v1/topups/{other.json()['reference']}/confirm")
    assert late.status == 422 and "rejected" in late.json()["detail"]
    assert balance(root, "alice") == before + 25_07
    bad = alice.request("POST", "/api/v1/accounts/alice/topups", body={"amount": "lots"})
    assert bad.status == 422 and bad.json()["detail"].startswith("amount: ")


def _notify(url: str, payload: dict[str, object], secret: bytes = WEBHOOK_SECRET) -> Reply:
    body = json.dumps(payload).encode()
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=30)
    try:
        connection.request("POST", "/api/v1/payments/webhook/acme", body=body,
                           headers={"X-Signature": f"sha256={signature}",
                                    "Content-Type": "application/json"})  # fmt: skip
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def test_a_signed_notification_credits_once_and_a_forged_one_nothing(url: str, root: Path) -> None:
    before = balance(root, "bob")
    paid = {"payment_id": "pay_123", "account": "bob", "amount_cents": 4_321}
    forged = _notify(url, paid, secret=b"guessed")
    assert forged.status == 401 and balance(root, "bob") == before
    for _ in range(2):  # the provider repeats its notification
        reply = _notify(url, paid)
        assert reply.status == 200, reply.text
    assert reply.json() == {"account": "bob", "amount": "43.21", "credited": False}
    assert balance(root, "bob") == before + 43_21
    unknown = _notify(url, {**paid, "payment_id": "pay_124", "account": "nobody"})
    assert unknown.status == 422 and "nobody" in unknown.json()["detail"]
    cents = _notify(url, {**paid, "payment_id": "pay_125", "amount_cents": "43.21"})
    assert cents.status == 422 and cents.json()["detail"].startswith("amount_cents: ")
    assert balance(root, "bob") == before + 43_21


def test_the_admin_pages_change_plans_and_servers_and_show_the_audit_log(
    url: str, root: Path
) -> None:
    admin, alice = Client(url), Client(url)
    admin.login("root")
    alice.login("alice", "another long password")  # changed in the test above
    asked = alice.request("POST", "/account/topup", form={"amount": "7.00", "csrf": alice.csrf()})
    assert asked.status == 303 and "BH-" in urllib.parse.unquote(asked.headers["location"])
    assert "pay_123" in admin.request("GET", "/admin/topups?state=").text
    # No InfluxDB here: the graphs page says so (tests/unit/test_account_usage.py draws them).
    assert 'id="usage-note"' in alice.request("GET", "/account/usage?range=24h").text
    assert alice.request("GET", "/account/usage?range=1y").status == 422
    assert 'id="usage-note"' in admin.request("GET", "/admin/accounts/alice").text
    assert 'id="usage-note"' in admin.request("GET", "/admin/accounts?q=alice").text

    catalog = load_catalog(root)
    following = sum(
        not a.overrides.model_dump(exclude_none=True) for a in catalog.accounts.values()
    )
    assert f"<strong>{following}</strong> following" in admin.request("GET", "/admin/plans").text
    preview = admin.request("GET", "/admin/plans/base?processes=300").text
    assert f'id="changed">{len(catalog.accounts)}<' in preview and 'id="burn-after">' in preview
    csrf = admin.csrf()
    form = {"processes": "300", "csrf": csrf, "version": form_field(preview, "version")}
    # Another admin changes the plan after this preview: the form made on it changes nothing.
    other = Client(url, token=token(root, "--admin", "root"))
    assert other.request("PATCH", "/api/v1/plans/base", body={"processes": 280}).status == 200
    stale = admin.request("POST", "/admin/plans/base", form=form)
    assert stale.status == 409 and "plan base changed since this page" in stale.text
    assert load_catalog(root).plans["base"].base.processes == 280
    preview = admin.request("GET", "/admin/plans/base?processes=300").text
    form["version"] = form_field(preview, "version")
    done = admin.request("POST", "/admin/plans/base", form=form)
    assert done.status == 303 and load_catalog(root).plans["base"].base.processes == 300
    drained = admin.request("POST", "/admin/servers/web1/state",
                            form={"state": "draining", "csrf": csrf})  # fmt: skip
    assert drained.status == 303 and load_catalog(root).servers["web1"].state == "draining"
    assert 'id="state-web1">draining<' in admin.request("GET", "/admin/servers").text
    audit = admin.request("GET", "/admin/audit").text
    for seen in ("root (admin)", "panel: server web1 draining", "credited by root: thanks",
                 "confirmed by root"):  # fmt: skip
        assert seen in audit, seen


def test_the_pages_speak_polish_from_the_browser_and_the_switch_is_remembered(url: str) -> None:
    polish = {"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"}
    guest = Client(url)
    page = guest.request("GET", "/login", headers=polish)
    assert page.headers["Content-Language"] == "pl" and '<html lang="pl">' in page.text
    assert "Zaloguj się" in page.text and "Hasło" in page.text and "Log in" not in page.text
    english = guest.request("GET", "/login", headers={"Accept-Language": "en-GB,pl;q=0.5"})
    assert "Log in" in english.text and "Zaloguj" not in english.text
    admin = Client(url)
    admin.login("root")
    switched = admin.request("GET", "/language?to=pl&back=/admin/accounts")
    assert switched.status == 303 and switched.headers["location"] == "/admin/accounts"
    page = admin.request("GET", "/admin/accounts")  # no Accept-Language: the cookie says
    assert "Konta" in page.text and "Strona 1 z 1" in page.text and 'id="lang-en"' in page.text
    assert "Historia" in admin.request("GET", "/admin/accounts/alice").text
    assert admin.request("GET", "/api/v1/accounts/nobody").json()["detail"].startswith("unknown")
    admin.request("GET", "/language?to=en&back=/admin")
    page = admin.request("GET", "/admin/accounts", headers=polish)  # the switch beats it
    assert "Accounts" in page.text and "Konta" not in page.text
    assert admin.request("GET", "/language?to=de").status == 422
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        quoted = urllib.parse.quote(elsewhere)
        assert admin.request("GET", f"/language?to=pl&back={quoted}").headers["location"] == "/"


# ----------------------------------------------------------------- every endpoint, every caller


@dataclass(frozen=True)
class Fleet:
    """A root of its own, served with an InfluxDB: alice's samples of the last minute, a
    raise and a lower of her CPU and the elastic hours they cost, and a token per caller."""

    root: Path
    url: str
    tokens: dict[str, str]  # caller -> bearer token ("anonymous": none)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = panel_root(tmp_path_factory.mktemp("fleet"))
    ctx = Context(root=root)
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - 3 * HOUR
    apply_levels(ctx.engine, [("alice", "cpu", 1500, "busy")], start)
    record(ctx, start, "alice", "raise", 1500, "cpu 1000->1500 MHz: busy")
    apply_levels(ctx.engine, [("alice", "cpu", None, "calm")], start + 1.5 * HOUR)
    record(ctx, start + 1.5 * HOUR, "alice", "lower", 1000, "cpu 1500->1000 MHz: calm")
    bill(ctx.engine, tariffs(ctx), dt.datetime.now(dt.UTC))  # 0.02 + 0.01 (half an hour)
    tokens = {"anonymous": "", "admin": token(root, "--admin", "root")}
    for caller, name in (("customer", "alice"), ("other customer", "bob")):
        tokens[caller] = token(root, "--account", name)
    with running_influxd(tmp_path_factory.mktemp("influxd")) as influxd:
        client = InfluxClient(Endpoint(influxd.url, DATABASE, "basic", ADMIN, ADMIN_PASSWORD))
        client.execute(f"CREATE DATABASE {DATABASE}", database="")
        now_ms = int(time.time()) * 1000
        fields = {"cpu_mhz": 400, "cpu_limit_mhz": 1000, "mem_bytes": 300 * MIB,
                  "mem_max_bytes": 2048 * MIB, "tasks": 12, "tasks_max": 256}  # fmt: skip
        client.write("account", [({"server": "web1", "account": "alice"}, fields,
                                  now_ms - k * 5000) for k in range(6)])  # fmt: skip
        with running_panel(root, influx_settings(influxd.url)) as url:
            yield Fleet(root, url, tokens)


CALLERS = ("anonymous", "other customer", "customer", "admin")  # the customer: alice's
# (method, path, what each of CALLERS gets): an account's object answers another customer as
# a missing account, an admin's answers a customer as a path that does not exist.
MATRIX = [
    ("GET", "/api/v1/plans", (401, 200, 200, 200)),
    ("GET", "/api/v1/servers", (401, 404, 404, 200)),
    ("GET", "/api/v1/accounts/alice/usage", (401, 404, 200, 200)),
    ("GET", "/api/v1/accounts/alice/history", (401, 404, 200, 200)),
    ("POST", "/api/v1/accounts/alice/suspend", (401, 404, 404, 200)),
    ("POST", "/api/v1/accounts/alice/resume", (401, 404, 404, 200)),
    ("POST", "/api/v1/servers/web1/drain", (401, 404, 404, 200)),
    ("POST", "/api/v1/servers/web1/activate", (401, 404, 404, 200)),
]
# A change's object (alice or web1) and its state before and after, as the catalog has it.
CHANGES = {
    "suspend": ("account", AccountState.ACTIVE, AccountState.SUSPENDED),
    "resume": ("account", AccountState.SUSPENDED, AccountState.ACTIVE),
    "drain": ("server", ServerState.ACTIVE, ServerState.DRAINING),
    "activate": ("server", ServerState.DRAINING, ServerState.ACTIVE),
}
MISSING = ({"detail": "Not Found"}, {"detail": "unknown account 'alice'"})


def catalog_state(root: Path, kind: str) -> str:
    catalog = load_catalog(root)
    return (catalog.accounts["alice"] if kind == "account" else catalog.servers["web1"]).state


def put_state(root: Path, kind: str, state: str) -> None:
    """The state a change starts from, put by the CLI's own services."""
    if kind == "account":
        accounts.set_state(Context(root=root), "alice", AccountState(state))
    else:
        servers.set_state(Context(root=root), "web1", ServerState(state))


@pytest.mark.parametrize(("method", "path", "answers"), MATRIX, ids=[p for _, p, _ in MATRIX])
def test_who_may_call_each_endpoint_and_a_refused_change_changes_nothing(
    fleet: Fleet, method: str, path: str, answers: tuple[int, ...]
) -> None:
    change = CHANGES.get(path.rsplit("/", 1)[1])
    if change is not None:
        put_state(fleet.root, change[0], change[1])
    for caller, status in zip(CALLERS, answers, strict=True):
        reply = Client(fleet.url, token=fleet.tokens[caller]).request(method, path)
        assert reply.status == status, (caller, reply.text)
        if status == 404:
            assert reply.json() in MISSING, (caller, reply.text)
        if change is not None:
            kind, before, after = change
            assert catalog_state(fleet.root, kind) == (after if status == 200 else before), caller
            assert status != 200 or reply.json() == {kind: path.split("/")[4], "state": after}


def test_plans_usage_and_history_answer_with_what_is_there(fleet: Fleet) -> None:
    alice = Client(fleet.url, token=fleet.tokens["customer"])
    plans = alice.request("GET", "/api/v1/plans").json()
    base = load_catalog(fleet.root).plans["base"]
    assert plans == {"base": base.model_dump(mode="json")} and plans["base"]["base"]["cpu_mhz"]
    usage = alice.request("GET", "/api/v1/accounts/alice/usage?since=600").json()
    series = usage["series"]  # [time, use, limit] per interval of 3 s (600 s in 240 points)
    assert len(series["cpu"]) == 6  # a sample every 5 s, up to the fixture's start
    assert series["cpu"][-1][1:] == [400, 1000] and series["memory"][-1][1:] == [300, 2048]
    assert [point[1:] for point in series["disk"]] == [[None, None]] * 6  # a hole, not 0
    assert alice.request("GET", "/api/v1/accounts/alice/usage?since=0").status == 422
    history = alice.request("GET", "/api/v1/accounts/alice/history").json()
    assert [(h["kind"], h.get("to"), h.get("amount")) for h in history] == [
        ("raise", 1500, None), ("lower", 1000, None), ("charge", None, "0.02"),
        ("charge", None, "0.01"),
    ]  # fmt: skip
    assert history[0]["reason"] == "cpu 1000->1500 MHz: busy"
    bob = Client(fleet.url, token=fleet.tokens["other customer"])
    assert bob.request("GET", "/api/v1/accounts/bob/history").json() == []


def test_the_suspend_form_is_an_admins_and_refused_when_stale(fleet: Fleet) -> None:
    put_state(fleet.root, "account", AccountState.ACTIVE)
    admin, alice = Client(fleet.url), Client(fleet.url)
    admin.login("root")
    alice.login("alice")
    page = admin.request("GET", "/admin/accounts/alice").text
    form = {"csrf": form_field(page, "csrf"), "version": form_field(page, "version"),
            "state": "suspended"}  # fmt: skip
    mine = {**form, "csrf": alice.csrf()}
    assert alice.request("POST", "/admin/accounts/alice/state", form=mine).status == 404
    assert Client(fleet.url).request("POST", "/admin/accounts/alice/state",
                                     form=form).headers["location"] == "/login"  # fmt: skip
    # Credited after the page was shown: its form is stale and changes nothing.
    credited = admin.request("POST", "/admin/accounts/alice/credit",
                             form={**form, "amount": "1.00"})  # fmt: skip
    assert credited.status == 303
    stale = admin.request("POST", "/admin/accounts/alice/state", form=form)
    assert stale.status == 409 and "account alice changed since this page" in stale.text
    assert catalog_state(fleet.root, "account") == AccountState.ACTIVE
    form["version"] = form_field(admin.request("GET", "/admin/accounts/alice").text, "version")
    done = admin.request("POST", "/admin/accounts/alice/state", form=form)
    assert done.status == 303 and "account%20suspended" in done.headers["location"]
    assert catalog_state(fleet.root, "account") == AccountState.SUSPENDED
    author = subprocess.run(["git", "-C", str(fleet.root), "log", "-1", "--format=%an|%s"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert author == "root (admin)|panel: account alice suspended"


def test_polish_pages_name_states_and_kinds_in_polish_and_the_api_keeps_them(
    fleet: Fleet,
) -> None:
    put_state(fleet.root, "account", AccountState.SUSPENDED)
    put_state(fleet.root, "server", ServerState.DRAINING)
    admin = Client(fleet.url)
    admin.login("root")
    admin.request("GET", "/language?to=pl&back=/")
    page = admin.request("GET", "/admin/accounts/alice").text
    assert '<span id="state">zawieszone</span>' in page
    for kind in ("<td>podniesienie</td>", "<td>obniżenie</td>", "<td>opłata</td>",
                 "<td>zasilenie</td>"):  # fmt: skip
        assert kind in page, kind
    listed = admin.request("GET", "/admin/accounts").text
    assert "<td>zawieszone</td>" in listed and "<td>suspended</td>" not in listed
    assert 'id="state-web1">wygaszany<' in admin.request("GET", "/admin/servers").text
    assert "<td>zasilenie</td>" in admin.request("GET", "/admin/audit").text
    api = Client(fleet.url, token=fleet.tokens["admin"])
    assert api.request("GET", "/api/v1/accounts/alice").json()["state"] == "suspended"
    assert api.request("GET", "/api/v1/accounts/alice/history").json()[0]["kind"] == "raise"
    english = Client(fleet.url)
    english.login("root")
    page = english.request("GET", "/admin/accounts/alice").text
    assert '<span id="state">suspended</span>' in page and "<td>credit</td>" in page
