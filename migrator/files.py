"""Copy a file tree from the old host into the account's web root, resumably.

Sources (FTP, FTPS, SFTP) only have to list a tree and stream a file from an offset; this
module decides what to copy (size + mtime), runs several connections at once into one
receiver, resumes partial files and verifies the result.
"""

from __future__ import annotations

import posixpath
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from migrator.errors import MigrationError, MigratorError
from migrator.sink import Sink, SinkError, TargetListing, part_name

CHUNK = 256 * 1024
RETRIES = 5


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the source root, '/'-separated
    size: int
    mtime: int  # seconds since the epoch, UTC


@dataclass(frozen=True)
class RemoteLink:
    path: str  # relative to the source root
    target: str  # as the old host stores it: relative or absolute


@dataclass
class RemoteTree:
    files: list[RemoteFile] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    links: list[RemoteLink] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: why not copied", reported
    # The source root as absolute targets name it (SFTP); None where unknown (FTP chroots).
    root: str | None = None

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def shown(raw: bytes) -> str:
    """A name from the old host as the report can show it: bad bytes and controls escaped."""
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class TransientError(MigratorError):
    """The connection broke: reconnect and resume from where the bytes stopped."""


class FileSession(Protocol):
    def walk(self) -> RemoteTree: ...

    def read(self, rel: str, offset: int) -> Iterator[bytes]:
        """Chunks of the file from offset; raises TransientError when the link drops."""
        ...

    def close(self) -> None: ...


Connector = Callable[[], FileSession]


@dataclass
class FilesResult:
    files: int = 0
    bytes_total: int = 0
    copied: int = 0
    copied_bytes: int = 0
    resumed: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    not_copied: list[str] = field(default_factory=list)  # links, loops, bad names: with why
    links: int = 0  # links recreated or already there
    # "path: why (-> target)": links not recreated, as they lead out of the copied tree.
    outside_links: list[str] = field(default_factory=list)
    verified: bool = False
    mismatches: list[str] = field(default_factory=list)


class Progress(Protocol):
    def advance(self, nbytes: int) -> None: ...


def plan(tree: RemoteTree, listing: TargetListing) -> tuple[list[tuple[RemoteFile, int]], int]:
    """(file, resume offset) for every file that differs from the target; and how many match."""
    todo: list[tuple[RemoteFile, int]] = []
    same = 0
    for f in tree.files:
        if listing.files.get(f.path) == (f.size, f.mtime):
            same += 1
            continue
        offset = listing.parts.get(part_name(f.path, f.size, f.mtime), 0)
        todo.append((f, offset if offset <= f.size else 0))
    return todo, same


def link_target(link: RemoteLink, root: str | None) -> str | None:
    """The relative target to recreate, or None when the link leads out of the copied tree.

    Lexical only: the receiver checks again where the link really resolves on the target."""
    target = link.target
    if target.startswith("/"):
        if root is None or not (target + "/").startswith(root.rstrip("/") + "/"):
            return None
        within = posixpath.relpath(target, root.rstrip("/") or "/")
        target = posixpath.relpath(within, posixpath.dirname(link.path) or ".")
    where = posixpath.normpath(posixpath.join(posixpath.dirname(link.path), target))
    if not target or where == ".." or where.startswith("../"):
        return None
    return target


def copy_links(sink: Sink, tree: RemoteTree, listing: TargetListing, result: FilesResult) -> None:
    """After every file: links are never written through, nor followed while writing."""
    for link in tree.links:
        target = link_target(link, tree.root)
        if target is None:
            why = "a link pointing outside the tree"
            result.outside_links.append(f"{link.path}: {why} (-> {link.target})")
            continue
        if listing.links.get(link.path) != target:
            try:
                sink.link(link.path, target)
            except SinkError as exc:
                result.outside_links.append(f"{link.path}: link not made, {exc} (-> {link.target})")
                continue
        result.links += 1


