"""TLS contexts for the old host: system CAs, a CA file of its own, or (asked for) no check.

`TlsOptions.server_name` checks the certificate against a name other than the host that is
dialled (a server reached by its address whose certificate carries its host name).
"""

from __future__ import annotations

import socket
import ssl

from migrator.sources import TlsOptions


class _NamedContext(ssl.SSLContext):
    """Verifies the peer's certificate against a fixed name, whatever address was dialled."""

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


def context(tls: TlsOptions) -> ssl.SSLContext:
    if tls.server_name and tls.verify:
        named = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name
        named.expected_name = tls.server_name
        if tls.cafile:
            named.load_verify_locations(cafile=tls.cafile)
        else:
            named.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return named
    ctx = ssl.create_default_context(cafile=tls.cafile)
    if not tls.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
