"""Files from vsftpd (LIST), pyftpdlib (FTPS, MLSD) and sshd (SFTP) into the account."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from migrator.errors import MigrationError
from migrator.files_copy import copy_files
from migrator.sources import parse_files_url
from tests.support.migration_target import LocalTarget

from . import data, servers

pytestmark = pytest.mark.integration


def _web(target: LocalTarget) -> Path:
    return target.home / target.web_root


@pytest.mark.parametrize("server", ["vsftpd", "ftps", "sftp"])
def test_full_copy_is_identical_and_second_run_copies_nothing(
    server: str, site: Path, target: LocalTarget, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(server)
    src = parse_files_url(url)
    first = copy_files(src, servers.OLD_PASSWORD, target)
    assert first.verified, first.mismatches
    assert first.copied == len(data.SMALL_FILES) + 1
    assert data.tree_state(_web(target)) == data.tree_state(site)
    assert data.dir_set(_web(target)) == data.dir_set(site)
    second = copy_files(src, servers.OLD_PASSWORD, target)
    assert second.copied == 0 and second.copied_bytes == 0
    assert second.skipped == first.files and second.verified


def test_wrong_password_is_one_clear_line(vsftpd: str, target: LocalTarget) -> None:
    src = parse_files_url(vsftpd)
    with pytest.raises(MigrationError) as err:
        copy_files(src, "wrong", target)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith(src.label) and "login" in line and "530" in line


def test_unreachable_host_is_one_clear_line(target: LocalTarget) -> None:
    src = parse_files_url("ftp://someone@127.0.0.1:23499/")
    with pytest.raises(MigrationError) as err:
        copy_files(src, "x", target)
    assert "connect" in str(err.value) and "refused" in str(err.value).lower()


class _DropSessionsOnce:
    """Kills the FTP server's session processes once, mid-way through the 100 MB file."""

    def __init__(self) -> None:
        self.seen = 0
        self.dropped = 0

    def advance(self, nbytes: int) -> None:
        self.seen += nbytes
        if not self.dropped and self.seen > 30 * 1024 * 1024:
            for pid in servers.descendants(servers.RUNNING["vsftpd"].proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    self.dropped += 1


def test_dropped_connection_mid_file_resumes(vsftpd: str, site: Path, target: LocalTarget) -> None:
    src = parse_files_url(vsftpd + "?connections=1")
    drop = _DropSessionsOnce()
    result = copy_files(src, servers.OLD_PASSWORD, target, progress=drop)
    assert drop.dropped, "the sessions were not dropped"
    assert result.verified, result.mismatches
    # Resumed from the bytes already written: every byte crossed the wire exactly once.
    assert drop.seen == sum(size for size, _, _ in data.tree_state(site).values())
    assert data.tree_state(_web(target)) == data.tree_state(site)
