"""Panel changes in the catalog's history: a git commit of catalog/ with the acting admin
or customer as its author, when the operator root is a git repository."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from glue.panel.auth import Principal

log = logging.getLogger("bubble.panel")


def catalog_log(root: Path, limit: int = 100) -> list[dict[str, str]]:
    """The newest commits that touched catalog/: who (the author), when, what."""
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return []
    done = subprocess.run(
        [git, "-C", str(root), "log", f"-n{limit}", "--format=%h%x1f%an%x1f%aI%x1f%s", "--",
         "catalog"], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    fields = ("commit", "author", "at", "message")
    return [dict(zip(fields, line.split("\x1f"), strict=True))
            for line in done.stdout.splitlines() if line.count("\x1f") == 3]  # fmt: skip


def commit_catalog(root: Path, who: Principal, message: str, files: list[Path]) -> None:
    """Commit the catalog files one change wrote and nothing else, so another's uncommitted
    edit is never signed by this person; the caller holds the catalog lock from the change to
    here. A failed commit is logged, not raised: the change is made and git catches up with
    the next commit of those files."""
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return
    # Names are full-matched (accounts, admins): safe in an author line.
    env = {
        **os.environ,
        "GIT_COMMITTER_NAME": "bubble panel",
        "GIT_COMMITTER_EMAIL": "panel@bubblehost",
        "GIT_AUTHOR_NAME": f"{who.name} ({who.role})",
        "GIT_AUTHOR_EMAIL": f"{who.name}@panel.bubblehost",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [git, "-C", str(root), *args], env=env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    paths = [str(file.relative_to(root)) for file in files]
    run("add", "--", *paths)
    if run("diff", "--cached", "--quiet", "--", *paths).returncode == 0:
        return
    done = run("commit", "-q", "--no-verify", "-m", message, "--", *paths)
    if done.returncode:
        log.warning("catalog commit failed: %s", done.stderr.strip())
