"""A certificate checked against a name other than the address dialled (tls_name=).

A server reached by its address (the account's server, an old host by IP) often carries a
certificate for its host name: the check must use that name, never switch verification off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import MigrationError
from migrator.mail import connect
from migrator.sources import TlsOptions, parse_files_url, parse_mail_arg

from . import data, servers

pytestmark = pytest.mark.integration


def test_tls_name_in_urls(cert: tuple[Path, Path]) -> None:
    m = parse_mail_arg(
        f"imaps://bob@192.0.2.7?cafile={cert[0]}&tls_name=mail.old.example=a@b.example"
    )
    assert m.source.tls == TlsOptions(cafile=str(cert[0]), server_name="mail.old.example")
    assert parse_files_url("ftps://bob@192.0.2.7/?tls_name=ftp.old.example").tls.server_name == (
        "ftp.old.example"
    )


def _login(cert: Path, name: str | None) -> None:
    tls = TlsOptions(cafile=str(cert), server_name=name)
    client = connect("old", "127.0.0.1", servers.PORT_IMAPS_OLD, True, tls, False,
                     data.OLD_MAIL_USER, servers.MAIL_PASSWORD)  # fmt: skip
    client.logout()


def test_certificate_checked_against_the_given_name(old_imap: str, cert: tuple[Path, Path]) -> None:
    _login(cert[0], None)  # the address itself is in the certificate
    _login(cert[0], "localhost")  # so is this name, although 127.0.0.1 is dialled
    with pytest.raises(MigrationError) as err:
        _login(cert[0], "mail.elsewhere.example")
    assert "connect" in str(err.value) and "certificate" in str(err.value).lower()
