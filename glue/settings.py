"""Settings from the environment (`BUBBLE_` prefix); command-line options override them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
