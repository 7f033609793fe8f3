"""The panel's mailboxes and FTP password (API and pages), its stale-form refusal and the
migration form's source check, served for real over a real SQLite state DB: who may touch
which account's mailboxes, the names a hostile customer picks, passwords never answered, two
tabs of one account, old hosts that are the panel's own machine or networks."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from glue.catalog import load_catalog
from glue.remote import RemoteError
from glue.services.context import Context
from glue.services.credentials import list_mailboxes
from glue.state.schema import panel_jobs
from tests.support.panel import Client, on_loopback, panel_root, running_panel
from tests.support.panel import api_token as token

pytestmark = pytest.mark.integration
SECRET = "s3cret mailbox password"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """web1 on this machine's loopback, where no ssh answers: each call to it fails at once."""
    made = panel_root(tmp_path_factory.mktemp("panel-mail"))
    on_loopback(made)
    return made


@pytest.fixture(scope="module")
def url(root: Path) -> Iterator[str]:
    with running_panel(root) as found:
        yield found


def version(page: str) -> str:
    return page.split('name="version" value="', 1)[1].split('"', 1)[0]


def test_mailboxes_and_ftp_only_for_the_account_and_hostile_names_refused(
    url: str, root: Path
) -> None:
    alice = Client(url, token=token(root, "--account", "alice"))
    bob = Client(url, token=token(root, "--account", "bob"))
    admin = Client(url, token=token(root, "--admin", "root"))
    box = "/api/v1/accounts/alice/mailboxes/info@alice.example"
    assert Client(url).request("GET", "/api/v1/accounts/alice/mailboxes").status == 401
    assert Client(url).request("PUT", box, body={"password": SECRET}).status == 401
    for method, path, body in (
        ("GET", "/api/v1/accounts/alice/mailboxes", None),
        ("PUT", box, {"password": SECRET}),
        ("DELETE", box, None),
        ("PUT", "/api/v1/accounts/alice/ftp-password", {"password": SECRET}),
    ):
        reply = bob.request(method, path, body=body)
        assert reply.status == 404 and "alice" in reply.json()["detail"], (method, path)
    # The list is the server's own (its Dovecot, over ssh): none answers here, so the admin
    # and the customer get that one line, never a list from anywhere else.
    for who in (admin, alice):
        listed = who.request("GET", "/api/v1/accounts/alice/mailboxes")
        assert listed.status == 422 and listed.json()["detail"].startswith("server web1: ")

    for address, wrong in (
        ("..@alice.example", "the part before @"),
        ("info@bob.example", "must be one of the account's (alice.example)"),
        ("info%0A@alice.example", "the part before @"),
        ("info@alice.example%0Aroot@bob.example", "must be one of the account's"),
    ):
        path = f"/api/v1/accounts/alice/mailboxes/{address}"
        reply = alice.request("PUT", path, body={"password": SECRET})
        assert reply.status == 422 and wrong in reply.json()["detail"], reply.text
        assert reply.json()["detail"].startswith("mailbox "), reply.text
    short = alice.request("PUT", box, body={"password": "short"})
    assert short.status == 422 and "at least 8 characters" in short.json()["detail"]
    extra = alice.request("PUT", box, body={"password": SECRET, "quota": 1})
    assert extra.status == 422 and extra.json()["detail"].startswith("quota: ")
    # A valid request reaches for the account's server (none answers here): refused in one
    # line, the password in no answer, nothing recorded.
    reply = alice.request("PUT", box, body={"password": SECRET})
    assert reply.status == 422 and reply.json()["detail"].startswith("server web1: ")
    assert SECRET not in reply.text
    with pytest.raises(RemoteError, match=r"^server web1: bubble-mailboxes: "):
        list_mailboxes(Context(root=root), "alice")  # nothing kept here: the server is asked


def test_the_mail_page_forms_need_csrf_and_name_the_wrong_field(url: str) -> None:
    bob = Client(url)
    assert bob.login("bob").status == 303
    page = bob.request("GET", "/account/mail")
    assert page.status == 200 and 'id="mailbox-address"' in page.text
    said = 'id="mailboxes-error">The server did not list the mailboxes: not available right now'
    assert said in page.text and "web1" not in page.text  # internal hosts: the operator's log
    polish = bob.request("GET", "/account/mail", headers={"Accept-Language": "pl"}).text
    assert "Skrzynki pocztowe konta bob" in polish and "Serwer nie podał listy skrzynek" in polish
    form = {"address": "../../etc/passwd@bob.example", "password": SECRET,
            "version": version(page.text)}  # fmt: skip
    assert bob.request("POST", "/account/mailboxes", form={**form, "csrf": "forged"}).status == 403
    hostile = bob.request("POST", "/account/mailboxes", form={**form, "csrf": bob.csrf()})
    assert hostile.status == 422 and "the part before @" in hostile.text
    assert SECRET not in hostile.text
    cookie_only = bob.request("PUT", "/api/v1/accounts/bob/ftp-password", body={"password": SECRET})
    assert cookie_only.status == 403 and "CSRF" in cookie_only.json()["detail"]


