"""Backups on real lab servers: a web server and a backup server converged by `bubble apply`
(the backup roles, forced commands and all), a backup of two accounts through the web server's
own bounded unit, then a deleted file, a dropped table and a deleted mail folder each restored
with `bubble backup restore` and verified byte for byte. Then an account moved to a second web
server while an HTTP client polls it (downtime measured; files, rows, messages and mailbox login
identical; a hostile home's links out, FIFO and sparse trap not followed); the first web server
evacuated live, its two accounts landing on the two others (sites answering, files identical);
and then the one that took bob destroyed and evacuated from backup, bob's site answering and
his mailbox login working on the other (a passdb line he planted in his home never installed).
Last, the backup server loses a repository: the next run makes it anew.

An isolated lab (198.18.8.0/24, servers bak-*), a fresh operator root, the CLI (and the
customer's panel on that root for her own restores)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from glue.backup.keys import repokey_file
from glue.backup.topology import repository_path
from tests.support.browser import chromium, log_in, shots_dir
from tests.support.cli import Bubble, fresh_bubble, server_args
from tests.support.lab_env import isolated_lab, lab_env
from tests.support.lab_server import http_get
from tests.support.panel import PASSWORD, Client, running_panel
from tests.support.poller import Poller

pytestmark = pytest.mark.lab

LAB = isolated_lab("bak", 8)
LAB_ENV = lab_env(LAB)
MAILBOX = "info@alice.example"
FOLDER = f"mail/{MAILBOX}/Maildir/Lists.debian"
SUM = f"sha256sum www/site.bin {FOLDER}/cur/1.msg | cut -c1-64"
FILL = (
    "set -e; head -c 300000 /dev/urandom > www/site.bin; "
    f"mkdir -p {FOLDER}/cur {FOLDER}/new {FOLDER}/tmp; "
    f"printf 'Subject: list\\r\\n\\r\\nhello\\r\\n' > {FOLDER}/cur/1.msg"
)
TABLE = (
    "CREATE DATABASE alice_shop; CREATE TABLE alice_shop.items (id INT PRIMARY KEY, "
    "name VARCHAR(40)) CHARSET utf8mb4; INSERT INTO alice_shop.items VALUES (1, 'tea'), (2, 'jam')"
)
CHECKSUM = "mariadb -N -B -e 'CHECKSUM TABLE alice_shop.items'"


@pytest.fixture(scope="module")
def bubble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bubble]:
    cli = fresh_bubble(tmp_path_factory, LAB_ENV)
    cli("server", "add", "bak-web", *server_args(memory="4GiB", disk="80GiB"))
    # Room for a third base (alice's, carol's, then bob's restored from backup).
    cli("server", "add", "bak-web2", *server_args(memory="4GiB", disk="100GiB"))
    cli("server", "add", "bak-web3", *server_args(memory="4GiB", disk="80GiB"))
    store = server_args(memory="2GiB", disk="40GiB")
    cli("server", "add", "bak-store", *store, "--role", "backup")
    for name in ("alice", "bob"):
        cli("account", "create", name, "--domain", f"{name}.example", "--server", "bak-web",
            "--no-apply")  # fmt: skip
    cli("apply")
    try:
        yield cli
    finally:
        cli.run("lab", "down", "--yes")


def test_two_accounts_backed_up_and_three_kinds_of_loss_restored_exactly(
    bubble: Bubble, tmp_path: Path
) -> None:
    secret = tmp_path / "mailbox-password"
    secret.write_text("mail pass 1\n")
    secret.chmod(0o600)
    bubble("account", "mailbox", "alice", MAILBOX, "--password-file", str(secret))
    bubble.as_account("alice", FILL)
    bubble("account", "exec", "alice", "--", "mariadb", "-e", TABLE)
    before = bubble.as_account("alice", SUM), bubble.as_account("alice", CHECKSUM)

    results = bubble.json("backup", "run")
    assert isinstance(results, list)
    assert sorted((r["account"], r["ok"]) for r in results) == [("alice", True), ("bob", True)]
    (row,) = bubble.json("backup", "list", "alice")  # type: ignore[misc]
    assert "alice_shop" in row["databases"] and row["mailboxes"] == [MAILBOX]

    lose = f"rm www/site.bin; rm -r {FOLDER}; mariadb -e 'DROP TABLE alice_shop.items'"
    bubble.as_account("alice", lose)
    bubble("backup", "restore", "alice", "--path", "www/site.bin")
    bubble("backup", "restore", "alice", "--db", "alice_shop")
    bubble("backup", "restore", "alice", "--mailbox", MAILBOX)
    assert (bubble.as_account("alice", SUM), bubble.as_account("alice", CHECKSUM)) == before
    # The web server's unit ran bounded (its CPU quota, the idle IO class).
    show = "systemctl show bubble-backup@all.service -p CPUQuotaPerSecUSec -p IOSchedulingClass"
    unit = bubble.on_server("bak-web", show)
    assert "CPUQuotaPerSecUSec=1s" in unit, unit  # half of its 2 cores
    timer = bubble.on_server("bak-web", "systemctl is-enabled bubble-backup.timer")
    assert timer.strip() == "enabled"


def test_alice_lists_her_backups_and_restores_a_file_and_a_table_in_the_panel(
    bubble: Bubble, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The customer herself, through the running panel's API on this root (her token): her
    archives listed (bob's answer 404), then a deleted file and a dropped table restored by
    the panel's background jobs, byte for byte and rows back; her backups page kept as a
    screenshot. Uses the archive made above."""
    for key, value in LAB_ENV.items():  # the panel reaches the lab's servers as the CLI does
        monkeypatch.setenv(key, value)
    before = bubble.as_account("alice", SUM), bubble.as_account("alice", CHECKSUM)
    secret = tmp_path / "panel-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    bubble("panel", "customer-password", "alice", "--password-file", str(secret))
    alice_token = bubble("panel", "token", "create", "--account", "alice").strip()
    with running_panel(bubble.root) as url:
        alice = Client(url, token=alice_token)
        listed = alice.request("GET", "/api/v1/accounts/alice/backups")
        assert listed.status == 200, listed.text
        newest = listed.json()[-1]
        assert newest["account"] == "alice" and newest["size"] > 300_000
        assert "alice_shop" in newest["databases"] and newest["mailboxes"] == [MAILBOX]
        assert alice.request("GET", "/api/v1/accounts/bob/backups").status == 404

        bubble.as_account("alice", "rm www/site.bin; mariadb -e 'DROP TABLE alice_shop.items'")
        for asked in ({"path": "www/site.bin"}, {"db": "alice_shop"}):
            started = alice.request("POST", "/api/v1/accounts/alice/backups/restore",
                                    body={**asked, "archive": newest["archive"]})  # fmt: skip
            assert started.status == 202, started.text
            deadline = time.monotonic() + 120
            while (job := alice.request("GET", started.json()["url"]).json())["state"] == (
                "running"
            ) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert job["state"] == "done" and job["started_by"] == "alice", job
        if shutil.which("chromedriver"):  # the page as she sees it, kept as an artefact
            with chromium() as browser:
                log_in(browser, url, "alice")
                browser.get(f"{url}/account/backups")
                assert newest["archive"] in browser.find_element(By.ID, "archives").text
                browser.save_screenshot(str(shots_dir() / "customer-backups.png"))
    assert (bubble.as_account("alice", SUM), bubble.as_account("alice", CHECKSUM)) == before
    assert bubble.as_account("alice", ROWS).strip() == "2"


