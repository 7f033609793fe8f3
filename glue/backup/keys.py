"""The control plane's backup secrets, under ROOT/state/backup/ (0700, files 0600):

  control_ed25519           the key the control plane prunes, lists and checks with (not
                            append-only); the backup server accepts it for its repositories
  SERVER/client_ed25519     the web server's push key (shipped to it; append-only there)
  SERVER/passphrase         the repository's passphrase (shipped to it, 0600 both ends)
  SERVER/repokey            the repository's key, exported after `borg init` (repokey-blake2)

Without the passphrase AND the key (the repository holds a copy, encrypted by the
passphrase) an archive cannot be read: both leave this directory only to the web server."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from glue.errors import BubbleError
from glue.paths import private_dir, private_file, state_dir


def backup_dir(root: Path) -> Path:
    return private_dir(state_dir(root) / "backup")


def server_dir(root: Path, web: str) -> Path:
    return private_dir(backup_dir(root) / web)


def ssh_key(path: Path, comment: str) -> Path:
    """An ed25519 key at `path` (made once; both halves 0600)."""
    if not path.exists():
        argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise BubbleError(f"ssh-keygen could not make {path}: {done.stderr.strip()}")
    for half in (path, path.with_suffix(".pub")):
        private_file(half)
    return path


def control_key(root: Path) -> Path:
    return ssh_key(backup_dir(root) / "control_ed25519", "bubblehost-backup-control")


def client_key(root: Path, web: str) -> Path:
    return ssh_key(server_dir(root, web) / "client_ed25519", f"bubblehost-backup-{web}")


def public(key: Path) -> str:
    return key.with_suffix(".pub").read_text(encoding="utf-8").strip()


def passphrase_file(root: Path, web: str) -> Path:
    """The repository's passphrase (made once, 256 random bits, written 0600 before any byte)."""
    path = server_dir(root, web) / "passphrase"
    if not path.exists() or path.stat().st_size == 0:
        private_file(path)
        path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    return private_file(path)


def repokey_file(root: Path, web: str) -> Path:
    return server_dir(root, web) / "repokey"
