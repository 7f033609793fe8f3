"""Typed specs of the old host's endpoints, parsed from URLs that never carry a password.

Encryption is the default everywhere: ftps://, sftp://, imaps:// and mysql:// (TLS, the
certificate checked against the system CAs or ?cafile=). Plaintext is the operator's explicit
choice (ftp://, imap:// without ?starttls=yes, mysql://...?tls=no) and each such source, like
each ?verify=no, carries a warning that the CLI prints and the report keeps.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from migrator.errors import MigratorError

FileScheme = Literal["ftp", "ftps", "sftp"]
MailScheme = Literal["imap", "imaps"]

_DEFAULT_PORTS = {"ftp": 21, "ftps": 21, "sftp": 22, "mysql": 3306, "imap": 143, "imaps": 993}
_DB_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")  # fullmatch only
_MAILBOX = re.compile(r"[A-Za-z0-9._%+-]+(@[A-Za-z0-9.-]+)?")  # fullmatch only


class SourceUrlError(MigratorError):
    """A URL the operator gave cannot be used; the message is one line."""


@dataclass(frozen=True)
class TlsOptions:
    """How to check a peer's certificate: a CA file of its own, or not at all; server_name is
    the name the certificate must carry when it is not the host dialled (e.g. an address)."""

    cafile: str | None = None
    verify: bool = True
    server_name: str | None = None


@dataclass(frozen=True)
class FilesSource:
    scheme: FileScheme
    user: str
    host: str
    port: int
    path: str
    tls: TlsOptions = field(default_factory=TlsOptions)
    known_hosts: str | None = None  # sftp: a known_hosts file; default ~/.ssh/known_hosts
    connections: int = 4

    @property
    def label(self) -> str:
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}{self.path}"

    @property
    def warning(self) -> str | None:
        if self.scheme == "ftp":
            return _plaintext(self.label, "ftps:// or sftp://")
        return _unchecked(self.label, self.tls) if self.scheme == "ftps" else None


@dataclass(frozen=True)
class DbSource:
    user: str
    host: str
    port: int
    database: str
    tls: TlsOptions | None = field(default_factory=TlsOptions)  # None: plaintext (?tls=no)

    @property
    def label(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def warning(self) -> str | None:
        if self.tls is None:
            return _plaintext(self.label, "mysql:// without ?tls=no")
        return _unchecked(self.label, self.tls)


@dataclass(frozen=True)
class MailSource:
    scheme: MailScheme
    user: str
    host: str
    port: int
    tls: TlsOptions = field(default_factory=TlsOptions)
    starttls: bool = False

    @property
    def label(self) -> str:
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}"

    @property
    def warning(self) -> str | None:
        if self.scheme == "imap" and not self.starttls:
            return _plaintext(self.label, "imaps:// or ?starttls=yes")
        return _unchecked(self.label, self.tls)


@dataclass(frozen=True)
class MailJob:
    """One old mailbox and the account's mailbox it goes into."""

    source: MailSource
    mailbox: str

    @property
    def label(self) -> str:
        return f"{self.source.label} -> {self.mailbox}"


def _plaintext(label: str, better: str) -> str:
    return (
        f"{label}: unencrypted: the password and the data cross the network in clear "
        f"(use {better} if the old host offers it)"
    )


def _unchecked(label: str, tls: TlsOptions) -> str | None:
    if tls.verify:
        return None
    return f"{label}: verify=no: the certificate is not checked, anyone on the path can listen in"


