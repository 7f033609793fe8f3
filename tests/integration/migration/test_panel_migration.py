"""A customer moves a site in from the panel: the migration form against the real old host
(vsftpd, MariaDB with TLS, Dovecot over IMAPS into the account's mailbox on its server's
Dovecot over IMAPS), its pre-flight shown, the background job followed to its report;
a second start refused while it runs; no password in a page, an answer or the state DB. Then
the same in headless chromium: the customer starts it and watches the page until it ends."""

from __future__ import annotations

import ssl
import time
import urllib.parse
from pathlib import Path

import pytest
from imapclient import IMAPClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from glue.panel.migrations import MailServer
from tests.support.browser import chromium, log_in, needs_chromium, shots_dir, submit
from tests.support.cli import invoke
from tests.support.migration_target import LocalTarget
from tests.support.panel import Client, running_panel

from . import data, servers

pytestmark = pytest.mark.integration


def _root(base: Path) -> Path:
    """An operator root whose server is this machine (its IMAP would be on loopback) and the
    test account with a panel login."""
    r = base / "ops"
    env = {"BUBBLE_APPLY": "0", "BUBBLE_PASSWORD": PANEL_PASSWORD}
    for argv in (
        ["init", str(r)],
        ["server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2.5",
         "--memory", "8GiB", "--disk", "100GiB", "--address", "127.0.0.1"],
        ["account", "create", servers.ACCOUNT, "--domain", "shop.example", "--server", "web1",
         "--no-apply"],
        ["panel", "customer-password", servers.ACCOUNT],
    ):  # fmt: skip
        done = invoke(*argv, root=r if argv[0] != "init" else None, env=env)
        assert done.exit_code == 0, done.stderr
    return r


PANEL_PASSWORD = "panel password of the account"


def _value(page: str, name: str) -> str:
    return page.split(f'name="{name}" value="', 1)[1].split('"', 1)[0]


def _messages(cert: tuple[Path, Path]) -> int:
    """The messages in the account's mailbox, every folder, over its server's IMAPS."""
    context = ssl.create_default_context(cafile=str(cert[0]))
    with IMAPClient("127.0.0.1", servers.PORT_IMAPS_TARGET, ssl=True, ssl_context=context) as c:
        c.login(data.TARGET_MAILBOX, servers.MAIL_PASSWORD)
        total = 0
        for flags, _, name in c.list_folders():
            if b"\\Noselect" not in flags:
                c.select_folder(name, readonly=True)
                total += len(c.search("ALL"))
        return total


