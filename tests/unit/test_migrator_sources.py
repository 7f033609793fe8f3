"""Source URLs: passwords never pass or show, TLS options, plaintext warnings, full matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.runner import MigrationPlan
from migrator.sources import (
    SourceUrlError,
    TlsOptions,
    parse_db_url,
    parse_files_url,
    parse_mail_arg,
)

# Each holds a character that ends urlsplit's idea of the user info early.
PASSWORDS = ["pa/ss", "pa?ss", "pa#ss", "pa@ss", "pa:ss", "s/e?c#r@e:t", "x@y/z?#:1@"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize(
    "template",
    [
        "ftp://bob:{}@old.example/www",
        "ftps://bob:{}@old.example:2121/www?cafile=/ca.pem",
        "sftp://bob:{}@old.example/home/bob",
        "mysql://bob:{}@db.old.example/shop",
        "mysql://bob:{}@db.old.example:3307/shop?tls=no",
        "imaps://bob:{}@mail.old.example=info@shop.example",
        "imap://bob:{}@mail.old.example:143?starttls=yes=info@shop.example",
    ],
)
def test_password_in_url_is_refused_and_never_echoed(template: str, password: str) -> None:
    url = template.format(password)
    parse = {"ftp": parse_files_url, "sft": parse_files_url, "mys": parse_db_url}.get(
        url[:3], parse_mail_arg
    )
    with pytest.raises(SourceUrlError) as err:
        parse(url)
    message = str(err.value)
    assert "no password in the URL" in message and "\n" not in message
    assert password not in message
    # Nor any piece of it long enough to mean something (the parts between separators).
    for piece in (p for p in password.replace("@", "/").split("/") if len(p) > 2):
        assert piece not in message.replace("old.example", "").replace("shop.example", "")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://bob@old.example:21/dir@with:colon",  # '@' and ':' in the path, not a password
        "ftps://bob@old.example/x?cafile={}",
    ],
)
def test_at_and_colon_after_the_host_are_no_password(url: str, tmp_path: Path) -> None:
    ca = tmp_path / "a@b:c.pem"
    ca.write_text("")
    assert parse_files_url(url.format(ca)).user == "bob"


def test_other_errors_never_quote_the_password() -> None:
    # A bad port or scheme after a password: the password check comes first.
    for url in ("ftp://bob:se/cret@old.example:99999/", "gopher://bob:se/cret@old.example/"):
        with pytest.raises(SourceUrlError) as err:
            parse_files_url(url)
        assert "se/cret" not in str(err.value) and "cret" not in str(err.value)


def test_db_tls_options(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    assert parse_db_url("mysql://bob@db.example/shop").tls == TlsOptions()
    assert parse_db_url(f"mariadb://bob@db.example/shop?cafile={ca}").tls == TlsOptions(
        cafile=str(ca)
    )
    assert parse_db_url("mysql://bob@db.example/shop?verify=no").tls == TlsOptions(verify=False)
    assert parse_db_url("mysql://bob@db.example/shop?tls=no").tls is None
    with pytest.raises(SourceUrlError, match="tls_name is not supported"):
        parse_db_url("mysql://bob@192.0.2.1/shop?tls_name=db.example")


def test_a_cafile_that_cannot_be_read_is_named_at_once(tmp_path: Path) -> None:
    for parse, url in (
        (parse_files_url, "ftps://bob@old.example/?cafile={}"),
        (parse_db_url, "mysql://bob@db.example/shop?cafile={}"),
        (parse_mail_arg, "imaps://bob@mail.example?cafile={}=info@shop.example"),
    ):
        with pytest.raises(SourceUrlError, match=f"cafile {tmp_path}/missing.pem cannot be read"):
            parse(url.format(tmp_path / "missing.pem"))  # type: ignore[operator]


def test_names_are_matched_in_full() -> None:
    with pytest.raises(SourceUrlError):
        parse_db_url("mysql://bob@db.example/shop%0A")  # a trailing newline
    with pytest.raises(SourceUrlError):
        parse_mail_arg("imaps://bob@mail.example=info@shop.example\n")


def test_warnings_for_plaintext_and_unchecked_sources() -> None:
    plan = MigrationPlan(
        "alice",
        files=parse_files_url("ftp://bob@old.example/www"),
        databases=[
            parse_db_url("mysql://bob@db.example/shop?tls=no"),
            parse_db_url("mysql://bob@db.example/blog?verify=no"),
            parse_db_url("mysql://bob@db.example/wiki"),
        ],
        mail=[
            parse_mail_arg("imap://bob@mail.example=info@shop.example"),
            parse_mail_arg("imap://bob@mail.example?starttls=yes=sales@shop.example"),
            parse_mail_arg("imaps://bob@mail.example=news@shop.example"),
        ],
    )
    warnings = plan.warnings()
    assert len(warnings) == 4
    assert warnings[0].startswith("ftp://bob@old.example:21/www: unencrypted")
    assert warnings[1].startswith("mysql://bob@db.example:3306/shop: unencrypted")
    assert warnings[2].startswith("mysql://bob@db.example:3306/blog: verify=no")
    assert warnings[3].startswith("imap://bob@mail.example:143: unencrypted")
    secure = MigrationPlan(
        "alice",
        files=parse_files_url("sftp://bob@old.example/www"),
        databases=[parse_db_url("mysql://bob@db.example/shop")],
        mail=[parse_mail_arg("imaps://bob@mail.example=info@shop.example")],
    )
    assert secure.warnings() == []
