"""Per-server files, written into the overlay's upper directory before the server boots.

Nothing is mounted on the host: the upper directory is plain files, and overlayfs takes a
directory's mode and owner from the upper layer, so every directory made here copies them
from the image (a 0755 /root would otherwise leak into the server).
"""

from __future__ import annotations

import ipaddress
import os
import uuid
from pathlib import Path

from glue.providers.lab.proc import run


class Layer:
    """The image (lower, read-only) and one server's upper directory."""

    def __init__(self, lower: Path, upper: Path, server: str) -> None:
        self.lower = lower
        self.upper = upper
        self.server = server

    def view(self, rel: str) -> Path:
        """Where rel lives as the server sees it (upper wins, whiteouts aside)."""
        top = self.upper / rel
        return top if top.exists() or top.is_symlink() else self.lower / rel

    def ensure_dir(self, rel: str) -> Path:
        current = Path()
        for part in Path(rel).parts:
            current /= part
            target = self.upper / current
            if target.is_dir():
                continue
            source = self.lower / current
            stat = source.stat() if source.is_dir() else None
            target.mkdir(mode=0o755)
            if stat is not None:
                os.chown(target, stat.st_uid, stat.st_gid)
                target.chmod(stat.st_mode & 0o7777)
        return self.upper / rel

    def write(self, rel: str, text: str, mode: int = 0o644, gid: int = 0) -> None:
        """Atomic write; the rename also replaces a whiteout left by a deletion inside."""
        target = self.ensure_dir(str(Path(rel).parent)) / Path(rel).name
        tmp = target.with_name(f".{target.name}.lab-tmp")
        tmp.write_text(text)
        os.chown(tmp, 0, gid)
        tmp.chmod(mode)
        tmp.replace(target)


def group_id(layer: Layer, group: str) -> int:
    for line in layer.view("etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == group:
            return int(fields[2])
    return 0


def network_file(address: ipaddress.IPv4Interface, gateway: ipaddress.IPv4Address) -> str:
    # Without LinkLocalAddressing=no / IPv6AcceptRA=no, networkd-wait-online never settles.
    return (
        "# Written by the bubblehost lab.\n"
        "[Match]\nName=host0\n\n"
        f"[Network]\nAddress={address}\nGateway={gateway}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )


def hosts_file(name: str) -> str:
    # The own name must resolve locally: otherwise Dovecot waits 20 s on a DNS lookup.
    return f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def write_identity(
    layer: Layer,
    address: ipaddress.IPv4Interface,
    gateway: ipaddress.IPv4Address,
    authorized_keys: list[str],
) -> None:
    """Files that may change between boots: name, address, who may log in."""
    layer.write("etc/hostname", f"{layer.server}\n")
    layer.write("etc/hosts", hosts_file(layer.server))
    layer.write("etc/systemd/network/10-host0.network", network_file(address, gateway))
    layer.write("root/.ssh/authorized_keys", "".join(f"{k}\n" for k in authorized_keys), 0o600)


def write_secrets_once(layer: Layer) -> None:
    """What the image must not share between servers: machine-id, host keys, TLS keys."""
    if not layer.view("etc/machine-id").read_text().strip():
        layer.write("etc/machine-id", f"{uuid.uuid4().hex}\n", 0o444)
    if not (layer.upper / "etc/ssh/ssh_host_ed25519_key").exists():
        layer.ensure_dir("etc/ssh")
        run(["ssh-keygen", "-A", "-f", str(layer.upper)], step="ssh host keys", server=layer.server)
    marker = "etc/bubblehost-lab-tls"
    if (layer.upper / marker).exists():
        return
    certs = layer.ensure_dir("etc/ssl/certs")
    private = layer.ensure_dir("etc/ssl/private")
    key = private / "ssl-cert-snakeoil.key"
    cert = certs / "ssl-cert-snakeoil.pem"
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            f"/CN={layer.server}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        step="TLS snakeoil key",
        server=layer.server,
    )
    # Keep the image's owner and mode of the key (its group may be ssl-cert or mysql).
    shipped = layer.lower / "etc/ssl/private/ssl-cert-snakeoil.key"
    stat = shipped.stat() if shipped.exists() else None
    os.chown(key, 0, stat.st_gid if stat else group_id(layer, "ssl-cert"))
    key.chmod(stat.st_mode & 0o777 if stat else 0o640)
    cert.chmod(0o644)
    # Dovecot's own pair, where the image holds real files rather than links to snakeoil.
    for rel, source in (
        ("etc/dovecot/private/dovecot.pem", cert),
        ("etc/dovecot/private/dovecot.key", key),
    ):
        seen = layer.view(rel)
        if seen.exists() and not seen.is_symlink():
            mode = 0o600 if rel.endswith(".key") else 0o644
            layer.write(rel, source.read_text(), mode)
    layer.write(marker, "snakeoil and dovecot keys regenerated for this server\n")


def host_key_lines(layer: Layer, address: str) -> list[str]:
    """known_hosts lines for this server's freshly generated host keys."""
    lines = []
    for pub in sorted((layer.upper / "etc/ssh").glob("ssh_host_*_key.pub")):
        keytype, key = pub.read_text().split()[:2]
        lines.append(f"{address} {keytype} {key}")
    return lines
