"""Where passwords come from: a password file, the environment, or a prompt. Never a URL.

Password file: one `KEY=password` per line (# comments), KEY being `files`, `db`, `db:DBNAME`,
`mail`, `mail:USER@HOST`, `mailbox` or `mailbox:ADDRESS`; the specific key wins. Environment:
BUBBLE_MIGRATE_{FILES,DB,MAIL,MAILBOX}_PASSWORD.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from migrator.runner import Plan, Secrets

ENV = {
    "files": "BUBBLE_MIGRATE_FILES_PASSWORD",
    "db": "BUBBLE_MIGRATE_DB_PASSWORD",
    "mail": "BUBBLE_MIGRATE_MAIL_PASSWORD",
    "mailbox": "BUBBLE_MIGRATE_MAILBOX_PASSWORD",
}


class SecretsError(ValueError):
    """A password is missing or the password file is unreadable; one line."""


def read_password_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretsError(f"{path}: {exc.strerror}") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip().split(":")[0] not in ENV:
            # The line may hold a password: name the line, never show it.
            raise SecretsError(f"{path}:{n}: expected KEY=password with KEY one of {list(ENV)}")
        out[key.strip()] = value
    return out


def resolve(
    plan: Plan,
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
