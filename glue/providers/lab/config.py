"""Where the lab lives and how its network is laid out (settings from BUBBLE_LAB_*)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LabConfig(BaseSettings):
    """One lab: its state directory, image cache, bridge and subnet.

    The defaults are the lab of docs/interfaces.md; tests may build an isolated one
    (own directory, bridge and subnet) so that tearing it down touches nothing else.
    """

    model_config = SettingsConfigDict(env_prefix="BUBBLE_LAB_", extra="ignore")

    dir: Path = Path("/var/lib/bubblehost/lab")
    cache: Path = Path("/var/cache/bubblehost")
    bridge: str = "bubble0"
    gateway: str = "198.18.0.1/24"

    @field_validator("dir", "cache")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Overlay options and nspawn need absolute paths, whatever the caller's cwd.
        return value.absolute()

    @property
    def gateway_interface(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(self.gateway)

    @property
    def servers_dir(self) -> Path:
        return self.dir / "servers"

    @property
    def locks_dir(self) -> Path:
        return self.dir / "locks"

    @property
    def ssh_dir(self) -> Path:
        return self.dir / "ssh"

    @property
    def ssh_key(self) -> Path:
        """The lab's own private key: always authorised on every lab server."""
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """Host keys of every lab server, written when the keys are generated."""
        return self.ssh_dir / "known_hosts"