def copy_tree(
    label: str,
    connect: Connector,
    sink: Sink,
    tree: RemoteTree,
    connections: int,
    progress: Progress | None = None,
) -> FilesResult:
    result = FilesResult(files=len(tree.files), bytes_total=tree.total_bytes)
    result.not_copied = list(tree.skipped)
    try:
        listing = sink.listing()
        todo, result.skipped = plan(tree, listing)
        for d in tree.dirs:
            if d not in listing.dirs:
                sink.mkdir(d)
    except SinkError as exc:
        raise MigrationError(label, "write to the account", str(exc)) from None
    if progress:
        progress.advance(sum(f.size for f in tree.files) - sum(f.size - o for f, o in todo))
    work: queue.Queue[tuple[int, RemoteFile, int]] = queue.Queue()
    for i, (f, offset) in enumerate(todo):
        work.put((i, f, offset))
    lock = threading.Lock()
    fatal: list[MigrationError] = []

    def worker() -> None:
        session: FileSession | None = None
        finishing: list[tuple[str, Future[dict[str, Any]]]] = []
        try:
            while not fatal:
                try:
                    handle, f, offset = work.get_nowait()
                except queue.Empty:
                    break
                done, session = _copy_one(
                    label, connect, session, sink, handle, f, offset, progress
                )
                with lock:
                    if done is None:
                        result.failed.append(f.path)
                    else:
                        finishing.append((f.path, done[1]))
                        result.copied += 1
                        result.copied_bytes += done[0]
                        result.resumed += 1 if offset else 0
            for path, fut in finishing:
                try:
                    sink.settled(fut)
                except SinkError as exc:
                    raise MigrationError(label, f"write {path} to the account", str(exc)) from None
        except MigrationError as exc:
            fatal.append(exc)
        finally:
            if session:
                session.close()

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(connections, len(todo))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if fatal:
        raise fatal[0]
    try:
        if todo:
            sink.sync()
        copy_links(sink, tree, listing, result)
    except SinkError as exc:
        raise MigrationError(label, "write to the account", str(exc)) from None
    result.not_copied += result.outside_links  # the runner makes each one a warning
    return result


def _copy_one(
    label: str,
    connect: Connector,
    session: FileSession | None,
    sink: Sink,
    handle: int,
    f: RemoteFile,
    offset: int,
    progress: Progress | None,
) -> tuple[tuple[int, Future[dict[str, Any]]] | None, FileSession | None]:
    """Stream one file; returns ((bytes copied, the receiver's pending answer) or None if the
    source refused it, session)."""
    part = part_name(f.path, f.size, f.mtime)
    pos = offset
    attempt = 0
    while True:
        try:
            if session is None:
                session = connect()
            sink.open(handle, part, pos)
            for chunk in session.read(f.path, pos):
                sink.write(handle, chunk)
                pos += len(chunk)
                if progress:
                    progress.advance(len(chunk))
            if pos != f.size:
                raise TransientError(f"{f.path}: got {pos} of {f.size} bytes")
            return (pos - offset, sink.finish(handle, part, f.path, f.size, f.mtime)), session
        except TransientError as exc:
            sink.abort(handle)
            if session:
                session.close()
            session = None
            attempt += 1
            if attempt > RETRIES:
                raise MigrationError(label, f"download {f.path}", str(exc)) from None
        except PermissionError:
            # The source refused this one file (5xx): report it, go on with the rest.
            sink.abort(handle)
            return None, session
        except SinkError as exc:
            raise MigrationError(label, f"write {f.path} to the account", str(exc)) from None


def verify(tree: RemoteTree, listing: TargetListing, result: FilesResult) -> None:
    failed = set(result.failed)
    for f in tree.files:
        if f.path in failed:
            continue
        got = listing.files.get(f.path)
        if got != (f.size, f.mtime):
            result.mismatches.append(f"{f.path}: source {(f.size, f.mtime)}, account {got}")
    refused = {line.split(": ", 1)[0] for line in result.outside_links}
    for link in tree.links:
        want = link_target(link, tree.root)
        if link.path not in refused and want and listing.links.get(link.path) != want:
            got_link = listing.links.get(link.path)
            result.mismatches.append(f"{link.path}: link to {want}, account {got_link}")
    result.verified = not result.mismatches and not result.failed
