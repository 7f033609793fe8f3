"""Where notices go: e-mail over SMTP (STARTTLS, login) and Slack-compatible webhooks (Slack,
Mattermost and Rocket.Chat take the same `{"text": ...}`), plus the owner's e-mail for an
account's own alerts. Secrets (the SMTP password, webhook URLs: they carry tokens) come from
the environment or the state directory (0600), never from the catalog, and never appear in a
message, a log line or an error.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from glue.errors import BubbleError
from glue.models import Account
from glue.monitor.evaluate import Alert, Notice
from glue.monitor.rules import AlertsConfig, Smtp
from glue.paths import private_dir, state_dir
from glue.yamlio import atomic_write

TIMEOUT_S = 10.0
SMTP_PASSWORD_ENV = "BUBBLE_SMTP_PASSWORD"  # noqa: S105 (the name of the variable)


def secrets_dir(root: Path) -> Path:
    return private_dir(state_dir(root) / "alerts")


def _webhook_env(name: str) -> str:
    return "BUBBLE_ALERT_WEBHOOK_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def store_secret(root: Path, file: str, value: str) -> Path:
    """A secret in state/alerts/FILE, 0600 (atomic_write's mode)."""
    path = secrets_dir(root) / file
    atomic_write(path, value.strip() + "\n")
    return path


def _secret(root: Path, env: str, file: str) -> str | None:
    given = os.environ.get(env, "").strip()
    if given:
        return given
    path = state_dir(root) / "alerts" / file
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def webhook_url(root: Path, name: str) -> str | None:
    return _secret(root, _webhook_env(name), f"webhook-{name}")


def smtp_password(root: Path) -> str | None:
    return _secret(root, SMTP_PASSWORD_ENV, "smtp-password")


def check_webhook(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url.strip()):
        raise BubbleError("--webhook: an http:// or https:// URL")
    return url.strip()


# ---------------------------------------------------------------------------- messages


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


def _line(alert: Alert, resolved: bool = False) -> str:
    what = "RESOLVED" if resolved else alert.severity.upper()
    who = f" account {alert.account}" if alert.account else ""
    when = f"resolved {_when(alert.resolved_at)}" if resolved else f"since {_when(alert.since)}"
    summary = f": {alert.summary}" if alert.summary else ""
    return f"[{what}] {alert.rule} on {alert.server}{who} ({when}){summary}"


def subject(notice: Notice) -> str:
    rules = sorted({a.rule for a in notice.firing})
    if rules:
        return f"[FIRING:{len(notice.firing)}] {notice.server}: {', '.join(rules)}"
    resolved = sorted({a.rule for a in notice.resolved})
    return f"[RESOLVED] {notice.server}: {', '.join(resolved)}"


def text(notice: Notice) -> str:
    lines = [_line(a) for a in notice.firing] + [_line(a, True) for a in notice.resolved]
    return "\n".join([subject(notice), *lines])


# ---------------------------------------------------------------------------- senders


class ChannelError(BubbleError):
    """A channel did not take a notice (the message names the channel, never its secret)."""


def send_webhook(name: str, url: str, body: str) -> None:
    data = json.dumps({"text": body}).encode()
    request = urllib.request.Request(  # noqa: S310 (checked http(s) URL)
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
            answer.read()
    except urllib.error.HTTPError as exc:
        raise ChannelError(f"channel {name}: the webhook answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        why = type(exc).__name__
        raise ChannelError(f"channel {name}: the webhook did not answer ({why})") from None


def send_mail(root: Path, smtp: Smtp, to: Sequence[str], title: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message["Subject"] = title
    message.set_content(body)
    context = ssl.create_default_context(cafile=smtp.ca_file)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_S) as client:
            if smtp.starttls:
                client.starttls(context=context)
            if smtp.username:
                password = smtp_password(root)
                if password is None:
                    raise ChannelError(
                        f"SMTP login {smtp.username}: no password (set {SMTP_PASSWORD_ENV} or "
                        "`bubble alerts smtp --password-stdin`)"
                    )
                client.login(smtp.username, password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        why = type(exc).__name__
        raise ChannelError(f"SMTP {smtp.host}:{smtp.port}: not sent ({why})") from None


@dataclass
class Delivery:
    sent: list[str]  # the channels (and owners) that took it
    failed: list[str]  # one line each, no secret

    @property
    def delivered(self) -> bool:
        """Taken by at least one channel, or there is none to take it."""
        return bool(self.sent) or not self.failed


def deliver(
    root: Path, config: AlertsConfig, notice: Notice, accounts: Mapping[str, Account]
) -> Delivery:
    """Send `notice` to every channel, and each affected account's owner its own part."""
    result = Delivery([], [])
    body = text(notice)
    for name, channel in sorted(config.channels.items()):
        try:
            if channel.webhook:
                url = webhook_url(root, name)
                if url is None:
                    raise ChannelError(f"channel {name}: no webhook URL ({_webhook_env(name)})")
                send_webhook(name, url, body)
            elif channel.email:
                if config.smtp is None:
                    raise ChannelError(f"channel {name}: no SMTP server (`bubble alerts smtp`)")
                send_mail(root, config.smtp, [channel.email], subject(notice), body)
            result.sent.append(name)
        except ChannelError as exc:
            result.failed.append(str(exc))
    if config.smtp is None:
        return result
    for name in notice.accounts:
        account = accounts.get(name)
        if account is None or not account.email:
            continue
        own = Notice(
            notice.server,
            tuple(a for a in notice.firing if a.account == name),
            tuple(a for a in notice.resolved if a.account == name),
        )
        lines = [_line(a) for a in own.firing] + [_line(a, True) for a in own.resolved]
        title = f"Your hosting account {name}: " + ", ".join(
            sorted({a.rule for a in (*own.firing, *own.resolved)})
        )
        try:
            send_mail(root, config.smtp, [account.email], title, "\n".join(lines))
            result.sent.append(f"owner of {name}")
        except ChannelError as exc:
            result.failed.append(f"owner of {name}: {exc}")
    return result
