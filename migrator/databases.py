"""Databases: mariadb-dump on the old host streamed into `mariadb` run as the account.

The dump passes through this machine line by line (never stored); DEFINER clauses are removed
from DDL lines only, since a customer's user cannot create objects for another definer and
INSERT data must stay byte-exact. utf8mb4 on both ends: a wrong charset turns emoji into '?'
and still exits 0. The password reaches the clients through an inherited pipe
(--defaults-extra-file=/dev/fd/N): never argv, environment or disk.

The tools reach the old host through `db_relay.Relay` (the address `Network` checked; TLS by
the relay, unless the URL says tls=no, with the certificate checked against the host's name:
system CAs or ?cafile=). Pre-flight also asks the server whether the session is encrypted.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from migrator.db_relay import NO_TLS, Relay
from migrator.errors import MigrationError
from migrator.network import OPEN, Network
from migrator.sources import DbSource
from migrator.target import Target

CHARSET = "--default-character-set=utf8mb4"
_DEFINER = re.compile(
    rb"DEFINER\s*=\s*(?:`(?:[^`]|``)*`|'(?:[^'\\]|''|\\.)*'|[^\s@*/]+)"
    rb"\s*@\s*(?:`(?:[^`]|``)*`|'(?:[^'\\]|''|\\.)*'|[^\s*/]+)\s?"
)


def target_db_name(account: str, database: str) -> str:
    """The account owns `ACCOUNT_*` databases (docs/interfaces.md)."""
    name = f"{account}_{database}"
    if len(name) > 64:
        raise MigrationError(
            f"database {database}", "name in the account", f"{name} is longer than 64 characters"
        )
    return name


def strip_definer(line: bytes) -> bytes:
    if line.startswith(b"INSERT INTO") or b"DEFINER" not in line:
        return line
    return _DEFINER.sub(b"", line)


# Identifiers in SQL below are quoted by _q and database names are checked by
# sources._DB_NAME; no value of the customer's ends up unquoted in a statement (S608).
def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass
class DbInfo:
    """What pre-flight learns: objects, approximate rows and bytes (information_schema)."""

    charset: str = "utf8mb4"
    collation: str = "utf8mb4_unicode_ci"
    tables: dict[str, str] = field(default_factory=dict)  # name -> BASE TABLE | VIEW
    rows: int = 0
    bytes: int = 0
    routines: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)

    @property
    def base_tables(self) -> list[str]:
        return sorted(t for t, kind in self.tables.items() if kind == "BASE TABLE")


@dataclass
class DbResult:
    source: str
    target_db: str
    tables: int = 0
    rows: int = 0
    copied: bool = False
    copied_bytes: int = 0
    verified: bool = False
    mismatches: list[str] = field(default_factory=list)


class _SourceClient:
    """Runs the MariaDB client tools against the old host with the password on a pipe."""

    def __init__(self, src: DbSource, password: str, network: Network) -> None:
        self.src, self.network = src, network
        self.failure: MigrationError | None = None  # the relay's, of the last tool run
        self._ini = '[client]\npassword="{}"\n'.format(
            password.replace("\\", "\\\\").replace('"', '\\"')
        ).encode()

    @contextlib.contextmanager
    def argv(self, tool: str) -> Iterator[tuple[list[str], int]]:
        r, w = os.pipe()
        relay = Relay(self.src, self.network)
        try:
            os.write(w, self._ini)  # a few bytes: fits in the pipe buffer
            os.close(w)
            w = -1
            argv = [
                tool,
                f"--defaults-extra-file=/dev/fd/{r}",  # must come first
                f"--socket={relay.path}",
                "--protocol=SOCKET",
                f"--user={self.src.user}",
                "--skip-ssl",  # to the relay, in a private directory; the relay does the TLS
                CHARSET,
            ]
            yield argv, r
        finally:
            relay.close()
            self.failure = relay.failure
            os.close(r)
            if w >= 0:
                os.close(w)

    def query(self, sql: str, step: str) -> list[list[str]]:
        with self.argv("mariadb") as (argv, fd):
            proc = subprocess.run(
                [*argv, "-N", "-B", "-e", sql, self.src.database],
                pass_fds=(fd,),
                capture_output=True,
                timeout=600,
                check=False,
            )
        if proc.returncode:
            raise self.failure or _client_error(self.src, proc.stderr, step)
        return _rows(proc.stdout)


def _client_error(src: DbSource, stderr: bytes, step: str) -> MigrationError:
    return MigrationError(src.label, step, _last_line(stderr))


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "failed"


def _rows(out: bytes) -> list[list[str]]:
    return [line.split("\t") for line in out.decode("utf-8", "replace").splitlines() if line]


_INFO_SQL = """
SELECT 'S', DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME, '' FROM information_schema.SCHEMATA
  WHERE SCHEMA_NAME = DATABASE();