def _split(url: str, schemes: tuple[str, ...]) -> tuple[str, str, str, int, str, dict[str, str]]:
    if _password_at(url) is not None:
        # A password in a URL ends up in shell history and process lists: refuse it, before
        # any parsing that could quote a piece of it back.
        raise SourceUrlError(
            f"{_redact(url)}: put no password in the URL; use the prompt, "
            "the environment variable or --password-file"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SourceUrlError(f"{_redact(url)}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise SourceUrlError(f"{_redact(url)}: scheme must be one of {', '.join(schemes)}")
    if not parts.username or not parts.hostname:
        raise SourceUrlError(f"{_redact(url)}: user and host are required (scheme://user@host)")
    query: dict[str, str] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return (
        scheme,
        unquote(parts.username),
        parts.hostname,
        port or _DEFAULT_PORTS[scheme],
        unquote(parts.path),
        query,
    )


def _password_at(url: str) -> tuple[int, int] | None:
    """Where a password sits in `scheme://user:password@host...`, if one does.

    People paste passwords unencoded, and `/ ? # @ :` in one end urlsplit's idea of the
    authority early (it then sees no password, or quotes part of it as a port). So the user
    info runs up to the LAST '@' and a password is whatever follows the first ':' in it, as
    long as the user before it holds none of `@ / ? #` (then the '@' is in a path or query).
    """
    start = url.find("://")
    start = 0 if start < 0 else start + 3
    end = url.rfind("@")
    if end < start:
        return None
    colon = url.find(":", start, end)
    if colon < 0 or any(c in url[start:colon] for c in "@/?#"):
        return None
    return colon + 1, end


def _redact(text: str) -> str:
    where = _password_at(text)
    return text if where is None else f"{text[: where[0]]}***{text[where[1] :]}"


def _no(query: dict[str, str], key: str) -> bool:
    return query.get(key, "yes").lower() in ("no", "0", "false", "off")


def _tls(url: str, query: dict[str, str]) -> TlsOptions:
    cafile = query.get("cafile")
    if cafile is not None and not os.access(cafile, os.R_OK):
        # Found now, in one line naming it, rather than as a bare errno at connect time.
        raise SourceUrlError(f"{_redact(url)}: cafile {cafile} cannot be read")
    verify = not _no(query, "verify")
    return TlsOptions(cafile=cafile, verify=verify, server_name=query.get("tls_name"))


def parse_files_url(url: str) -> FilesSource:
    """ftp://user@host[:port]/path (also ftps://, sftp://).

    Query: connections=N, cafile=, tls_name= (the certificate's name), verify=no."""
    scheme, user, host, port, path, query = _split(url, ("ftp", "ftps", "sftp"))
    try:
        connections = int(query.get("connections", "4"))
    except ValueError:
        raise SourceUrlError(f"{_redact(url)}: connections must be a number") from None
    if not 1 <= connections <= 16:
        raise SourceUrlError(f"{_redact(url)}: connections must be between 1 and 16")
    clean = "/" + "/".join(p for p in path.split("/") if p not in ("", "."))
    if "/../" in clean + "/":
        raise SourceUrlError(f"{_redact(url)}: '..' is not allowed in the path")
    return FilesSource(
        scheme=scheme,  # type: ignore[arg-type]
        user=user,
        host=host,
        port=port,
        path=clean,
        tls=_tls(url, query),
        known_hosts=query.get("known_hosts"),
        connections=connections,
    )


def parse_db_url(url: str) -> DbSource:
    """mysql://user@host[:port]/dbname (mariadb:// is accepted as a synonym).

    Query: cafile=, verify=no (TLS, certificate not checked), tls=no (plaintext)."""
    _, user, host, port, path, query = _split(url.replace("mariadb://", "mysql://", 1), ("mysql",))
    database = path.strip("/")
    if not _DB_NAME.fullmatch(database):
        raise SourceUrlError(f"{_redact(url)}: give one database name as the path (/dbname)")
    if "tls_name" in query:
        # The MariaDB client checks the certificate against the host it dials, nothing else.
        raise SourceUrlError(
            f"{_redact(url)}: tls_name is not supported for databases: dial the host by the "
            "name in its certificate"
        )
    tls = None if _no(query, "tls") else _tls(url, query)
    return DbSource(user=user, host=host, port=port, database=database, tls=tls)


def parse_mail_arg(arg: str) -> MailJob:
    """imap[s]://user@host[:port][?cafile=..]=MAILBOX: an old mailbox and where it goes."""
    url, sep, mailbox = arg.rpartition("=")
    if not sep or not _MAILBOX.fullmatch(mailbox) or "://" not in url:
        raise SourceUrlError(
            f"{_redact(arg)}: write the old mailbox and the account's mailbox as "
            "imaps://user@old-host=mailbox@domain"
        )
    scheme, user, host, port, _, query = _split(url, ("imap", "imaps"))
    starttls = query.get("starttls", "no").lower() in ("yes", "1", "true", "on")
    source = MailSource(
        scheme=scheme,  # type: ignore[arg-type]
        user=user,
        host=host,
        port=port,
        tls=_tls(url, query),
        starttls=starttls,
    )
    return MailJob(source=source, mailbox=mailbox)
