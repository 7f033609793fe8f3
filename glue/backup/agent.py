"""What runs on a web server (stdlib only; the backup_client role installs it as
/usr/local/lib/bubblehost/bubble-backup): one borg archive per account per run.

An archive `ACCOUNT-YYYY-MM-DDTHH:MM` holds the account's home (`srv/ACCOUNT/...`: its site,
its mailboxes under mail/), a dump of each of its databases
(`var/lib/bubblehost/backup/ACCOUNT/databases/DB.sql`, single transaction, routines,
triggers, events) and its mailbox logins (`.../ACCOUNT/mail-logins`: Dovecot passwd-file
lines, password hashes only, read by root from the server's own file, never from the home).
It runs as root, so it follows nothing the tenant controls: borg stores a link as a link
(never its target: a tenant's link to /etc/shadow archives a link), reads no FIFO or device
(no --read-special), and the dumps and logins are written into root's own directory.
The systemd unit that runs it bounds its CPU and IO (CPUQuota, IOWeight, idle IO class).

Settings: a JSON file (root's, 0600), default /etc/bubblehost/backup.conf:
  repository       ssh://borg@HOST/srv/borg/SERVER (the forced command pins it anyway)
  passphrase_file  the repository's passphrase (0600): borg reads it via BORG_PASSCOMMAND
  ssh              the ssh command borg uses (key, known_hosts), as BORG_RSH
  srv              where the homes are (/srv); staging (/var/lib/bubblehost/backup)
  databases        true when MariaDB runs here (root reaches it over its unix socket)
  mail_users       Dovecot's passwd-file of every mailbox (/etc/dovecot/bubble-users)
The passphrase never appears on a command line; the result of each run is a JSON line per
account on stdout and in STAGING/last.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ACCOUNT_RE = re.compile(r"[a-z][a-z0-9]{0,15}")
ARCHIVE_RE = re.compile(r"([a-z][a-z0-9]{0,15})-(\d{4}-\d\d-\d\dT\d\d:\d\d)")
DEFAULT_CONFIG = "/etc/bubblehost/backup.conf"
MAIL_USERS = "/etc/dovecot/bubble-users"  # bubble_mail_users_file (group_vars/all.yml)


def archive_name(account: str, at: dt.datetime) -> str:
    return f"{account}-{at.strftime('%Y-%m-%dT%H:%M')}"


def load_config(path: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    config.setdefault("srv", "/srv")
    config.setdefault("staging", "/var/lib/bubblehost/backup")
    # Restores: root's 0711 directory whose parents every account may traverse (the account
    # copies what it is given from there; /var/lib/bubblehost itself is root's only).
    config.setdefault("restore_dir", "/var/lib/bubblehost-restore")
    config.setdefault("databases", True)
    config.setdefault("mysql_args", [])
    config.setdefault("mail_users", MAIL_USERS)
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


def dump(account: str, config: dict[str, Any]) -> tuple[Path, list[str], list[str]]:
    """A consistent dump of each of the account's databases into root's own directory; the
    names dumped, and those skipped: the tenant names its databases, and one that is not a
    plain name (`alice_../../x`) never becomes a path or an identifier here."""
    stage = Path(config["staging"]) / account
    shutil.rmtree(stage, ignore_errors=True)  # root's directory: nothing of the tenant's
    (stage / "databases").mkdir(parents=True, mode=0o700)
    found = databases(account, config)
    names = [name for name in found if DB_RE.fullmatch(name)]
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
    return stage, names, [name for name in found if name not in names]


def mailboxes(home: Path) -> list[str]:
    """The mailbox addresses under home/mail (names only, read without following links)."""
    mail = home / "mail"
    if mail.is_symlink() or not mail.is_dir():
        return []
    with os.scandir(mail) as entries:
        return sorted(e.name for e in entries if "@" in e.name and e.is_dir(follow_symlinks=False))


def mail_logins(users: str, srv: str, account: str) -> str:
    """The account's lines of Dovecot's passwd-file (address, password hash, uid, gid, home):
    only a plain address whose home is the account's mail/ADDRESS. Read by root from root's
    file, so nothing the tenant wrote can add a line (for another account's address, say)."""
    try:
        text = Path(users).read_text(encoding="utf-8")
    except FileNotFoundError:  # no mail role here: no logins
        return ""
    return "".join(
        line + "\n"
        for line in text.splitlines()
        if len(fields := line.split(":")) == 8
        and MAILBOX_RE.fullmatch(fields[0])
        and fields[5] == f"{srv}/{account}/mail/{fields[0]}"
    )


def back_up(account: str, config: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    home = Path(config["srv"]) / account
    stage, names, skipped = dump(account, config)
    name = archive_name(account, at)
    holds = {"files": str(home).lstrip("/"), "databases": names, "mailboxes": mailboxes(home),
             "dumps": str(stage / "databases").lstrip("/")}  # fmt: skip
    logins = mail_logins(config["mail_users"], config["srv"], account)
    if logins:  # root's staging directory, beside the dumps: archived with them
        fd = os.open(stage / "mail-logins", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o600)  # fmt: skip
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(logins)
        holds["mail_logins"] = str(stage / "mail-logins").lstrip("/")
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
            "warnings": done.returncode == 1 or bool(skipped), "skipped_databases": skipped,
            **holds}  # fmt: skip


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


# ------------------------------------------------------------------------------ restore
#
# Extracted as root into root's own directory (the tenant can plant nothing there), handed to
# the target account (chown without following links), then moved into its home AS the
# account: whatever links the tenant made in its home, the restore can do nothing there that
# the account could not do itself. What it replaces is kept aside beside it, renamed.

DB_RE = re.compile(r"[a-z][a-z0-9]{0,15}_[A-Za-z0-9_]{1,48}")
MAILBOX_RE = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@[a-z0-9.-]+")
# DEFINER clauses name a user the account is not (ERROR 1227 as a non-SUPER user): dropped
# from DDL lines; an INSERT line is data and never touched.
DEFINER_RE = re.compile(r"(?:/\*!50017 )?DEFINER=`[^`]*`@`[^`]*`(?: ?\*/)?\s?")

# Installs account $1's mailbox logins (Dovecot passwd-file lines on stdin, hashes only) into
# the server's file $4, as root: only a line of a plain address whose home is $2 (the
# account's mail/) + that address is taken, with the account's uid and gid here and no shell
# or extra fields (a crafted archive's `userdb_uid=0` or `userdb_home=` never lands); an address
# another account holds here refuses them all. $3 `replace`: the account's lines become
# exactly these (a move); `merge`: these replace its lines of the same addresses, its others
# stay (a restore). Prints how many it installed. Run by the agent here, and over ssh by the
# control plane (moves, evacuation from backup): `sh -c SCRIPT mail-logins ACCOUNT ...`.
MAIL_LOGINS_SCRIPT = r"""set -eu
account=$1; h=$2; mode=$3; USERS=$4
uid=$(id -u "$account"); gid=$(id -g "$account")
exec 9>"$USERS.lock"; flock 9
new=$(mktemp "$USERS.XXXXXX"); tmp=$(mktemp "$USERS.XXXXXX"); trap 'rm -f "$new" "$tmp"' EXIT
awk -F: -v OFS=: -v u="$uid" -v g="$gid" -v h="$h" \
  'NF == 8 && $1 ~ /^[a-z0-9_+.-]+@[a-z0-9.-]+$/ && $6 == h $1 {
     $3 = u; $4 = g; $5 = $7 = $8 = ""; print }' >"$new"
[ -s "$new" ] || { echo 0; exit 0; }
if awk -F: -v h="$h" 'NR == FNR { a[$1]; next } ($1 in a) && index($6, h) != 1 { bad = 1 }
    END { exit !bad }' "$new" "$USERS"; then
  echo "a mailbox of $account belongs to another account here" >&2; exit 73
fi
if [ "$mode" = replace ]; then
  awk -F: -v h="$h" 'index($6, h) != 1' "$USERS" >"$tmp"
else
  awk -F: 'NR == FNR { a[$1]; next } !($1 in a)' "$new" "$USERS" >"$tmp"
fi
cat "$new" >>"$tmp"
chown root:dovecot "$tmp"; chmod 0640 "$tmp"; mv "$tmp" "$USERS"
doveadm auth cache flush >/dev/null 2>&1 || true
wc -l <"$new"
"""


def mail_logins_argv(account: str, home: str, mode: str, users: str) -> list[str]:
    """The command installing the logins of `account` (its home: `home`), see above."""
    return ["sh", "-c", MAIL_LOGINS_SCRIPT, "mail-logins", account, f"{home}/mail/", mode, users]


def home_path(text: str) -> str:
    """A path relative to the home, inside www/, mail/ or tmp/ (the home itself is root's:
    the account cannot replace its top entries). One line naming the problem otherwise."""
    parts = [p for p in text.strip("/").split("/") if p not in ("", ".")] if text else []
    if (
        text.startswith("/")
        or ".." in parts
        or len(parts) < 2
        or parts[0] not in ("www", "mail", "tmp")
    ):
        raise ValueError(
            f"--path {text!r}: give a path inside the home's www/, mail/ or tmp/, relative to "
            "the home, without '..'"
        )
    return "/".join(parts)


def as_account(account: str, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    import pwd

    entry = pwd.getpwnam(account)
    return subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups",
         "--", *argv],
        capture_output=True, text=True, check=False, **kw,
    )  # fmt: skip


