"""TLS contexts for the old host: system CAs, a CA file of its own, or (asked for) no check.

The socket is connected to the address `network.Network.pin` checked, so the context, not the
dialled address, carries the name: the host's name, or `TlsOptions.server_name` when the
certificate carries another (a server reached by its address whose certificate names it).
"""

from __future__ import annotations

import socket
import ssl

from migrator.sources import TlsOptions


class _NamedContext(ssl.SSLContext):
    """Verifies (and sends as SNI) a fixed name, whatever address was dialled."""

    expected_name: str = ""

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=self.expected_name or server_hostname,
            session=session,
        )


def context(tls: TlsOptions, host: str) -> ssl.SSLContext:
    """`host`: the old host's name as the customer gave it (not the address dialled)."""
    ctx = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name
    ctx.expected_name = tls.server_name or host
    if not tls.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif tls.cafile:
        ctx.load_verify_locations(cafile=tls.cafile)
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    return ctx
