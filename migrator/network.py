"""How the migrator reaches an old host: the name resolved once, every address it has checked
against the caller's policy, then the socket connected to that checked address (never to the
name again) and its peer checked once more. TLS keeps the name (`tlsutil.context`).

The panel's policy refuses loopback and private addresses: a customer's DNS that answers a
public address at the form's check and 127.0.0.1 at connect (rebinding) meets the policy at
connect too. `resolve` is the seam tests inject; production uses the system resolver."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from migrator.errors import MigratorError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], list[str]]
Refuse = Callable[[str, Address], str | None]  # (host, address) -> why not, or None


class RefusedAddress(MigratorError, OSError):
    """The old host's name has an address the policy refuses; the message is one line. An
    OSError too: each transport reports it as it reports any other failure to connect."""


def system_resolve(host: str, port: int) -> list[str]:
    """The name's addresses, in the system resolver's order (an address is itself)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in found))


def public_only(host: str, address: Address) -> str | None:
    """The panel's policy: the internet only, never this machine or its private networks."""
    if address.is_global and not address.is_multicast:
        return None
    return f"{host}: not a public address ({address}): give the old host's"


@dataclass(frozen=True)
class Network:
    resolve: Resolve = system_resolve
    refuse: Refuse | None = None  # None: any address (the operator's own `bubble migrate`)

    def _check(self, host: str, text: str) -> str:
        if self.refuse is not None and (why := self.refuse(host, ipaddress.ip_address(text))):
            raise RefusedAddress(why)
        return text

    def pin(self, host: str, port: int) -> str:
        """The one address to dial: the name's first, after every one of them is checked."""
        try:
            found = self.resolve(host, port)
        except OSError:
            raise RefusedAddress(f"{host}: no such host") from None
        if not found:
            raise RefusedAddress(f"{host}: no such host")
        checked = [self._check(host, a) for a in found]
        return checked[0]

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP socket to the checked address, its peer checked again."""
        sock = socket.create_connection((self.pin(host, port), port), timeout=timeout)
        try:
            self.peer(host, sock)
        except RefusedAddress:
            sock.close()
            raise
        return sock

    def peer(self, host: str, sock: socket.socket) -> None:
        """The address a socket is really connected to, checked (data connections too)."""
        self._check(host, str(sock.getpeername()[0]).split("%", 1)[0])


OPEN = Network()