def _holds(archive: str, config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        ["borg", "info", "--json", f"::{archive}"], env=borg_env(config), capture_output=True,
        text=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"archive {archive}: {last(done.stderr)}")
    holds: dict[str, Any] = json.loads(json.loads(done.stdout)["archives"][0]["comment"])
    return holds


def restore(config: dict[str, Any], account: str, archive: str, what: str, target: str,
            at: dt.datetime) -> dict[str, Any]:  # fmt: skip
    """`what`: `path:P`, `db:NAME`, `mailbox:ADDR` or `all`, from `account`'s `archive`, into
    `target`'s home and databases (the same account: in place)."""
    matched = ARCHIVE_RE.fullmatch(archive)
    if matched is None or matched.group(1) != account:
        raise ValueError(f"{archive!r} is not an archive of {account}")
    for name in (account, target):
        if not ACCOUNT_RE.fullmatch(name) or name not in accounts(config["srv"]):
            raise ValueError(f"no account {name!r} on this server")
    kind, _, value = what.partition(":")
    paths: list[str] = []  # relative to the home
    dbs: list[str] = []
    if kind == "path":
        paths = [home_path(value)]
    elif kind == "mailbox" and MAILBOX_RE.fullmatch(value):
        paths = [f"mail/{value}"]
    elif kind == "db" and DB_RE.fullmatch(value):
        dbs = [value]
    elif kind != "all":
        raise ValueError(f"nothing to restore: {what!r}")
    holds = _holds(archive, config)  # what the archive holds, as the agent wrote it
    # Logins only in place: an address belongs to one account (and to its domains).
    logins = holds.get("mail_logins") if kind in ("all", "mailbox") and target == account else None
    if kind == "all":
        paths, dbs = ["www", "mail"], list(holds["databases"])  # each entry of both, below
    elif kind == "mailbox" and value not in holds["mailboxes"]:
        raise ValueError(f"mailbox {value!r} is not in {archive}")
    elif kind == "db" and value not in holds["databases"]:
        raise ValueError(f"database {value!r} is not in {archive}")
    # Root's, 0711: the target account walks down to what it is given, and nothing else can
    # find the run's directory (a random name in a directory no one but root can list).
    restores = Path(config["restore_dir"])
    restores.mkdir(parents=True, exist_ok=True)
    restores.chmod(0o711)
    stage = restores / secrets.token_hex(16)
    stage.mkdir(mode=0o700)
    try:
        patterns = [f"{holds['files']}/{p}" for p in paths]
        patterns += [f"{holds['dumps']}/{db}.sql" for db in dbs]
        patterns += [logins] if logins else []
        done = subprocess.run(
            ["borg", "extract", f"::{archive}", *patterns], cwd=stage, env=borg_env(config),
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if done.returncode not in (0, 1):
            raise RuntimeError(f"extracting from {archive}: {last(done.stderr)}")
        suffix = f".before-restore-{at.strftime('%Y%m%dT%H%M%S')}"
        if kind == "all":  # the account cannot replace www/ or mail/ (root's home): each entry
            base = stage / holds["files"]
            paths = [f"{top}/{e.name}" for top in paths if (base / top).is_dir()
                     for e in sorted((base / top).iterdir())]  # fmt: skip
        restored = [_put(stage / holds["files"], p, target, config, suffix) for p in paths]
        loaded = [_load(stage / holds["dumps"] / f"{db}.sql", db, account, target, config,
                        suffix) for db in dbs]  # fmt: skip
        lines = (stage / logins).read_text(encoding="utf-8") if logins else ""
        if kind == "mailbox":
            lines = "".join(x for x in lines.splitlines(True) if x.startswith(f"{value}:"))
        installed = _install_logins(target, lines, config) if lines else 0
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {"account": target, "archive": archive, "ok": True, "paths": restored,
            "databases": loaded, "mail_logins": installed}  # fmt: skip


def _install_logins(account: str, lines: str, config: dict[str, Any]) -> int:
    """The archived logins back in Dovecot's file (merged: the account's other mailboxes
    keep theirs); their mail is in the home already."""
    home = f"{config['srv']}/{account}"
    argv = mail_logins_argv(account, home, "merge", config["mail_users"])
    done = subprocess.run(argv, input=lines, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"restoring the mailbox logins of {account}: {last(done.stderr)}")
    return int(done.stdout.strip() or 0)


def _put(extracted: Path, rel: str, target: str, config: dict[str, Any], suffix: str) -> str:
    """Move what was extracted into the target's home as the target, the current kept aside."""
    source = extracted / rel
    if not source.exists() and not source.is_symlink():
        raise ValueError(f"{rel} is not in the archive")
    import pwd

    entry = pwd.getpwnam(target)
    # Root's own staging tree: handed to the target without following a link in it.
    subprocess.run(["chown", "-R", "-h", f"{entry.pw_uid}:{entry.pw_gid}", str(extracted)],
                   check=True, capture_output=True)  # fmt: skip
    for parent in [extracted, *extracted.parents]:
        if parent == Path(config["restore_dir"]):
            break
        parent.chmod(0o711)  # the target walks down to it
    home = Path(config["srv"]) / target
    script = (
        'set -e; dest="$1"; src="$2"; aside="$1$3"\n'
        'if [ -e "$dest" ] || [ -L "$dest" ]; then mv -T -- "$dest" "$aside"; fi\n'
        'mkdir -p -- "$(dirname -- "$dest")"\n'
        'cp -a -T -- "$src" "$dest"\n'
    )
    done = as_account(target, ["sh", "-c", script, "restore", str(home / rel), str(source),
                               suffix], stdin=subprocess.DEVNULL, cwd=str(home))  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"restoring {rel} as {target}: {last(done.stderr)}")
    return rel