# A hostile home: links out of it, a FIFO nobody writes, a sparse file far past the disk
# limit (never read: left out) and one within it (copied sparse), a page naming its server.
HOSTILE = (
    "set -e; ln -s /etc/shadow www/shadow; ln -s / www/everything; mkfifo www/pipe; "
    "truncate -s 1T www/huge.bin; truncate -s 512M www/big.bin; "
    "printf '<?php echo gethostname();' > www/host.php; mkdir www/many; "
    "for i in $(seq 1 300); do echo $i > www/many/$i.txt; done"
)
FILES = (
    "find www mail -type f ! -name huge.bin ! -name big.bin -print0 | sort -z "
    "| xargs -0 sha256sum | sha256sum | cut -c1-64"
)
MESSAGES = (
    "find mail -type f -path '*/Maildir/*' \\( -path '*/cur/*' -o -path '*/new/*' \\) | wc -l"
)
ROWS = "mariadb -N -B -e 'SELECT COUNT(*) FROM alice_shop.items'"


def test_account_moved_live_with_identical_data_and_nothing_from_outside_its_home(
    bubble: Bubble,
) -> None:
    bubble.as_account("alice", HOSTILE)
    before = [bubble.as_account("alice", c) for c in (FILES, MESSAGES, ROWS, CHECKSUM)]
    old, new = bubble.address("bak-web"), bubble.address("bak-web2")
    poller = Poller(old, "alice.example", "/host.php")
    poller.start()
    try:
        started = time.monotonic()
        done = bubble.json("account", "move", "alice", "--to", "bak-web2")
        took = time.monotonic() - started
        time.sleep(1)
    finally:
        poller.stop.set()
        poller.join()
    assert isinstance(done, dict)
    assert (done["to"], done["address"], done["phase"]) == ("bak-web2", new, "switched")
    statuses = {status for _, status, _ in poller.seen}
    assert statuses <= {200, 503}, statuses  # frozen: 503, never an error page or a refusal
    bodies = [body for _, status, body in poller.seen if status == 200]
    names = [bubble.on_server(server, "hostname").strip() for server in ("bak-web", "bak-web2")]
    assert [bodies[0], bodies[-1]] == names  # then proxied to the new server
    downtime = poller.downtime()
    print(f"move took {took:.1f} s; downtime measured {downtime:.2f} s, "
          f"reported {done['downtime_ms'] / 1000:.2f} s")  # fmt: skip
    assert downtime < 10
    assert [bubble.as_account("alice", c) for c in (FILES, MESSAGES, ROWS, CHECKSUM)] == before
    auth = "doveadm auth test info@alice.example 'mail pass 1' >/dev/null && echo ok"
    assert bubble.on_server("bak-web2", auth).strip() == "ok"
    # Nothing from outside the home: links out dropped, no file holds /etc/shadow's lines,
    # the FIFO recreated (never read), the sparse trap left out, the other one still sparse.
    home = "/srv/alice/www"
    look = (
        f"ls {home}; grep -rlsD skip '^root:' /srv/alice || true; stat -c '%F' {home}/pipe; "
        f"stat -c '%s %b' {home}/big.bin"
    )
    seen = bubble.on_server("bak-web2", look).split("\n")
    assert not {"shadow", "everything", "huge.bin"} & set(seen), seen
    assert "fifo" in seen and not any(line.startswith("/srv/") for line in seen), seen
    _size, blocks = next(line for line in seen if line.startswith("536870912 ")).split()
    assert int(blocks) < 1024, blocks
    assert http_get(new, "alice.example", "/host.php")[1].strip() == names[1]

    finished = bubble.json("account", "move", "alice", "--finish")
    assert isinstance(finished, dict) and finished["phase"] == "finished"
    assert bubble.on_server("bak-web", "test -e /srv/alice || echo gone").strip() == "gone"
    assert http_get(new, "alice.example", "/host.php")[1].strip() == names[1]


