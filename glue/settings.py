"""Settings from the environment (`BUBBLE_` prefix); command-line options override them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from glue.errors import BubbleError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUBBLE_", extra="ignore")

    root: Path = Path()
    # SQLite under the root when unset; e.g. postgresql://bubble@db.internal/bubble for a team.
    database_url: str | None = None
    lab_dir: Path = Path("/var/lib/bubblehost/lab")
    lab_cache: Path = Path("/var/cache/bubblehost")
    # InfluxDB (v1 API: 1.x, or 2.x/3.x through their v1 compatibility endpoints).
    # basic = a 1.x user and password; token = a 2.x/3.x API token (`Authorization: Token`).
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "bubblehost"
    influx_auth: Literal["none", "basic", "token"] = "none"
    influx_username: str = ""
    influx_password: SecretStr = SecretStr("")
    influx_token: SecretStr = SecretStr("")
    # Read when influx_password is empty: the secret stays off command lines and out of
    # the environment (`bubble lab up` prints the lab's file).
    influx_password_file: Path | None = None
    # The usage agents' own credentials, so that a server never holds the control plane's:
    # a 1.x user with WRITE on the database alone (its password in a file), or a write-only
    # 2.x/3.x token. Unset: the agents get the control plane's.
    influx_agent_username: str = ""
    influx_agent_password_file: Path | None = None
    influx_agent_token: SecretStr = SecretStr("")
    # Wallet top-ups (glue.services.topups): shown to a customer asking for a bank transfer
    # (the operator's account), and each payment provider's webhook secret by provider name
    # (BUBBLE_PAYMENT_WEBHOOKS='{"acme": "..."}': from the environment, never from git).
    # The monitor reads the backup repositories (one `borg info` each) this often, in seconds.
    monitor_backup_refresh_s: float = Field(900, gt=0)
    bank_transfer_to: str = ""
    payment_webhooks: dict[str, SecretStr] = {}

    def influx_secret(self) -> str:
        """The basic-auth password: influx_password, else the first line of the file."""
        given = self.influx_password.get_secret_value()
        if given or self.influx_password_file is None:
            return given
        return _secret_file("BUBBLE_INFLUX_PASSWORD_FILE", self.influx_password_file)

    def influx_environment(self) -> dict[str, str]:
        """BUBBLE_INFLUX_* for a child process (ansible-playbook: the usage_agent role reads
        them), the password resolved: the environment, never argv, inventory or git."""
        return {
            "BUBBLE_INFLUX_URL": self.influx_url,
            "BUBBLE_INFLUX_DATABASE": self.influx_database,
            "BUBBLE_INFLUX_AUTH": self.influx_auth,
            "BUBBLE_INFLUX_USERNAME": self.influx_username,
            "BUBBLE_INFLUX_PASSWORD": self.influx_secret(),
            "BUBBLE_INFLUX_TOKEN": self.influx_token.get_secret_value(),
            **self.influx_agent_environment(),
        }

    def influx_agent_environment(self) -> dict[str, str]:
        """BUBBLE_INFLUX_AGENT_*: what the usage_agent role writes into each server's agent.conf
        (the agents' own credentials, else the control plane's)."""
        if not self.influx_agent_username:
            username, password = self.influx_username, self.influx_secret()
        elif self.influx_agent_password_file is None:
            raise BubbleError(
                "BUBBLE_INFLUX_AGENT_USERNAME is set without BUBBLE_INFLUX_AGENT_PASSWORD_FILE"
            )
        else:
            username = self.influx_agent_username
            password = _secret_file(
                "BUBBLE_INFLUX_AGENT_PASSWORD_FILE", self.influx_agent_password_file
            )
        token = self.influx_agent_token.get_secret_value() or self.influx_token.get_secret_value()
        return {
            "BUBBLE_INFLUX_AGENT_USERNAME": username,
            "BUBBLE_INFLUX_AGENT_PASSWORD": password,
            "BUBBLE_INFLUX_AGENT_TOKEN": token,
        }


def _secret_file(setting: str, path: Path) -> str:
    """The first line of a secret's file; a clear error naming the setting when unreadable."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BubbleError(f"{setting} {path}: {exc.strerror}") from None
