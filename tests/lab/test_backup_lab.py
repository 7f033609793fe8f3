"""Backups on real lab servers: a web server and a backup server converged by `bubble apply`
(the backup roles, forced commands and all), a backup of two accounts through the web server's
own bounded unit, then a deleted file, a dropped table and a deleted mail folder each restored
with `bubble backup restore` and verified byte for byte.

An isolated lab (198.18.8.0/24, servers bak-*), a fresh operator root, only the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Bubble, fresh_bubble, server_args
from tests.support.lab_env import isolated_lab, lab_env

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
    store = server_args(memory="2GiB", disk="40GiB")
    cli("server", "add", "bak-store", *store, "--role", "backup")
    for name in ("alice", "bob"):
        cli("account", "create", name, "--domain", f"{name}.example", "--no-apply")
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
    assert "CPUQuotaPerSecUSec=500ms" in unit, unit
    timer = bubble.on_server("bak-web", "systemctl is-enabled bubble-backup.timer")
    assert timer.strip() == "enabled"
