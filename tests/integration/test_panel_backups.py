"""The panel's backups and moves served for real (uvicorn on loopback, a real SQLite state
DB, the catalog in git): a customer lists and restores only its own account's backups, a bad
path or another account's object runs nothing, forms and cookies need their CSRF token, and
restores and moves are background jobs that run the CLI's own services (here, with no
server built, those services' own refusals end them). The restore itself is proven on the
lab (tests/lab/test_backup_lab.py)."""

from __future__ import annotations

import datetime as dt
import html
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from glue.services.context import Context
from glue.state.schema import panel_jobs
from tests.support.cli import invoke
from tests.support.panel import Client, form_field, panel_root, running_panel
from tests.support.panel import api_token as token

pytestmark = pytest.mark.integration
RESTORE = "/api/v1/accounts/{}/backups/restore"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice and bob on web1, never built, and no backup server: a service that needs a
    server refuses with its own line."""
    return panel_root(tmp_path_factory.mktemp("panel-backups"))


@pytest.fixture(scope="module")
def url(root: Path) -> Iterator[str]:
    with running_panel(root) as found:
        yield found


def jobs(root: Path) -> int:
    with Context(root=root).engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(panel_jobs)).scalar_one())


def ended(client: Client, path: str) -> dict[str, Any]:
    """The job at `path` once it is no longer running."""
    deadline = time.monotonic() + 20
    while True:
        job: dict[str, Any] = client.request("GET", path).json()
        if job["state"] != "running" or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def own_form(client: Client) -> dict[str, str]:
    """A form's CSRF token and the account's version, as the account's page gives them (the
    backups page has no form without archives, and this catalog has no backup server)."""
    page = client.request("GET", "/account").text
    return {"csrf": form_field(page, "csrf"), "version": form_field(page, "version")}


def test_a_customer_reaches_only_its_own_backups(url: str, root: Path) -> None:
    """The attack from inside an account: bob's backups, restores and move answer as a
    missing account, whatever alice sends; her own move is an admin's (404: as a path that
    does not exist)."""
    alice = Client(url)
    alice.login("alice")
    csrf = {"X-CSRF-Token": alice.csrf()}
    before = jobs(root)
    for name in ("bob", "nobody"):
        assert alice.request("GET", f"/api/v1/accounts/{name}/backups").status == 404
        assert alice.request("GET", f"/api/v1/accounts/{name}/backups/restores").status == 404
        asked = alice.request("POST", RESTORE.format(name), body={"path": "www/index.php"},
                              headers=csrf)  # fmt: skip
        assert asked.status == 404 and asked.json()["detail"] == f"unknown account {name!r}"
        moved = alice.request("POST", f"/api/v1/accounts/{name}/move", body={"to": "web1"},
                              headers=csrf)  # fmt: skip
        assert moved.status == 404
    assert alice.request("POST", "/api/v1/accounts/alice/move", body={"to": "web1"},
                         headers=csrf).status == 404  # fmt: skip
    assert alice.request("GET", "/api/v1/accounts/alice/move").status == 404
    assert alice.request("POST", "/admin/accounts/alice/move",
                         form={"csrf": csrf["X-CSRF-Token"], "version": "x",
                               "to": "web1"}).status == 404  # fmt: skip
    assert Client(url).request("GET", "/api/v1/accounts/alice/backups").status == 401
    assert Client(url).request("GET", "/account/backups").headers["location"] == "/login"
    assert jobs(root) == before

    # Her own list: no backup server in this catalog, which a customer is not told (internal
    # hosts), an admin is.
    assert alice.request("GET", "/api/v1/accounts/alice/backups").status == 503
    admin = Client(url, token=token(root, "--admin", "root"))
    refused = admin.request("GET", "/api/v1/accounts/alice/backups")
    assert refused.status == 422 and "no backup server" in refused.json()["detail"]
    page = alice.request("GET", "/account/backups")
    assert page.status == 200 and "not available right now" in page.text
    assert 'href="/account/backups"' in alice.request("GET", "/account").text


def test_bad_input_and_missing_csrf_start_nothing(url: str, root: Path) -> None:
    alice = Client(url)
    alice.login("alice")
    csrf = {"X-CSRF-Token": alice.csrf()}
    before = jobs(root)
    bad = {
        "path": "../../etc/shadow",
        "path ": "/etc/shadow",
        "db": "bob_shop",
        "mailbox": "info@bob.example",
    }
    said = {
        "../../etc/shadow": "without '..'",
        "/etc/shadow": "relative to the home",
        "bob_shop": "database 'bob_shop' is not one of alice's",
        "info@bob.example": "mailbox 'info@bob.example' is not one of alice's",
    }
    for kind, value in bad.items():
        asked = alice.request("POST", RESTORE.format("alice"), body={kind.strip(): value},
                              headers=csrf)  # fmt: skip
        assert asked.status == 422 and said[value] in asked.json()["detail"], asked.text
    other = {"archive": "bob-2026-12-01T02:00", "path": "www/index.php"}
    asked = alice.request("POST", RESTORE.format("alice"), body=other, headers=csrf)
    assert asked.json()["detail"] == "archive 'bob-2026-12-01T02:00' is not one of alice's"
    both = alice.request("POST", RESTORE.format("alice"), body={"path": "www/a", "db": "alice_x"},
                         headers=csrf)  # fmt: skip
    assert both.json()["detail"] == "give exactly one of path, db, mailbox"

    # The page's form: the same line, nothing started.
    form = own_form(alice)
    sent = alice.request("POST", "/account/backups/restore",
                         form={**form, "kind": "path", "value": "www/../../x"})  # fmt: skip
    assert sent.status == 422 and "without '..'" in html.unescape(sent.text)

    # No CSRF token: a cookie alone starts nothing, through the API or the form.
    fine = {"path": "www/index.php"}
    assert alice.request("POST", RESTORE.format("alice"), body=fine).status == 403
    forged = {**form, "csrf": "forged", "kind": "path", "value": "www/index.php"}
    assert alice.request("POST", "/account/backups/restore", form=forged).status == 403
    assert jobs(root) == before


def test_a_restore_is_a_job_of_the_backup_service_and_one_job_runs_at_a_time(
    url: str, root: Path
) -> None:
    alice = Client(url)
    alice.login("alice")
    form = {**own_form(alice), "kind": "path", "value": "www/index.php"}
    sent = alice.request("POST", "/account/backups/restore", form=form)
    assert sent.status == 303 and "restore" in sent.headers["location"]
    (row,) = alice.request("GET", "/api/v1/accounts/alice/backups/restores").json()
    job = ended(alice, f"/api/v1/accounts/alice/backups/restores/{row['id']}")
    # The service ran (the CLI's own refusal: this catalog has no backup server).
    assert job["state"] == "failed" and job["started_by"] == "alice", job
    assert job["error"].startswith("no backup server in the catalog"), job
    assert job["progress"]["restore"]["what"] == "path:www/index.php"
    shown = alice.request("GET", "/account/backups").text
    assert 'id="job-state">failed' in shown and "no backup server" in shown

    # bob's migration runs: his restore waits for it (and alice never sees it).
    now = dt.datetime.now(dt.UTC)
    with Context(root=root).engine.begin() as connection:
        connection.execute(insert(panel_jobs).values(
            account="bob", running="bob", kind="migration", state="running", started_by="bob",
            started_at=now, updated_at=now, progress="{}", report="", error=""))  # fmt: skip
    bob = Client(url, token=token(root, "--account", "bob"))
    busy = bob.request("POST", RESTORE.format("bob"), body={"db": "bob_shop"})
    assert busy.status == 409 and busy.json()["detail"] == (
        "a migration of bob is running: wait for it to finish"
    )
    assert bob.request("GET", "/api/v1/accounts/bob/backups/restores").json() == []
    assert alice.request("GET", f"/api/v1/accounts/bob/backups/restores/{row['id']}").status == 404


def test_an_admin_moves_an_account_through_the_move_service(url: str, root: Path) -> None:
    admin = Client(url)
    admin.login("root")
    page = admin.request("GET", "/admin/accounts/alice").text
    assert 'id="no-targets"' in page  # web1 is the only server: nowhere to go
    added = invoke("server", "add", "web2", "--provider", "lab", "--cores", "4", "--core-ghz",
                   "2", "--memory", "16GiB", "--disk", "200GiB", root=root,
                   env={"BUBBLE_APPLY": "0"}, catch_exceptions=False)  # fmt: skip
    assert added.exit_code == 0, added.stderr
    page = admin.request("GET", "/admin/accounts/alice").text
    assert '<select name="to" id="move-to"><option>web2</option></select>' in page

    # A forged target reaches the service, whose own refusal ends the job.
    form = {"csrf": form_field(page, "csrf"), "version": form_field(page, "version"),
            "to": "nowhere"}  # fmt: skip
    sent = admin.request("POST", "/admin/accounts/alice/move", form=form)
    assert sent.status == 303 and "move" in sent.headers["location"]
    deadline = time.monotonic() + 20
    while (found := admin.request("GET", "/api/v1/accounts/alice/move").json())["jobs"][0][
        "state"
    ] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    job = found["jobs"][0]
    assert job["state"] == "failed" and job["error"] == "unknown server 'nowhere'", job
    assert job["started_by"] == "root" and found["move"] is None
    shown = admin.request("GET", "/admin/accounts/alice").text
    assert 'id="move-job-state">failed' in shown and "unknown server" in shown
    nothing = admin.request("POST", "/admin/accounts/alice/move",
                            form={**form, "to": ""})  # fmt: skip
    assert nothing.status == 422 and "give a server to move to" in nothing.text
    stale = admin.request("POST", "/admin/accounts/alice/move", form={**form, "version": "old"})
    assert stale.status == 409
