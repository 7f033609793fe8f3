"""What runs on a web server (stdlib only; the backup_client role installs it as
/usr/local/lib/bubblehost/bubble-backup): one borg archive per account per run.

An archive `ACCOUNT-YYYY-MM-DDTHH:MM` holds the account's home (`srv/ACCOUNT/...`: its site,
its mailboxes under mail/) and a dump of each of its databases
(`var/lib/bubblehost/backup/ACCOUNT/databases/DB.sql`, single transaction, routines,
triggers, events). It runs as root, so it follows nothing the tenant controls: borg stores a
link as a link (never its target: a tenant's link to /etc/shadow archives a link), reads no
FIFO or device (no --read-special), and the dumps are written into root's own directory.
The systemd unit that runs it bounds its CPU and IO (CPUQuota, IOWeight, idle IO class).

Settings: a JSON file (root's, 0600), default /etc/bubblehost/backup.conf:
  repository       ssh://borg@HOST/srv/borg/SERVER (the forced command pins it anyway)
  passphrase_file  the repository's passphrase (0600): borg reads it via BORG_PASSCOMMAND
  ssh              the ssh command borg uses (key, known_hosts), as BORG_RSH
  srv              where the homes are (/srv); staging (/var/lib/bubblehost/backup)
  databases        true when MariaDB runs here (root reaches it over its unix socket)
The passphrase never appears on a command line; the result of each run is a JSON line per
account on stdout and in STAGING/last.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ACCOUNT_RE = re.compile(r"[a-z][a-z0-9]{0,15}")
ARCHIVE_RE = re.compile(r"([a-z][a-z0-9]{0,15})-(\d{4}-\d\d-\d\dT\d\d:\d\d)")
DEFAULT_CONFIG = "/etc/bubblehost/backup.conf"


def archive_name(account: str, at: dt.datetime) -> str:
    return f"{account}-{at.strftime('%Y-%m-%dT%H:%M')}"


def load_config(path: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    config.setdefault("srv", "/srv")
    config.setdefault("staging", "/var/lib/bubblehost/backup")
    config.setdefault("databases", True)
    config.setdefault("mysql_args", [])
    return config


def borg_env(config: dict[str, Any]) -> dict[str, str]:
    """borg's environment: the passphrase through a command that reads the 0600 file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BORG_")}
    env.update(
        BORG_PASSCOMMAND=f"cat {shlex_quote(config['passphrase_file'])}",
        BORG_RSH=config["ssh"],
        BORG_REPO=config["repository"],
        BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no",
        BORG_BASE_DIR=str(Path(config["staging"]) / ".borg"),
    )
    return env


def shlex_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def accounts(srv: str) -> list[str]:
    """The homes under `srv` whose names are account names, directories themselves (root
    made them: the tenant cannot add an entry to /srv)."""
    found = []
    with os.scandir(srv) as entries:
        for entry in entries:
            if ACCOUNT_RE.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                found.append(entry.name)
    return sorted(found)


def databases(account: str, config: dict[str, Any]) -> list[str]:
    if not config["databases"]:
        return []
    query = f"SHOW DATABASES LIKE '{account}\\_%'"  # the name is a full-matched account name
    done = subprocess.run(
        ["mariadb", *config["mysql_args"], "--batch", "--skip-column-names", "-e", query],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"listing the databases of {account}: {last(done.stderr)}")
    return sorted(line for line in done.stdout.splitlines() if line)


def dump(account: str, config: dict[str, Any]) -> tuple[Path, list[str]]:
    """A consistent dump of each of the account's databases into root's own directory."""
    stage = Path(config["staging"]) / account
    shutil.rmtree(stage, ignore_errors=True)  # root's directory: nothing of the tenant's
    (stage / "databases").mkdir(parents=True, mode=0o700)
    names = databases(account, config)
    for name in names:
        fd = os.open(stage / "databases" / f"{name}.sql",
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)  # fmt: skip
        with os.fdopen(fd, "wb") as out:
            done = subprocess.run(
                ["mariadb-dump", *config["mysql_args"], "--single-transaction", "--routines",
                 "--triggers", "--events", "--hex-blob", "--default-character-set=utf8mb4",
                 name],
                stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"dumping {name}: {last(done.stderr.decode(errors='replace'))}")
    return stage, names


def mailboxes(home: Path) -> list[str]:
    """The mailbox addresses under home/mail (names only, read without following links)."""
    mail = home / "mail"
    if mail.is_symlink() or not mail.is_dir():
        return []
    with os.scandir(mail) as entries:
        return sorted(e.name for e in entries if "@" in e.name and e.is_dir(follow_symlinks=False))


def back_up(account: str, config: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    home = Path(config["srv"]) / account
    stage, names = dump(account, config)
    name = archive_name(account, at)
    holds = {"files": str(home).lstrip("/"), "databases": names, "mailboxes": mailboxes(home),
             "dumps": str(stage / "databases").lstrip("/")}  # fmt: skip
    # borg expands {placeholders} in a comment: braces are doubled to stay braces.
    comment = json.dumps(holds, sort_keys=True).replace("{", "{{").replace("}", "}}")
    argv = [
        "borg", "create", "--json", "--compression", "zstd,3", "--noflags",
        "--comment", comment,
        "--timestamp", at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), f"::{name}",
        str(home).lstrip("/"), str(stage).lstrip("/"),
    ]  # fmt: skip
    # Paths relative to / so that the archive holds srv/ACCOUNT/... whatever `srv` is.
    done = subprocess.run(
        argv, cwd="/", env=borg_env(config), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    shutil.rmtree(stage, ignore_errors=True)
    # borg exits 1 on warnings (a file vanished while read): the archive is still made.
    if done.returncode not in (0, 1):
        raise RuntimeError(f"borg create {name}: {last(done.stderr)}")
    stats = json.loads(done.stdout)["archive"]["stats"]
    return {"account": account, "archive": name, "ok": True, "size": stats["original_size"],
            "warnings": done.returncode == 1, **holds}  # fmt: skip


def last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def run(config: dict[str, Any], which: str, at: dt.datetime) -> int:
    chosen = accounts(config["srv"]) if which == "all" else [which]
    results = []
    for account in chosen:
        if not ACCOUNT_RE.fullmatch(account) or account not in accounts(config["srv"]):
            result = {"account": account, "ok": False, "error": "no such account here"}
        else:
            try:
                result = back_up(account, config, at)
            except (OSError, RuntimeError, ValueError) as exc:  # one account never stops others
                result = {"account": account, "ok": False, "error": str(exc)}
        results.append(result)
        print(json.dumps(result, sort_keys=True), flush=True)
    Path(config["staging"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    summary = {"at": at.isoformat(timespec="seconds"), "results": results}
    tmp = Path(config["staging"]) / "last.json.tmp"
    tmp.write_text(json.dumps(summary, sort_keys=True), encoding="utf-8")
    tmp.replace(Path(config["staging"]) / "last.json")
    return 0 if all(r["ok"] for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bubble-backup")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("run", help="archive one account, or all")
    create.add_argument("which", help="an account name, or `all`")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.which != "all" and not ACCOUNT_RE.fullmatch(args.which):
        print(f"bubble-backup: {args.which!r} is not an account name", file=sys.stderr)
        return 2
    return run(config, args.which, dt.datetime.now(dt.UTC))


if __name__ == "__main__":
    sys.exit(main())
