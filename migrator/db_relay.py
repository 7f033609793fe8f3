"""One MariaDB client tool's connection to the old host, carried through this process.

The client tools resolve and dial a host by themselves and check a certificate only against
the host they dial, so they cannot be pointed at an address checked beforehand. Instead each
tool talks plaintext to a Unix socket in a private directory (0700) and this relay carries the
connection to the address `Network` checked, doing the TLS itself with the old host's name
(`tlsutil.context`): the tool's SSLRequest is the relay's, so the sequence numbers of the
connection phase move by one until the server's OK or ERR, then bytes pass unchanged.
"""

from __future__ import annotations

import contextlib
import select
import shutil
import socket
import ssl
import tempfile
import threading
from pathlib import Path

from migrator.errors import MigrationError
from migrator.network import Network
from migrator.sources import DbSource
from migrator.tlsutil import context

TIMEOUT = 600.0  # the client tools' own limit
CLIENT_SSL = 0x0800
NO_TLS = "the old host offers no TLS; add ?tls=no to connect unencrypted"
CERT_HINT = "the certificate must name the host; a CA of its own goes in ?cafile=FILE"


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        got = sock.recv(n - len(data))
        if not got:
            raise ConnectionError("the connection closed")
        data += got
    return data


def _read(sock: socket.socket) -> tuple[int, bytes]:
    head = _exactly(sock, 4)
    return head[3], _exactly(sock, int.from_bytes(head[:3], "little"))


def _send(sock: socket.socket, seq: int, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(3, "little") + bytes([seq % 256]) + payload)


def _caps(greeting: bytes) -> int:
    """The server's lower capability flags: after the version, thread id, scramble, filler."""
    at = greeting.index(b"\0", 1) + 1 + 4 + 8 + 1
    return int.from_bytes(greeting[at : at + 2], "little")


def _with_ssl(response: bytes) -> bytes:
    caps = int.from_bytes(response[:4], "little") | CLIENT_SSL
    return caps.to_bytes(4, "little") + response[4:]


def _ready(a: socket.socket, b: socket.socket) -> list[socket.socket]:
    pending: list[socket.socket] = [
        s for s in (a, b) if isinstance(s, ssl.SSLSocket) and s.pending()
    ]
    return pending or select.select([a, b], [], [], TIMEOUT)[0]


class Relay:
    """Listens for exactly one connection of a client tool (`path`), for its lifetime."""

    def __init__(self, src: DbSource, network: Network) -> None:
        self.src, self.network = src, network
        self.failure: MigrationError | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="bubble-db-"))
        self.path = str(self._dir / "s")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(1)
        self._thread = threading.Thread(target=self._serve, daemon=True, name="db-relay")
        self._thread.start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(30)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _fail(self, step: str, detail: str) -> None:
        self.failure = MigrationError(self.src.label, step, detail)

    def _serve(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return  # closed: the tool never connected
        with client:
            try:
                upstream = self.network.connect(self.src.host, self.src.port, TIMEOUT)
            except OSError as exc:
                self._fail("connect", str(exc) or type(exc).__name__)
                return
            try:
                if self.src.tls is not None:
                    upstream = self._tls(client, upstream)
                self._pump(client, upstream)
            except ssl.SSLCertVerificationError as exc:
                why = exc.verify_message or str(exc)
                self._fail("TLS", f"Validation of SSL server certificate failed: {why} "
                                  f"({CERT_HINT})")  # fmt: skip
            except ssl.SSLError as exc:
                self._fail("TLS", str(exc))
            except (OSError, ValueError):
                pass  # a broken connection or an idle one: the tool says so itself
            finally:
                upstream.close()

    def _tls(self, client: socket.socket, upstream: socket.socket) -> socket.socket:
        """The connection phase, TLS upstream; the pump's socket after the server's OK."""
        assert self.src.tls is not None
        seq, greeting = _read(upstream)
        if greeting[:1] == b"\xff":  # refused before the handshake: the tool shows why
            _send(client, seq, greeting)
            raise ConnectionError("refused")
        if not _caps(greeting) & CLIENT_SSL:
            self._fail("TLS", f"not encrypted: {NO_TLS}")
            raise ConnectionError("no TLS")
        _send(client, seq, greeting)
        seq, response = _read(client)
        _send(upstream, seq, _with_ssl(response)[:32])  # the SSLRequest
        secure = context(self.src.tls, self.src.host).wrap_socket(
            upstream, server_hostname=self.src.host
        )
        _send(secure, seq + 1, _with_ssl(response))
        while True:  # the rest of the connection phase: authentication, sequence moved by one
            (ready,) = _ready(client, secure)[:1]
            if ready is secure:
                seq, packet = _read(secure)
                _send(client, seq - 1, packet)
                if packet[:1] in (b"\x00", b"\xff"):
                    return secure
            else:
                seq, packet = _read(client)
                _send(secure, seq + 1, packet)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        while ready_ones := _ready(client, upstream):
            for ready in ready_ones:
                data = ready.recv(65536)
                if not data:
                    return
                (upstream if ready is client else client).sendall(data)
