"""DNS rebinding against the panel's migration form: a hostile customer's name answers a
public address when the form is checked and 127.0.0.1 when the migrator connects. The panel's
resolver seam (`create_app(resolve=)`, the system resolver in production) plays that DNS; the
old host is a real listener on loopback that counts who reaches it. Every transport the panel
uses (FTP, FTPS, SFTP, MariaDB, IMAP) is refused at connect and never reaches it; with the
address policy off (`private_sources`, the operator's own case) the same DNS does reach it, so
the test can fail."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.panel import Client, api_token, panel_root, running_panel

pytestmark = pytest.mark.integration
PUBLIC = "93.184.215.14"  # what the customer's DNS answers first


class HostileDns:
    """Each name: a public address at its first lookup, loopback ever after."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked[host] += 1
        return [PUBLIC] if self.asked[host] == 1 else ["127.0.0.1"]


@pytest.fixture
def old_host() -> Iterator[tuple[int, list[int]]]:
    """A loopback service (port, connections seen): it hangs up at once."""
    server = socket.create_server(("127.0.0.1", 0))
    seen: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            seen.append(1)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], seen
    server.close()


def _orders(port: int) -> dict[str, dict[str, object]]:
    return {
        "ftp": {"files": f"ftp://u@ftp.evil.example:{port}/", "files_password": "x"},
        "ftps": {"files": f"ftps://u@ftps.evil.example:{port}/", "files_password": "x"},
        "sftp": {"files": f"sftp://u@sftp.evil.example:{port}/srv", "files_password": "x"},
        "mariadb": {"databases": [f"mysql://u@db.evil.example:{port}/shop"], "db_password": "x"},
        "imap": {"mail": [f"imaps://u@imap.evil.example:{port}=info@alice.example"],
                 "mail_password": "x", "mailbox_password": "x"},
    }  # fmt: skip


def test_a_name_that_rebinds_to_loopback_is_refused_at_connect(
    tmp_path: Path, old_host: tuple[int, list[int]]
) -> None:
    root = panel_root(tmp_path, accounts=("alice",))
    port, seen = old_host
    check = "/api/v1/accounts/alice/migrations/check"
    for private, expect_reached in ((False, False), (True, True)):
        dns = HostileDns()
        with running_panel(root, resolve=dns, private_sources=private) as url:
            alice = Client(url, token=api_token(root, "--account", "alice"))
            for kind, order in _orders(port).items():
                before = len(seen)
                reply = alice.request("POST", check, body=order)
                text = reply.text
                assert (len(seen) > before) is expect_reached, (kind, private, text)
                if not private:
                    assert "not a public address (127.0.0.1)" in text, (kind, text)
        # Looked up at the form's check, then again at connect: the second answer was loopback.
        assert all(n >= 2 for n in dns.asked.values()), dns.asked
