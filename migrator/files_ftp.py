"""FTP and FTPS sources: MLSD where the server has it, LIST + MDTM otherwise."""

from __future__ import annotations

import calendar
import contextlib
import ftplib
import hashlib
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

from migrator.errors import MigrationError
from migrator.files import CHUNK, RemoteFile, RemoteLink, RemoteTree, TransientError, shown
from migrator.network import OPEN, Network
from migrator.sources import FilesSource
from migrator.tlsutil import context

TIMEOUT = 30
MDTM_BATCH = 100  # MDTM commands sent at once: one round trip per batch, not per file
MAX_DEPTH = 64  # deeper than any real site: ends a link loop the server shows as directories
_NET_ERRORS = (OSError, EOFError, ftplib.error_temp, ftplib.error_reply, ftplib.error_proto)


class _PinnedFtp(ftplib.FTP):
    """FTP dialled through `Network`: the control connection to the checked address, each
    data connection's peer checked too (ftplib sends PASV's to the control connection's)."""

    network: Network = OPEN

    def connect(
        self, host: str = "", port: int = 0, timeout: float = -999,
        source_address: tuple[str, int] | None = None,
    ) -> str:  # fmt: skip
        self.host, self.port = host, port
        self.sock = self.network.connect(host, port, TIMEOUT)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)  # noqa: S321
        try:
            self.network.peer(self.host, conn)
        except OSError:
            conn.close()
            raise
        return conn, size


class _ReusingFtpTls(_PinnedFtp, ftplib.FTP_TLS):
    """FTPS whose data connections resume the control connection's TLS session.

    vsftpd (require_ssl_reuse, its default) answers `522 session reuse required` otherwise.
    """

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = _PinnedFtp.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            sock: Any = self.sock
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=sock.session)
        return conn, size


def _mdtm_to_epoch(value: str) -> int:
    value = value.strip().split(".")[0]
    return calendar.timegm(time.strptime(value[:14], "%Y%m%d%H%M%S"))


def _parse_list_line(line: bytes) -> tuple[str, bytes, int, bytes] | None:
    """(kind, raw name, size, link target) from a Unix-style LIST line; kind is 'd', '-', 'l'
    or other; the target is empty but for links."""
    fields = line.split(None, 8)
    if len(fields) < 9 or fields[0][:1] not in (b"d", b"l", b"-", b"b", b"c", b"p", b"s"):
        return None
    kind, name, target = fields[0][:1].decode(), fields[8], b""
    if kind == "l":
        name, _, target = name.partition(b" -> ")
    try:
        size = int(fields[4])
    except ValueError:
        return None
    return kind, name, size, target


def _digest(lines: list[bytes]) -> bytes:
    return hashlib.sha256(b"\n".join(sorted(lines))).digest()


def _facts(raw: bytes) -> dict[str, str]:
    """`type=file;size=3;modify=20200101000000;` -> {'type': 'file', ...} (keys lowercased)."""
    out: dict[str, str] = {}
    for fact in raw.decode("utf-8", "replace").split(";"):
        key, sep, value = fact.partition("=")
        if sep:
            out[key.strip().lower()] = value
    return out


