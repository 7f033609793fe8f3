"""Files from vsftpd (LIST), pyftpdlib (FTPS, MLSD) and sshd (SFTP) into the account."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import MigrationError
from migrator.files_copy import copy_files
from migrator.sources import parse_files_url
from migrator.target import LocalTarget

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