def _load(dump_file: Path, db: str, account: str, target: str, config: dict[str, Any],
          suffix: str) -> str:  # fmt: skip
    """Load a dump as the target's own database user; the current database dumped aside
    (root's staging directory) first."""
    name = target + db[len(account) :]  # alice_shop -> bob_shop into another account
    aside = Path(config["staging"]) / "aside"
    aside.mkdir(parents=True, exist_ok=True, mode=0o700)
    mysql = ["mariadb", *config["mysql_args"]]
    exists = subprocess.run([*mysql, "-N", "-B", "-e", f"SHOW DATABASES LIKE '{name}'"],
                            capture_output=True, text=True, check=False)  # fmt: skip
    if exists.stdout.strip() == name:
        with (aside / f"{name}{suffix}.sql").open("wb") as out:
            subprocess.run(["mariadb-dump", *config["mysql_args"], "--single-transaction",
                            "--routines", "--triggers", "--events", "--hex-blob", name],
                           stdout=out, check=True, stdin=subprocess.DEVNULL)  # fmt: skip
    reset = f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
    subprocess.run([*mysql, "-e", reset], check=True, capture_output=True)
    lines = dump_file.read_text(encoding="utf-8").splitlines(keepends=True)
    text = "".join(line if line.startswith("INSERT") else DEFINER_RE.sub("", line)
                   for line in lines)  # fmt: skip
    user_args = [a for a in config["mysql_args"] if not a.startswith("--user")]
    done = as_account(target, ["mariadb", *user_args, f"--user={target}",
                               "--default-character-set=utf8mb4", name], input=text)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"loading {db} into {name} as {target}: {last(done.stderr)}")
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bubble-backup")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("run", help="archive one account, or all")
    create.add_argument("which", help="an account name, or `all`")
    back = sub.add_parser("restore", help="restore from one of an account's archives")
    back.add_argument("account")
    back.add_argument("archive")
    back.add_argument("what", help="path:P, db:NAME, mailbox:ADDR or all")
    back.add_argument("--to-account", default=None)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.command == "restore":
        try:
            result = restore(config, args.account, args.archive, args.what,
                             args.to_account or args.account, dt.datetime.now(dt.UTC))  # fmt: skip
        except (OSError, RuntimeError, ValueError, subprocess.CalledProcessError) as exc:
            result = {"account": args.account, "ok": False, "error": str(exc)}
        print(json.dumps(result, sort_keys=True), flush=True)
        return 0 if result["ok"] else 1
    if args.which != "all" and not ACCOUNT_RE.fullmatch(args.which):
        print(f"bubble-backup: {args.which!r} is not an account name", file=sys.stderr)
        return 2
    return run(config, args.which, dt.datetime.now(dt.UTC))


if __name__ == "__main__":
    sys.exit(main())