def _name(raw: bytes) -> str:
    """The name as text, or ValueError saying why it cannot be copied."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("name is not valid UTF-8") from None
    if not name.isprintable() or "/" in name or name in ("", ".", ".."):
        # A control character (a line break even) cannot travel in an FTP command.
        raise ValueError("name holds a control character or '/'")
    return name


class _Walk:
    """One walk of the tree, and what keeps it finite when the server follows links.

    A directory met again (same MLSD `unique` fact), or one whose listing is exactly that of
    a directory above it (a link back up, on servers without `unique`), is not walked again;
    a depth limit ends whatever else could still go round."""

    def __init__(self, session: FtpSession, tree: RemoteTree, root_unique: str | None) -> None:
        self.s, self.tree = session, tree
        self.seen: dict[str, str] = {root_unique: "/"} if root_unique else {}
        self.above: dict[bytes, str] = {}  # listing digest -> directory, along the current path

    def run(self) -> None:
        lines = self._read("")  # a root that cannot be listed ends the part (error_perm)
        self._dir("", lines, 0)

    def _read(self, rel: str) -> list[bytes]:
        if self.s.mlsd:
            return self.s.lines(f"MLSD {self.s.full(rel)}")
        # LIST's path argument is not standard: CWD into the directory, then LIST -a.
        self.s.ftp.cwd(self.s.full(rel))
        return self.s.lines("LIST -a")

    def _skip(self, rel: str, reason: str) -> None:
        self.tree.skipped.append(f"{rel}: {reason}")

    def _links_in(self, rel: str) -> dict[bytes, bytes]:
        """Raw name -> target of the links in a directory, from LIST: servers that follow
        links in MLSD (pyftpdlib) still show them as links there."""
        try:
            self.s.ftp.cwd(self.s.full(rel))
            lines = self.s.lines("LIST -a")
        except ftplib.error_perm:
            return {}  # MLSD listed it: go on without knowing its links
        links = {}
        for line in lines:
            parsed = _parse_list_line(line)
            if parsed and parsed[0] == "l":
                links[parsed[1]] = parsed[3]
        return links

    def _dir(self, rel: str, lines: list[bytes], depth: int) -> None:
        digest = _digest(lines)
        self.above[digest] = rel or "/"
        subdirs = self._mlsd(rel, lines) if self.s.mlsd else self._list(rel, lines)
        for path, unique in subdirs:
            self._subdir(path, unique, depth + 1)
        del self.above[digest]

    def _subdir(self, rel: str, unique: str | None, depth: int) -> None:
        if unique and unique in self.seen:
            self._skip(rel, f"the same directory as {self.seen[unique]} (a link): not followed")
            return
        if depth > MAX_DEPTH:
            self._skip(rel, f"more than {MAX_DEPTH} directories deep (a link loop?): not followed")
            return
        try:
            lines = self._read(rel)
        except ftplib.error_perm as exc:
            self._skip(rel, f"cannot be listed: {exc}")
            return
        if _digest(lines) in self.above:
            where = self.above[_digest(lines)]
            self._skip(rel, f"lists the same entries as {where} (a link back up?): not followed")
            return
        if unique:
            self.seen[unique] = rel
        self.tree.dirs.append(rel)
        self._dir(rel, lines, depth)

    def _entry(self, rel: str, raw: bytes) -> str | None:
        """The child's relative path, or None (reported) when its name is unusable."""
        try:
            name = _name(raw)
        except ValueError as exc:
            if raw not in (b".", b".."):
                self._skip(f"{rel}/{shown(raw)}" if rel else shown(raw), str(exc))
            return None
        return f"{rel}/{name}" if rel else name

    def _link(self, path: str, raw_target: bytes) -> None:
        try:
            target = raw_target.decode("utf-8")
        except UnicodeDecodeError:
            self._skip(path, "a link whose target is not valid UTF-8")
            return
        if not target or not target.isprintable():
            self._skip(path, "a link without a usable target")
            return
        self.tree.links.append(RemoteLink(path, target))

    def _mlsd(self, rel: str, lines: list[bytes]) -> list[tuple[str, str | None]]:
        subdirs: list[tuple[str, str | None]] = []
        links = self._links_in(rel)
        for raw in set(links) - {line.partition(b" ")[2] for line in lines}:
            # A dangling link, or one the server could not follow: absent from MLSD.
            path = self._entry(rel, raw)
            if path is not None:
                self._link(path, links[raw])
        for line in lines:
            raw_facts, sep, raw = line.partition(b" ")
            facts = _facts(raw_facts)
            kind = facts.get("type", "").lower()
            if not sep or not kind:
                self._skip(rel or "/", f"unreadable listing line {shown(line)!r}")
                continue
            if kind in ("cdir", "pdir"):
                if kind == "cdir" and facts.get("unique"):
                    self.seen.setdefault(facts["unique"], rel or "/")
                continue
            path = self._entry(rel, raw)
            if path is None:
                continue
            if raw in links:
                self._link(path, links[raw])
            elif kind.startswith("os.unix=slink:"):  # the target in the type fact
                self._link(path, facts["type"].partition(":")[2].encode())
            elif kind == "dir":
                subdirs.append((path, facts.get("unique")))
            elif kind == "file":
                self._file(path, facts.get("size"), facts.get("modify"))
            else:
                self._skip(path, f"a link or special file (type={facts.get('type')})")
        return subdirs

    def _list(self, rel: str, lines: list[bytes]) -> list[tuple[str, str | None]]:
        subdirs: list[tuple[str, str | None]] = []
        sized: list[tuple[str, int]] = []  # files: exact mtimes asked for all at once below
        for line in lines:
            parsed = _parse_list_line(line)
            if parsed is None:
                if not line.startswith(b"total "):
                    self._skip(rel or "/", f"unreadable listing line {shown(line)!r}")
                continue
            kind, raw, size, target = parsed
            path = self._entry(rel, raw)
            if path is None:
                continue
            if kind == "d":
                subdirs.append((path, None))
            elif kind == "-":
                sized.append((path, size))
            elif kind == "l":
                self._link(path, target)
            else:
                self._skip(path, "a special file")
        # LIST shows minutes only: MDTM gives the exact time.
        mtimes = self.s.mtimes([self.s.full(path) for path, _ in sized])
        for (path, size), mtime in zip(sized, mtimes, strict=True):
            if isinstance(mtime, int):
                self.tree.files.append(RemoteFile(path, size, mtime))
            else:
                self._skip(path, f"no size or modification time: {mtime}")
        return subdirs

    def _file(self, rel: str, size: str | None, modify: str | None) -> None:
        """A file with its size and exact mtime; asks SIZE/MDTM for what the listing lacks."""
        full = self.s.full(rel)
        try:
            try:
                mtime = _mdtm_to_epoch(modify or "")
            except ValueError:  # no modify fact (LIST, or MLSD without it) or a malformed one
                mtime = self.s.mtime(full)
            nbytes = int(size) if size and size.isdigit() else self.s.ftp.size(full)
        except (ftplib.error_perm, ftplib.error_reply, ValueError, UnicodeDecodeError) as exc:
            self._skip(rel, f"no size or modification time: {exc}")
            return
        if nbytes is None:
            self._skip(rel, "no size")
            return
        self.tree.files.append(RemoteFile(rel, nbytes, mtime))