def test_a_server_evacuated_live_to_two_others_sites_answering_data_identical(
    bubble: Bubble,
) -> None:
    bubble("account", "create", "carol", "--domain", "carol.example", "--server", "bak-web")
    page = (
        "printf '%s on its way\\n' $(id -un) > www/index.html; head -c 200000 /dev/urandom > www/x"
    )
    for name in ("bob", "carol"):
        bubble.as_account(name, page)
    before = {name: bubble.as_account(name, FILES) for name in ("bob", "carol")}
    rows = bubble.json("server", "evacuate", "bak-web", "--yes")
    assert isinstance(rows, list)
    landed = {row["account"]: row["to"] for row in rows}
    # Placement: the fewest accounts first (bak-web3 had none, bak-web2 alice), then by name.
    assert landed == {"bob": "bak-web3", "carol": "bak-web2"}, rows
    for name, server in landed.items():
        reply = http_get(bubble.address(server), f"{name}.example", "/index.html")
        assert reply == (200, f"{name} on its way\n"), (name, reply)
        assert bubble.as_account(name, FILES) == before[name]
    # bak-web drained: placement skips it from now on.
    servers = bubble.json("server", "list")
    assert isinstance(servers, list)
    assert next(s["state"] for s in servers if s["name"] == "bak-web") == "draining"
    finished = bubble.json("account", "move", "bob", "--finish")
    assert isinstance(finished, dict) and finished["phase"] == "finished"