SELECT 'T', TABLE_NAME, TABLE_TYPE, CONCAT(COALESCE(TABLE_ROWS, 0), ' ',
  COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0))
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE();
SELECT 'R', CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME), '', '' FROM information_schema.ROUTINES
  WHERE ROUTINE_SCHEMA = DATABASE();
SELECT 'G', TRIGGER_NAME, '', '' FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE();
"""


def _parse_info(rows: list[list[str]]) -> DbInfo:
    info = DbInfo()
    for row in rows:
        kind, a, b, c = ([*row, "", "", ""])[:4]
        if kind == "S":
            info.charset, info.collation = a, b
        elif kind == "T":
            info.tables[a] = b
            nrows, nbytes = ([*c.split(), "0", "0"])[:2]
            info.rows += int(nrows)
            info.bytes += int(nbytes)
        elif kind == "R":
            info.routines.append(a)
        elif kind == "G":
            info.triggers.append(a)
    info.routines.sort()
    info.triggers.sort()
    return info


def _fingerprint_sql(info: DbInfo) -> str:
    """Exact row counts and CHECKSUM TABLE per base table, plus the objects' names."""
    parts = [
        f"SELECT 'C', '{t.replace(chr(39), chr(39) * 2)}', COUNT(*) FROM {_q(t)};"  # noqa: S608
        for t in info.base_tables
    ]
    if info.base_tables:
        parts.append("CHECKSUM TABLE " + ", ".join(_q(t) for t in info.base_tables) + ";")
    return _INFO_SQL + "\n".join(parts)


def _parse_fingerprint(rows: list[list[str]]) -> tuple[DbInfo, dict[str, str]]:
    info = _parse_info([r for r in rows if r and r[0] in ("S", "T", "R", "G")])
    fp: dict[str, str] = {}
    for row in rows:
        if row and row[0] == "C" and len(row) >= 3:
            fp[f"rows {row[1]}"] = row[2]
        elif len(row) == 2 and "." in row[0]:  # CHECKSUM TABLE: db.table <tab> checksum
            fp[f"checksum {row[0].split('.', 1)[1]}"] = row[1]
    fp["objects"] = repr((sorted(info.tables.items()), info.routines, info.triggers))
    return info, fp


