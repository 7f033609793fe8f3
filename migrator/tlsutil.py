"""TLS contexts for the old host: system CAs, a CA file of its own, or (asked for) no check."""

from __future__ import annotations

import ssl

from migrator.sources import TlsOptions


def context(tls: TlsOptions) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls.cafile)
    if not tls.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