def test_a_form_from_a_stale_tab_is_refused_and_changes_nothing(url: str, root: Path) -> None:
    first, second = Client(url), Client(url)
    first.login("bob")
    second.login("bob")
    shown = [version(c.request("GET", "/account").text) for c in (first, second)]
    assert shown[0] == shown[1]
    on = {"on": "1", "max_daily": "2.00", "csrf": first.csrf(), "version": shown[0]}
    assert first.request("POST", "/account/elastic", form=on).status == 303
    off = {"on": "", "max_daily": "", "csrf": second.csrf(), "version": shown[1]}
    stale = second.request("POST", "/account/elastic", form=off)
    assert stale.status == 409 and "changed since this page was shown" in stale.text
    account = load_catalog(root).accounts["bob"]
    assert account.elastic is True and account.max_daily == 200

    # An admin's credit in another tab makes the customer's upgrade page stale too.
    admin = Client(url)
    admin.login("root")
    admin_page = admin.request("GET", "/admin/accounts/bob").text
    quote = second.request("GET", "/account/upgrade?disk=%2B10GiB").text
    credit = {"amount": "1.00", "csrf": admin.csrf(), "version": version(admin_page)}
    assert admin.request("POST", "/admin/accounts/bob/credit", form=credit).status == 303
    before = Context(root=root).ledger.balance("bob")
    buy = {"disk": "+10GiB", "csrf": second.csrf(), "version": version(quote)}
    refused = second.request("POST", "/account/upgrade", form=buy)
    assert refused.status == 409 and Context(root=root).ledger.balance("bob") == before
    again = admin.request("POST", "/admin/accounts/bob/credit", form=credit)
    assert again.status == 409 and Context(root=root).ledger.balance("bob") == before
    fresh = version(second.request("GET", "/account/upgrade?disk=%2B10GiB").text)
    bought = second.request("POST", "/account/upgrade", form={**buy, "version": fresh})
    assert bought.status == 303, bought.text
    assert "upgraded until" in urllib.parse.unquote(bought.headers["location"])


def test_a_customer_cannot_migrate_from_the_panels_own_machine_or_networks(
    url: str, root: Path
) -> None:
    alice = Client(url, token=token(root, "--account", "alice"))
    bob = Client(url, token=token(root, "--account", "bob"))
    check = "/api/v1/accounts/alice/migrations/check"
    for source in ("ftp://u@127.0.0.1:8086/", "sftp://u@localhost/srv", "ftp://u@10.1.2.3/",
                   "ftp://u@[::1]/", "ftp://u@169.254.169.254/"):  # fmt: skip
        reply = alice.request("POST", check, body={"files": source, "files_password": SECRET})
        assert reply.status == 422 and "not a public address" in reply.json()["detail"], source
        assert SECRET not in reply.text
    body = {"databases": ["mysql://u@192.168.0.9/shop"], "db_password": SECRET}
    assert "not a public address" in alice.request("POST", check, body=body).json()["detail"]
    assert bob.request("POST", check, body=body).status == 404
    assert bob.request("GET", "/api/v1/accounts/alice/migrations").status == 404
    assert alice.request("GET", "/api/v1/accounts/alice/migrations").json() == []
    assert alice.request("POST", "/api/v1/accounts/alice/migrations", body=body).status == 422
    assert alice.request("GET", "/api/v1/accounts/alice/migrations").json() == []


def test_a_job_its_panel_left_running_ends_as_failed(url: str, root: Path) -> None:
    """A panel stopped mid-migration: its job, silent past the heartbeat, no longer blocks."""
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with Context(root=root).engine.begin() as connection:
        connection.execute(insert(panel_jobs).values(
            account="bob", running="bob", state="running", started_by="bob", started_at=long_ago,
            updated_at=long_ago, progress="{}", report="", error=""))  # fmt: skip
    bob = Client(url, token=token(root, "--account", "bob"))
    (job,) = bob.request("GET", "/api/v1/accounts/bob/migrations").json()
    assert job["state"] == "failed" and "the panel stopped" in job["error"]
