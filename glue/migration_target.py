"""The migrator's Target on a real server: ssh as root, then systemd-run into the account's
slice as the account (glue.remote.in_bubble). The migrator gets it injected and never
imports glue."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from glue.remote import in_bubble
from migrator.target import Target


@dataclass
class SshTarget(Target):
    """systemd-run expands $VAR in its command line in service mode, so commands must not
    contain '$': scripts and data always travel on stdin. Killing ssh does not stop the remote
    command, hence RuntimeMaxSec on every unit."""

    address: str
    account: str
    key_file: str | None = None
    ssh_options: tuple[str, ...] = ()
    runtime_max_sec: int = 6 * 3600
    web_root: str = "www"
    python: str = "python3"
    mariadb_args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.account}@{self.address}"

    def command(self, argv: Sequence[str]) -> list[str]:
        for arg in argv:
            if "$" in arg:
                raise ValueError("a target command must not contain '$' (systemd-run expands it)")
        remote = in_bubble(self.account, argv, self.runtime_max_sec)
        ssh = ["ssh", "-o", "BatchMode=yes", *self.ssh_options]
        if self.key_file:
            ssh += ["-i", self.key_file]
        # ssh hands the remote side one string that a shell splits again: quote every word.
        return [*ssh, f"root@{self.address}", "--", shlex.join(remote)]
