"""The ledger tests again, on a real PostgreSQL started for this module."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.unit.test_ledger import *  # noqa: F403 - the same cases, another database

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str:
    """Debian keeps the server binaries off PATH, under /usr/lib/postgresql/VERSION/bin."""
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        pytest.fail(f"PostgreSQL ({name}) is not installed: run `make setup`")
    return found


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres system user."""
    argv = [_pg_bin(argv[0]), *argv[1:]]
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def running_postgres() -> Iterator[str]:
    """A PostgreSQL server of our own on loopback (stopped by PID); yields its base URL."""
    base = Path(tempfile.mkdtemp(prefix="bubble-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
    subprocess.run(
        _as_postgres(["initdb", "-D", str(data), "-U", "bubble", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        _as_postgres(
            ["postgres", "-D", str(data), "-p", str(port), "-k", str(base), "-h", "127.0.0.1"]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            )
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("PostgreSQL did not start")
            time.sleep(0.2)
        yield f"postgresql://bubble@127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; returns its URL."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        f"{server_url.replace('postgresql', 'postgresql+psycopg')}/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server_url}/{name}"


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture
def db_url(postgres_server: str) -> str:
    """A fresh database per test."""
    return fresh_database(postgres_server)
