"""The migrator's Target on this machine: commands run as a local system user in a directory.

Integration tests and benchmarks use it in place of glue's SshTarget; the account is a real
unprivileged user, so permissions, sockets and unix_socket logins behave as on a server.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from migrator.target import Target


@dataclass
class LocalTarget(Target):
    account: str
    home: Path
    runtime_max_sec: int = 6 * 3600
    web_root: str = "www"
    python: str = "/usr/bin/python3"
    mariadb_args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.account}@local:{self.home}"

    def command(self, argv: Sequence[str]) -> list[str]:
        pw = pwd.getpwnam(self.account)
        prefix: list[str] = []
        if os.geteuid() != pw.pw_uid:
            prefix = [
                "setpriv",
                f"--reuid={pw.pw_uid}",
                f"--regid={pw.pw_gid}",
                "--init-groups",
                "--reset-env",
                "--",
            ]
        return [*prefix, "timeout", str(self.runtime_max_sec), *argv]

    def _cwd(self) -> str | None:
        return str(self.home)
