"""SFTP source via paramiko; the old host's key must be known (no blind trust)."""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Iterator
from pathlib import Path

import paramiko

from migrator.errors import MigrationError
from migrator.files import CHUNK, RemoteFile, RemoteLink, RemoteTree, TransientError, shown
from migrator.network import OPEN, Network
from migrator.sources import FilesSource

TIMEOUT = 30


def _why(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        # paramiko decodes every name of a directory at once: one bad name hides them all.
        return "a name in it is not valid UTF-8"
    return str(exc) or type(exc).__name__


class SftpSession:
    def __init__(self, src: FilesSource, password: str, network: Network = OPEN) -> None:
        self.src = src
        self.client = paramiko.SSHClient()
        try:
            if src.known_hosts:
                self.client.load_host_keys(src.known_hosts)
            else:
                self.client.load_system_host_keys()
                known = Path("~/.ssh/known_hosts").expanduser()
                if known.exists():
                    self.client.load_host_keys(str(known))
            self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
            self.client.connect(
                src.host,  # the name: known_hosts is looked up by it
                sock=network.connect(src.host, src.port, TIMEOUT),
                port=src.port,
                username=src.user,
                password=password,
                look_for_keys=False,
                allow_agent=False,
                timeout=TIMEOUT,
                banner_timeout=TIMEOUT,
                auth_timeout=TIMEOUT,
            )
            self.sftp = self.client.open_sftp()
        except paramiko.AuthenticationException as exc:
            self.client.close()
            raise MigrationError(src.label, "login", str(exc)) from None
        except paramiko.SSHException as exc:
            self.client.close()
            raise MigrationError(src.label, "connect", str(exc)) from None
        except OSError as exc:
            self.client.close()
            raise MigrationError(src.label, "connect", str(exc)) from None

    def _full(self, rel: str) -> str:
        base = self.src.path.rstrip("/")
        return f"{base}/{rel}" if rel else base or "/"

    def walk(self) -> RemoteTree:
        tree = RemoteTree(root=self._full(""))
        try:
            self._walk("", tree)
        except (OSError, paramiko.SSHException) as exc:
            raise MigrationError(self.src.label, "list files", str(exc)) from None
        return tree

    def _walk(self, rel: str, tree: RemoteTree) -> None:
        # READDIR gives lstat attributes: links show as links and are never followed.
        try:
            entries = self.sftp.listdir_attr(self._full(rel))
        except (OSError, UnicodeDecodeError) as exc:
            if not rel:
                raise MigrationError(self.src.label, "list files", _why(exc)) from None
            tree.skipped.append(f"{rel}: cannot be listed: {_why(exc)}")
            return
        for attr in entries:
            name = f"{rel}/{attr.filename}" if rel else attr.filename
            mode = attr.st_mode or 0
            if not attr.filename.isprintable() or "/" in attr.filename:
                tree.skipped.append(
                    f"{shown(name.encode())}: name holds a control character or '/'"
                )
            elif stat.S_ISDIR(mode):
                tree.dirs.append(name)
                self._walk(name, tree)
            elif stat.S_ISREG(mode):
                tree.files.append(RemoteFile(name, int(attr.st_size or 0), int(attr.st_mtime or 0)))
            elif stat.S_ISLNK(mode):
                self._link(name, tree)
            else:
                tree.skipped.append(f"{name}: a link or special file")

    def _link(self, rel: str, tree: RemoteTree) -> None:
        try:
            target = self.sftp.readlink(self._full(rel))
        except (OSError, UnicodeDecodeError) as exc:
            tree.skipped.append(f"{rel}: a link that cannot be read: {_why(exc)}")
            return
        if target:
            tree.links.append(RemoteLink(rel, target))
        else:
            tree.skipped.append(f"{rel}: a link without a target")

    def read(self, rel: str, offset: int) -> Iterator[bytes]:
        try:
            f = self.sftp.open(self._full(rel), "rb")
        except PermissionError:
            raise
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransientError(str(exc)) from None
        try:
            f.seek(offset)
            size = f.stat().st_size or 0
            f.prefetch(size)  # pipelined reads from the current offset: full link speed
            while True:
                try:
                    data = f.read(CHUNK)
                except (OSError, paramiko.SSHException, EOFError) as exc:
                    raise TransientError(str(exc)) from None
                if not data:
                    return
                yield data
        finally:
            with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
                f.close()

    def close(self) -> None:
        self.client.close()
