"""Where passwords come from: a password file, the environment, or a prompt. Never a URL.

Password file: one `KEY=password` per line (# comments), KEY being `files`, `db`, `db:DBNAME`,
`mail`, `mail:USER@HOST`, `mailbox` or `mailbox:ADDRESS`; the specific key wins. Environment:
BUBBLE_MIGRATE_{FILES,DB,MAIL,MAILBOX}_PASSWORD.

Stdlib only: `bubble account mailbox|ftp-password` read their password file through
read_secret_file too, without loading the migrator's clients.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from migrator.errors import MigratorError

if TYPE_CHECKING:
    from migrator.runner import MigrationPlan

ENV = {
    "files": "BUBBLE_MIGRATE_FILES_PASSWORD",
    "db": "BUBBLE_MIGRATE_DB_PASSWORD",
    "mail": "BUBBLE_MIGRATE_MAIL_PASSWORD",
    "mailbox": "BUBBLE_MIGRATE_MAILBOX_PASSWORD",
}


class SecretsError(MigratorError):
    """A password is missing or the password file is unusable; one line."""


@dataclass
class Secrets:
    """Passwords by part label (and the account's mailboxes by address). Never persisted."""

    by_label: dict[str, str] = field(default_factory=dict)
    mailboxes: dict[str, str] = field(default_factory=dict)


def read_secret_file(path: Path) -> str:
    """The text of a password file; refused when group or others may access it.

    The mode is checked on the opened file (no race with a chmod or a swapped link). Pipes
    pass (`--password-file <(pass show x)` gives one that only its owner can open)."""
    what = f"password file {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretsError(f"{what}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SecretsError(f"{what}: is a directory")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise SecretsError(f"{what}: not a regular file")
        if mode & 0o077:
            raise SecretsError(
                f"{what}: group or others may access it (mode {stat.S_IMODE(mode):04o}); "
                f"chmod 600 {path}"
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
    except OSError as exc:
        raise SecretsError(f"{what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsError(f"{what}: not UTF-8 text") from None
    if not text.strip():
        raise SecretsError(f"{what}: is empty")
    return text


def read_password_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate(read_secret_file(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip().split(":")[0] not in ENV:
            # The line may hold a password: name the line, never show it.
            raise SecretsError(
                f"password file {path}:{n}: expected KEY=password with KEY one of {list(ENV)}"
            )
        out[key.strip()] = value
    return out


def resolve(
    plan: MigrationPlan,
    file_values: Mapping[str, str],
    env: Mapping[str, str],
    prompt: Callable[[str], str] | None,
) -> Secrets:
    def get(kind: str, name: str, what: str) -> str:
        for value in (file_values.get(f"{kind}:{name}"), file_values.get(kind), env.get(ENV[kind])):
            if value is not None:
                return value
        if prompt is None:
            raise SecretsError(
                f"no password for {what}: use --password-file ({kind}= or {kind}:{name}=) "
                f"or set {ENV[kind]}"
            )
        return prompt(f"Password for {what}")

    secrets = Secrets()
    if plan.files:
        secrets.by_label[plan.files.label] = get("files", plan.files.host, plan.files.label)
    for db in plan.databases:
        secrets.by_label[db.label] = get("db", db.database, db.label)
    for job in plan.mail:
        src = job.source
        secrets.by_label[job.label] = get("mail", f"{src.user}@{src.host}", src.label)
        if job.mailbox not in secrets.mailboxes:
            secrets.mailboxes[job.mailbox] = get(
                "mailbox", job.mailbox, f"the account's mailbox {job.mailbox}"
            )
    return secrets