def test_a_customer_moves_a_site_in_from_the_panel(
    tmp_path: Path, vsftpd_refused: str, db_url: str, db_target: LocalTarget, old_imap: str,
    target_imaps: servers.Dovecot, cert: tuple[Path, Path],
) -> None:  # fmt: skip
    root = _root(tmp_path)
    mail = MailServer(port=servers.PORT_IMAPS_TARGET, cafile=cert[0])
    assert _messages(cert) == 0
    with running_panel(
        root, migration_target=lambda account: db_target, private_sources=True, mail=mail
    ) as url:
        customer = Client(url)
        assert customer.login(servers.ACCOUNT, PANEL_PASSWORD).status == 303
        page = customer.request("GET", "/account/migrate").text
        form = {"csrf": _value(page, "csrf"), "version": _value(page, "version"),
                "files": vsftpd_refused, "files_password": servers.OLD_PASSWORD,
                "databases": db_url, "db_password": data.DB_PASSWORD,
                "mail": f"{old_imap}={data.TARGET_MAILBOX}",
                "mail_password": servers.MAIL_PASSWORD,
                "mailbox_password": servers.MAIL_PASSWORD}  # fmt: skip
        wrong = customer.request("POST", "/account/migrate/check",
                                 form={**form, "db_password": "wrong"})  # fmt: skip
        assert wrong.status == 200 and 'id="start"' not in wrong.text
        assert "login" in wrong.text and "wrong" not in wrong.text.split('id="error">')[1][:200]
        checked = customer.request("POST", "/account/migrate/check", form=form)
        assert checked.status == 200, checked.text
        assert 'id="preflight"' in checked.text and f"{vsftpd_refused}: unencrypted" in checked.text
        assert "shop" in checked.text and 'id="start"' in checked.text
        assert f"<td>{data.TARGET_MAILBOX}</td>" in checked.text
        start = {k: form[k] for k in ("csrf", "version")} | {"token": _value(checked.text, "token")}
        started = customer.request("POST", "/account/migrate/start", form=start)
        assert started.status == 303, started.text
        job_id = urllib.parse.unquote(started.headers["location"]).split("migration ")[1].split()[0]

        # While it runs: a second start is refused, the page follows it.
        again = customer.request("POST", f"/api/v1/accounts/{servers.ACCOUNT}/migrations",
                                 body={"files": vsftpd_refused,
                                       "files_password": servers.OLD_PASSWORD},
                                 headers={"X-CSRF-Token": customer.csrf()})  # fmt: skip
        assert again.status == 409 and "is running" in again.json()["detail"], again.text
        assert customer.request("POST", "/account/migrate/start", form=start).status == 422

        poll = f"/api/v1/accounts/{servers.ACCOUNT}/migrations/{job_id}"
        deadline = time.monotonic() + 120
        while (job := customer.request("GET", poll).json())["state"] == "running":
            assert time.monotonic() < deadline, job
            time.sleep(0.3)
        assert job["state"] == "done", job
        assert job["report"]["outcome"] == "verified with warnings"
        assert job["progress"] and all(p["done"] > 0 for p in job["progress"].values())
        assert [p for p in job["report"]["parts"] if p["kind"] == "mail"], job["report"]
        final = customer.request("GET", "/account/migrate").text
        assert 'id="outcome">verified with warnings<' in final and data.REFUSED_FILE in final
        assert 'http-equiv="refresh"' not in final
        assert Client(url).request("GET", poll).status == 401

    www = db_target.home / "www"
    for rel, content in data.REFUSED_FILES.items():
        assert (www / rel).read_bytes() == content
    stored = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())
    assert _messages(cert) == len(list(data.mail_messages()))
    for secret in (servers.OLD_PASSWORD, data.DB_PASSWORD, servers.MAIL_PASSWORD):
        assert secret.encode() not in stored
        assert secret not in checked.text + final + str(job)


@needs_chromium
def test_a_customer_starts_a_migration_in_the_browser_and_sees_it_finish(
    tmp_path: Path, vsftpd_refused: str, db_url: str, db_target: LocalTarget
) -> None:
    root, shots = _root(tmp_path), shots_dir()
    local = {"migration_target": lambda account: db_target, "private_sources": True}
    with running_panel(root, **local) as url, chromium() as browser:
        log_in(browser, url, servers.ACCOUNT, PANEL_PASSWORD)
        browser.find_element(By.ID, "migrate-link").click()
        for field, value in (("files", vsftpd_refused), ("files-password", servers.OLD_PASSWORD),
                             ("databases", db_url), ("db-password", data.DB_PASSWORD)):  # fmt: skip
            browser.find_element(By.ID, field).send_keys(value)
        browser.find_element(By.ID, "check").click()
        assert "shop" in browser.find_element(By.ID, "preflight").text
        browser.save_screenshot(str(shots / "customer-migration-preflight.png"))
        submit(browser, browser.find_element(By.ID, "start"), "?done=")
        # The page reloads itself while the job runs, until its report is there.
        WebDriverWait(browser, 120, 0.5).until(
            lambda d: d.find_element(By.ID, "job-state").text != "running"
        )
        assert browser.find_element(By.ID, "job-state").text == "done"
        assert browser.find_element(By.ID, "outcome").text == "verified with warnings"
        assert data.REFUSED_FILE in browser.find_element(By.ID, "report").text
        browser.save_screenshot(str(shots / "customer-migration-report.png"))
        assert servers.OLD_PASSWORD not in browser.page_source
    assert (db_target.home / "www" / "index.html").read_bytes() == data.REFUSED_FILES["index.html"]
