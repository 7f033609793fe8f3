"""Where data goes: commands run as the account, inside its bubble, on its server.

Every byte that reaches the account's server goes through the stdin of such a command, so
nothing is staged whole on the machine that runs bubble. Two implementations speak the same
protocol: over ssh with systemd-run (real servers), and locally as a system user (tests).
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from glue.remote import in_bubble

PIPE = subprocess.PIPE


@dataclass(frozen=True)
class TargetResult:
    returncode: int
    stdout: bytes
    stderr: bytes

    def error_line(self) -> str:
        text = self.stderr.decode("utf-8", "replace").strip() or f"exit code {self.returncode}"
        return " ".join(text.splitlines()[-1:]) if text else text


class Target(ABC):
    """The account on its server. Paths given to commands are relative to the account's home."""

    account: str
    web_root: str  # relative to the home directory
    python: str
    mariadb_args: tuple[str, ...]  # extra client options (e.g. a socket path in tests)

    @abstractmethod
    def command(self, argv: Sequence[str]) -> list[str]:
        """The local argv that runs argv as the account on its server."""

    @property
    @abstractmethod
    def label(self) -> str: ...

    def spawn(self, argv: Sequence[str], *, stdin: int | None = PIPE) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command(argv), stdin=stdin, stdout=PIPE, stderr=PIPE, cwd=self._cwd()
        )

    def run(self, argv: Sequence[str], data: bytes = b"", timeout: float = 600) -> TargetResult:
        proc = subprocess.run(
            self.command(argv),
            input=data,
            capture_output=True,
            timeout=timeout,
            check=False,
            cwd=self._cwd(),
        )
        return TargetResult(proc.returncode, proc.stdout, proc.stderr)

    def _cwd(self) -> str | None:
        return None


@dataclass
class SshTarget(Target):
    """A real server: ssh as root, then systemd-run into the account's slice as the account.

    systemd-run expands $VAR in its command line in service mode, so commands must not contain
    '$': scripts and data always travel on stdin. Killing ssh does not stop the remote command,
    hence RuntimeMaxSec on every unit.
    """

    address: str
    account: str
    key_file: str | None = None
    ssh_options: tuple[str, ...] = ()
    runtime_max_sec: int = 6 * 3600
    web_root: str = "www"
    python: str = "python3"
    mariadb_args: tuple[str, ...] = ()
    ssh_binary: str = "ssh"

    @property
    def label(self) -> str:
        return f"{self.account}@{self.address}"

    def command(self, argv: Sequence[str]) -> list[str]:
        for arg in argv:
            if "$" in arg:
                raise ValueError("a target command must not contain '$' (systemd-run expands it)")
        remote = in_bubble(self.account, argv, self.runtime_max_sec)
        ssh = [self.ssh_binary, "-o", "BatchMode=yes", *self.ssh_options]
        if self.key_file:
            ssh += ["-i", self.key_file]
        # ssh hands the remote side one string that a shell splits again: quote every word.
        return [*ssh, f"root@{self.address}", "--", shlex.join(remote)]


@dataclass
class LocalTarget(Target):
    """The same protocol on this machine: commands run as a local system user in a directory.

    Used by integration tests and benchmarks; the account is a real unprivileged user, so
    permissions, sockets and unix_socket logins behave as on a server.
    """

    account: str
    home: Path
    runtime_max_sec: int = 6 * 3600
    web_root: str = "www"
    python: str = "/usr/bin/python3"
    mariadb_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)

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
