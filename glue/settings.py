"""Settings from the environment (`BUBBLE_` prefix); command-line options override them."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUBBLE_", extra="ignore")

    root: Path = Path()
    # SQLite under the root when unset; e.g. postgresql://bubble@db.internal/bubble for a team.
    database_url: str | None = None
    lab_dir: Path = Path("/var/lib/bubblehost/lab")
    lab_cache: Path = Path("/var/cache/bubblehost")