class FtpSession:
    def __init__(self, src: FilesSource, password: str, network: Network = OPEN) -> None:
        self.src = src
        self.ftp: ftplib.FTP
        if "\n" in password or "\r" in password:
            # ftplib would refuse to send it (a line break starts the next command).
            raise MigrationError(src.label, "login", "the password holds a line break")
        try:
            if src.scheme == "ftps":
                tls = _ReusingFtpTls(context=context(src.tls, src.host), timeout=TIMEOUT)
                tls.encoding, tls.network = "utf-8", network
                tls.connect(src.host, src.port)
                tls.login(src.user, password)
                tls.prot_p()
                self.ftp = tls
            else:
                # Plain FTP is what many old hosts offer; the operator chose it.
                self.ftp = _PinnedFtp(timeout=TIMEOUT, encoding="utf-8")
                self.ftp.network = network
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

    def full(self, rel: str) -> str:
        base = self.src.path.rstrip("/")
        return f"{base}/{rel}" if rel else base or "/"

    def walk(self) -> RemoteTree:
        """Every file and directory below the source path. An entry that cannot be listed,
        named or dated, and a link that leads back into the tree, is reported in tree.skipped
        and the walk goes on. Only a root that cannot be listed, or a broken connection,
        ends it."""
        tree = RemoteTree()
        try:
            if self.mlsd:
                with contextlib.suppress(ftplib.Error):
                    self.ftp.sendcmd("OPTS MLST type;size;modify;unique;")
            _Walk(self, tree, self._unique(self.full("")) if self.mlsd else None).run()
        except ftplib.error_perm as exc:
            raise MigrationError(self.src.label, "list files", str(exc)) from None
        except (*_NET_ERRORS, UnicodeDecodeError) as exc:
            raise MigrationError(self.src.label, "list files", str(exc)) from None
        return tree

    def _unique(self, path: str) -> str | None:
        """The MLST `unique` fact of one path (the root: a link back to it is a loop too)."""
        try:
            resp = self.ftp.sendcmd(f"MLST {path}")
        except (ftplib.Error, UnicodeDecodeError):
            return None
        for line in resp.splitlines()[1:-1]:
            return _facts(line.strip().encode().partition(b" ")[0]).get("unique")
        return None

    def lines(self, cmd: str) -> list[bytes]:
        """A listing's lines as bytes: names on the old host need not be UTF-8."""
        chunks: list[bytes] = []
        self.ftp.retrbinary(cmd, chunks.append)
        data = b"".join(chunks)
        # Lines end in CRLF: a bare line feed inside a name must not cut the entry in two.
        return [line for line in data.split(b"\r\n" if b"\r\n" in data else b"\n") if line]

    def mtime(self, path: str) -> int:
        """MDTM: the exact modification time (LIST shows minutes, MLSD may leave it out)."""
        return _mdtm_to_epoch(self.ftp.sendcmd(f"MDTM {path}")[4:])

    def mtimes(self, paths: list[str]) -> list[int | str]:
        """MDTM of many paths, pipelined: each is the time, or the server's refusal."""
        out: list[int | str] = []
        sock: Any = self.ftp.sock
        for i in range(0, len(paths), MDTM_BATCH):
            batch = paths[i : i + MDTM_BATCH]
            # Names were checked (_name): no line break can end a command early.
            sock.sendall("".join(f"MDTM {p}\r\n" for p in batch).encode("utf-8"))
            for _ in batch:
                try:
                    out.append(_mdtm_to_epoch(self.ftp.getresp()[4:]))
                except ftplib.error_perm as exc:  # this one file: go on with the rest
                    out.append(str(exc))
                except ValueError:
                    out.append("malformed MDTM reply")
        return out

    def read(self, rel: str, offset: int) -> Iterator[bytes]:
        try:
            conn = self.ftp.transfercmd(f"RETR {self.full(rel)}", rest=offset or None)
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
