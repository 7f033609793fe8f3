"""The control plane's borg: init a repository, export its key, list, prune, check.

Runs on the control machine with the control key (not append-only) over ssh to the backup
server's `borg serve`; the passphrase reaches borg through BORG_PASSCOMMAND reading its 0600
file, never a command line or the environment of anything else."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue.backup.agent import ARCHIVE_RE
from glue.errors import BubbleError
from glue.models import Retention
from glue.paths import private_dir, private_file


class BorgError(BubbleError):
    """borg failed; the message names the repository, the step and borg's own last line."""


@dataclass(frozen=True)
class Repository:
    url: str  # ssh://USER@HOST[:PORT]/PATH
    passphrase_file: Path
    ssh: list[str]  # the ssh command line borg runs (key, known_hosts, options)
    cache: Path  # borg's own files (cache, security) for this control plane

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BORG_")}
        env.update(
            BORG_REPO=self.url,
            BORG_PASSCOMMAND=f"cat {shlex.quote(str(self.passphrase_file))}",
            BORG_RSH=shlex.join(self.ssh),
            BORG_BASE_DIR=str(private_dir(self.cache)),
            BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
            BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no",
            BORG_CHECK_I_KNOW_WHAT_I_AM_DOING="NO",
            BORG_DELETE_I_KNOW_WHAT_I_AM_DOING="NO",
            TZ="UTC",  # borg prints times in its local zone: UTC is what callers read
        )
        return env

    def run(self, *args: str, step: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["borg", *args], env=self._env(), capture_output=True, text=True,
            stdin=subprocess.DEVNULL, check=False, cwd=cwd,
        )  # fmt: skip
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit {done.returncode}"
            raise BorgError(f"borg {step} of {self.url}: {why}")
        return done.stdout

    def exists(self) -> bool:
        try:
            self.names()
        except BorgError as exc:
            if "does not exist" in str(exc) or "is not a valid repository" in str(exc):
                return False
            raise
        return True

    def init(self, repokey: Path) -> bool:
        """Create the repository (repokey-blake2) unless it exists; export its key to
        `repokey` (0600) either way. True when it was created now."""
        created = not self.exists()
        if created:
            self.run("init", "--encryption=repokey-blake2", "--make-parent-dirs", step="init")
        private_file(repokey)
        self.run("key", "export", "::", str(repokey), step="key export")
        private_file(repokey)
        return created

    def archives(self, account: str | None = None) -> list[dict[str, Any]]:
        """The archives (of one account), oldest first: name, account, time, size, what it
        holds (files, databases, mailboxes, where its mailbox logins are: the comment the agent
        wrote)."""
        # A selector always: `borg info REPO` alone describes the repository, no archive.
        args = ["info", "--json", "--glob-archives", f"{account}-*" if account else "*"]
        data = json.loads(self.run(*args, "::", step="info"))
        rows = []
        for archive in data.get("archives", []):
            matched = ARCHIVE_RE.fullmatch(archive["name"])
            if matched is None:
                continue  # not ours: nothing to show nor prune
            holds = json.loads(archive.get("comment") or "{}")
            rows.append({
                "archive": archive["name"],
                "account": matched.group(1),
                "time": archive["start"],
                "size": archive["stats"]["original_size"],
                "stored": archive["stats"]["deduplicated_size"],
                "files": holds.get("files"),
                "databases": holds.get("databases", []),
                "mailboxes": holds.get("mailboxes", []),
                "mail_logins": holds.get("mail_logins"),
            })  # fmt: skip
        return sorted(rows, key=lambda row: (row["time"], row["archive"]))

    def prune(self, account: str, keep: Retention, seen: Collection[str]) -> list[str]:
        """Apply the retention to one account's archives, then free the space; the names
        of the archives deleted.

        `seen`: the account's archives the control plane listed before. A web server's key
        is append-only, but a "delete" through it still hides an archive until the
        repository is rolled back; compacting would make that final. So an archive seen
        before and gone now stops the prune (the operator rolls back first)."""
        before = self.names(account)
        gone = sorted(set(seen) - set(before))
        if gone:
            raise BorgError(
                f"{self.url}: archives deleted by someone other than the control plane: "
                f"{', '.join(gone)}; nothing pruned (roll the repository back first: borg "
                "docs, append-only mode)"
            )
        self.run(
            "prune", "--glob-archives", f"{account}-*", f"--keep-daily={keep.daily}",
            f"--keep-weekly={keep.weekly}", f"--keep-monthly={keep.monthly}", "::",
            step=f"prune of {account}",
        )  # fmt: skip
        self.run("compact", "::", step="compact")
        return sorted(set(before) - set(self.names(account)))

    def names(self, account: str | None = None) -> list[str]:
        args = ["list", "--json"] + (["--glob-archives", f"{account}-*"] if account else [])
        data = json.loads(self.run(*args, "::", step="list"))
        return [archive["name"] for archive in data.get("archives", [])]

    def check(self) -> None:
        self.run("check", "::", step="check")

    def extract(self, archive: str, patterns: list[str], into: Path) -> None:
        """Those paths of `archive` under `into` (links stay links, as borg stored them).
        A tenant's sparse file stays sparse (a 1 TiB one would fill this disk), and its owners
        stay numbers: no name of the tenant's server maps onto a user of this machine."""
        self.run("extract", "--sparse", "--numeric-ids", f"::{archive}", *patterns,
                 step=f"extract of {archive}", cwd=into)  # fmt: skip

    def delete(self, archive: str) -> None:
        self.run("delete", f"::{archive}", step=f"delete of {archive}")
