"""FTP and FTPS sources: MLSD where the server has it, LIST + MDTM otherwise."""

from __future__ import annotations

import calendar
import contextlib
import ftplib
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

from migrator.errors import MigrationError
from migrator.files import CHUNK, RemoteFile, RemoteTree, TransientError
from migrator.sources import FilesSource
from migrator.tlsutil import context

TIMEOUT = 30
_NET_ERRORS = (OSError, EOFError, ftplib.error_temp, ftplib.error_reply, ftplib.error_proto)


class _ReusingFtpTls(ftplib.FTP_TLS):
    """FTPS whose data connections resume the control connection's TLS session.

    vsftpd (require_ssl_reuse, its default) answers `522 session reuse required` otherwise.
    """

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)  # noqa: S321
        if self._prot_p:  # type: ignore[attr-defined]
            sock: Any = self.sock
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=sock.session)
        return conn, size


def _mdtm_to_epoch(value: str) -> int:
    value = value.strip().split(".")[0]
    return calendar.timegm(time.strptime(value[:14], "%Y%m%d%H%M%S"))


def _parse_list_line(line: str) -> tuple[str, str, int] | None:
    """(kind, name, size) from a Unix-style LIST line; kind is 'd', '-', 'l' or other."""
    fields = line.split(None, 8)
    if len(fields) < 9 or not fields[0] or fields[0][0] not in "dl-bcps":
        return None
    kind, name = fields[0][0], fields[8]
    if kind == "l":
        name = name.split(" -> ", 1)[0]
    try:
        size = int(fields[4])
    except ValueError:
        return None
    return kind, name, size


class FtpSession:
    def __init__(self, src: FilesSource, password: str) -> None:
        self.src = src
        self.ftp: ftplib.FTP
        try:
            if src.scheme == "ftps":
                tls = _ReusingFtpTls(context=context(src.tls), timeout=TIMEOUT)
                tls.encoding = "utf-8"
                tls.connect(src.host, src.port)
                tls.login(src.user, password)
                tls.prot_p()
                self.ftp = tls
            else:
                # Plain FTP is what many old hosts offer; the operator chose it.
                self.ftp = ftplib.FTP(timeout=TIMEOUT, encoding="utf-8")  # noqa: S321
                self.ftp.connect(src.host, src.port)
                self.ftp.login(src.user, password)
        except ftplib.error_perm as exc:
            raise MigrationError(src.label, "login", str(exc)) from None
        except ssl.SSLError as exc:
            raise MigrationError(src.label, "TLS", str(exc)) from None
        except (OSError, EOFError, ftplib.Error) as exc:
            raise MigrationError(src.label, "connect", str(exc) or type(exc).__name__) from None
        # Servers that always speak UTF-8 (or never) refuse this; names are decoded as UTF-8.
        with contextlib.suppress(ftplib.Error):
            self.ftp.sendcmd("OPTS UTF8 ON")
        self.ftp.voidcmd("TYPE I")
        try:
            feat = self.ftp.sendcmd("FEAT")
        except ftplib.Error:
            feat = ""
        self.mlsd = any(line.strip().upper().startswith("MLST") for line in feat.splitlines())

    def _full(self, rel: str) -> str:
        base = self.src.path.rstrip("/")
        return f"{base}/{rel}" if rel else base or "/"

    def walk(self) -> RemoteTree:
        tree = RemoteTree()
        try:
            self._walk("", tree)
        except ftplib.error_perm as exc:
            raise MigrationError(self.src.label, "list files", str(exc)) from None
        except _NET_ERRORS as exc:
            raise MigrationError(self.src.label, "list files", str(exc)) from None
        return tree

    def _walk(self, rel: str, tree: RemoteTree) -> None:
        path = self._full(rel)
        join = (lambda n: f"{rel}/{n}") if rel else (lambda n: n)
        if self.mlsd:
            for name, facts in self.ftp.mlsd(path, facts=["type", "size", "modify"]):
                kind = facts.get("type", "").lower()
                if kind in ("cdir", "pdir") or name in (".", ".."):
                    continue
                if kind == "dir":
                    tree.dirs.append(join(name))
                    self._walk(join(name), tree)
                elif kind == "file":
                    mtime = _mdtm_to_epoch(facts["modify"])
                    tree.files.append(RemoteFile(join(name), int(facts["size"]), mtime))
                else:
                    tree.skipped.append(join(name))
            return
        # LIST is only accurate to the minute and its path argument is not standard: CWD into
        # the directory, LIST -a (dotfiles), then MDTM per file for the exact mtime.
        lines: list[str] = []
        self.ftp.cwd(path)
        self.ftp.retrlines("LIST -a", lines.append)
        for line in lines:
            parsed = _parse_list_line(line)
            if parsed is None:
                continue
            kind, name, size = parsed
            if name in (".", ".."):
                continue
            if kind == "d":
                tree.dirs.append(join(name))
                self._walk(join(name), tree)
            elif kind == "-":
                resp = self.ftp.sendcmd(f"MDTM {self._full(join(name))}")
                tree.files.append(RemoteFile(join(name), size, _mdtm_to_epoch(resp[4:])))
            else:
                tree.skipped.append(join(name))

    def read(self, rel: str, offset: int) -> Iterator[bytes]:
        try:
            conn = self.ftp.transfercmd(f"RETR {self._full(rel)}", rest=offset or None)
        except ftplib.error_perm as exc:
            raise PermissionError(str(exc)) from None
        except _NET_ERRORS as exc:
            raise TransientError(str(exc) or type(exc).__name__) from None
        try:
            while True:
                try:
                    data = conn.recv(CHUNK)
                except _NET_ERRORS as exc:
                    raise TransientError(str(exc) or type(exc).__name__) from None
                if not data:
                    break
                yield data
            if isinstance(conn, ssl.SSLSocket):
                with contextlib.suppress(OSError, ValueError):
                    conn.unwrap()
        finally:
            conn.close()
        try:
            self.ftp.voidresp()
        except ftplib.error_perm as exc:
            raise PermissionError(str(exc)) from None
        except _NET_ERRORS as exc:
            raise TransientError(str(exc) or type(exc).__name__) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ftp.close()
