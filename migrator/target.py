"""Where data goes: commands run as the account, inside its bubble, on its server.

Every byte that reaches the account's server goes through the stdin of such a command, so
nothing is staged whole on the machine that runs bubble. The migrator only knows this
interface; how a command reaches the server is injected by the caller: glue's SshTarget
(ssh + systemd-run into the account's slice) for real servers, a local system user in tests.
"""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

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
        """The local argv that runs argv as the account on its server, in its home."""

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
        """Where the local command starts (None: anywhere; the remote side sets the home)."""
        return None
