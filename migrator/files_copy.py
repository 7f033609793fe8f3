"""Files part, end to end: list the source, copy what differs into the account, verify."""

from __future__ import annotations

from migrator.errors import MigrationError
from migrator.files import Connector, FileSession, FilesResult, Progress, RemoteTree
from migrator.files import copy_tree as _copy_tree
from migrator.files import verify as _verify
from migrator.files_ftp import FtpSession
from migrator.files_sftp import SftpSession
from migrator.network import OPEN, Network
from migrator.sink import Sink, SinkError
from migrator.sources import FilesSource
from migrator.target import Target


def connector(src: FilesSource, password: str, network: Network = OPEN) -> Connector:
    def connect() -> FileSession:
        if src.scheme == "sftp":
            return SftpSession(src, password, network)
        return FtpSession(src, password, network)

    return connect


def scan(src: FilesSource, password: str, network: Network = OPEN) -> RemoteTree:
    session = connector(src, password, network)()
    try:
        return session.walk()
    finally:
        session.close()


def copy_files(
    src: FilesSource,
    password: str,
    target: Target,
    tree: RemoteTree | None = None,
    progress: Progress | None = None,
    network: Network = OPEN,
) -> FilesResult:
    connect = connector(src, password, network)
    if tree is None:
        tree = scan(src, password, network)
    with Sink(target) as sink:
        result = _copy_tree(src.label, connect, sink, tree, src.connections, progress)
        try:
            _verify(tree, sink.listing(), result)
            if result.verified:
                sink.cleanup()  # staged partial files of changed sources are no use any more
        except SinkError as exc:
            raise MigrationError(src.label, "verify files", str(exc)) from None
    return result