# bob's own passdb line for alice's address, planted where a careless restore might read one.
PLANTED = "info@alice.example:{PLAIN}planted-pass:1000:1000::/srv/alice/mail/info@alice.example::"


def test_dead_server_evacuated_from_backup_its_site_answering_elsewhere(
    bubble: Bubble, tmp_path: Path
) -> None:
    secret = tmp_path / "bob-mail"
    secret.write_text("bob mail pass\n")
    secret.chmod(0o600)
    bubble("account", "mailbox", "bob", "info@bob.example", "--password-file", str(secret))
    bubble.as_account("bob", "printf 'bob before the fire\\n' > www/index.html")
    bubble.as_account("bob", f"printf '%s\\n' '{PLANTED}' | tee www/mail-logins mail/mail-logins")
    (result,) = bubble.json("backup", "run", "--account", "bob")  # type: ignore[misc]
    assert result["ok"], result
    bubble("lab", "server-destroy", "bak-web3")
    rows = bubble.json("server", "evacuate", "bak-web3", "--from-backup", "--yes")
    assert isinstance(rows, list)
    ((row),) = rows
    assert (row["account"], row["ok"], row["to"]) == ("bob", True, "bak-web2"), row
    assert 0 <= row["lost_seconds"] < 3600
    status, body = http_get(bubble.address("bak-web2"), "bob.example", "/index.html")
    assert (status, body) == (200, "bob before the fire\n")
    # The mailbox login restored with the mail (its hash, from root's side of the dead server).
    assert row["mail_logins"] == 1, row
    login = "doveadm auth test info@bob.example 'bob mail pass' >/dev/null && echo ok"
    assert bubble.on_server("bak-web2", login).strip() == "ok"
    planted = (
        "doveadm auth test info@alice.example planted-pass >/dev/null 2>&1 && echo IN; "
        "grep -c planted /etc/dovecot/bubble-users || true; "
        "doveadm auth test info@alice.example 'mail pass 1' >/dev/null && echo alice"
    )
    assert bubble.on_server("bak-web2", planted).split() == ["0", "alice"]
    servers = bubble.json("server", "list")
    assert isinstance(servers, list)
    assert next(s["state"] for s in servers if s["name"] == "bak-web3") == "down"


def test_a_repository_the_backup_server_lost_is_made_anew_at_the_next_run(bubble: Bubble) -> None:
    listed = bubble.json("account", "list")
    assert isinstance(listed, list)
    web = next(row["server"] for row in listed if row["name"] == "bob")
    there = sorted(row["name"] for row in listed if row["server"] == web)

    def all_backed_up() -> None:
        results = bubble.json("backup", "run", "--server", web)
        assert isinstance(results, list)
        assert sorted((r["account"], r["ok"]) for r in results) == [(a, True) for a in there]

    all_backed_up()  # the repository made if this is the server's first run, its key exported
    key = repokey_file(bubble.root, web)
    old_key = key.read_text()
    bubble.on_server("bak-store", f"rm -r {repository_path(web)}")
    all_backed_up()
    assert key.read_text() != old_key  # the new repository's key, exported
    rows = bubble.json("backup", "list", "bob")
    assert isinstance(rows, list) and len(rows) == 1, rows  # the first run's went with it