class DbCopier:
    def __init__(self, src: DbSource, password: str, target: Target,
                 network: Network = OPEN) -> None:  # fmt: skip
        self.src = src
        self.client = _SourceClient(src, password, network)
        self.target = target
        self.target_db = target_db_name(target.account, src.database)

    # -- the account's side
    def _target_sql(self, sql: str, step: str, db: str | None = None) -> list[list[str]]:
        argv = ["mariadb", *self.target.mariadb_args, CHARSET, "-N", "-B"]
        res = self.target.run([*argv, *([db] if db else [])], sql.encode())
        if res.returncode:
            raise MigrationError(self.src.label, step, f"account database: {res.error_line()}")
        return _rows(res.stdout)

    def inspect(self) -> DbInfo:
        """Pre-flight: login works, the user may read the database, sizes."""
        info = _parse_info(self.client.query(_INFO_SQL, "login"))
        if self.src.tls is not None:
            cipher = self.client.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'", "TLS")
            if not cipher or len(cipher[0]) < 2 or not cipher[0][1]:
                raise MigrationError(self.src.label, "TLS", f"not encrypted: {NO_TLS}")
        for table in info.base_tables:
            # mariadb-dump needs SELECT on every table; find out now, not mid-copy.
            self.client.query(f"SELECT 1 FROM {_q(table)} LIMIT 0", f"read table {table}")  # noqa: S608
        for routine in info.routines:
            # A routine of another definer shows with an empty body: mariadb-dump would stop.
            kind, name = routine.split(" ", 1)
            rows = self.client.query(f"SHOW CREATE {kind} {_q(name)}", f"read {routine}")
            if not rows or len(rows[0]) < 3 or rows[0][2] in ("", "NULL"):
                raise MigrationError(
                    self.src.label, f"read {routine}", "this user may not read its definition"
                )
        return info

    def source_fingerprint(self, info: DbInfo) -> dict[str, str]:
        return _parse_fingerprint(self.client.query(_fingerprint_sql(info), "checksum"))[1]

    def target_fingerprint(self, info: DbInfo) -> dict[str, str] | None:
        exists = self._target_sql(
            f"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "  # noqa: S608
            f"'{self.target_db}'",
            "inspect the account's database",
        )
        if exists[0][0] == "0":
            return None
        # Its own table list: an interrupted restore may lack some of the source's tables.
        mine = _parse_info(self._target_sql(_INFO_SQL, "inspect", self.target_db))
        rows = self._target_sql(_fingerprint_sql(mine), "checksum", self.target_db)
        return _parse_fingerprint(rows)[1]

    # -- the copy
    def copy(self, info: DbInfo, progress: Callable[[int], None] | None = None) -> DbResult:
        result = DbResult(self.src.label, self.target_db, len(info.base_tables), info.rows)
        want = self.source_fingerprint(info)
        if self.target_fingerprint(info) != want:
            self._recreate(info)
            result.copied_bytes = self._stream(progress)
            result.copied = True
        got = self.target_fingerprint(info)
        result.mismatches = sorted(
            f"{k}: source {want.get(k)}, account {(got or {}).get(k)}"
            for k in set(want) | set(got or {})
            if want.get(k) != (got or {}).get(k)
        )
        result.verified = not result.mismatches
        return result

    def _recreate(self, info: DbInfo) -> None:
        # A half-restored or outdated copy is replaced whole: the old host stays the truth.
        db = _q(self.target_db)
        self._target_sql(
            f"DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db} "
            f"CHARACTER SET {info.charset} COLLATE {info.collation};",
            "create the account's database",
        )

    def _stream(self, progress: Callable[[int], None] | None) -> int:
        with self.client.argv("mariadb-dump") as (argv, fd):
            dump = subprocess.Popen(
                [*argv, "--single-transaction", "--routines", "--triggers", "--hex-blob",
                 "--no-tablespaces", "--skip-comments", self.src.database],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(fd,),
            )  # fmt: skip
            restore = self.target.spawn(
                ["mariadb", *self.target.mariadb_args, CHARSET, "--binary-mode", self.target_db]
            )
            errs, total = self._pipe(dump, restore, progress)
        if dump.returncode:
            raise self.client.failure or _client_error(self.src, errs.get("dump", b""), "dump")
        if restore.returncode:
            err = _last_line(errs.get("restore", b""))
            raise MigrationError(self.src.label, "restore into the account", err)
        return total

    def _pipe(self, dump: subprocess.Popen[bytes], restore: subprocess.Popen[bytes],
              progress: Callable[[int], None] | None) -> tuple[dict[str, bytes], int]:  # fmt: skip
        """The dump's lines into the restore (DEFINER stripped), until both have ended."""
        assert dump.stdout and dump.stderr and restore.stdin and restore.stderr
        errs: dict[str, bytes] = {}

        def drain(name: str, stream: object) -> None:
            errs[name] = stream.read()  # type: ignore[attr-defined]

        threads = [
            threading.Thread(target=drain, args=("dump", dump.stderr)),
            threading.Thread(target=drain, args=("restore", restore.stderr)),
        ]
        for t in threads:
            t.start()
        total = 0
        try:
            for line in dump.stdout:
                out = strip_definer(line)
                restore.stdin.write(out)
                total += len(out)
                if progress:
                    progress(len(out))
        except BrokenPipeError:
            pass  # the restore side died: its stderr says why
        finally:
            with contextlib.suppress(BrokenPipeError):
                restore.stdin.close()
            if restore.poll() is not None:
                dump.kill()
            dump.wait()
            restore.wait()
            for t in threads:
                t.join()
        return errs, total
