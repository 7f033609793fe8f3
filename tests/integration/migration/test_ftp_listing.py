"""Odd FTP listings are reported and skipped; the rest of the files part still goes through.

The odd tree (data.make_odd_site) holds links back up the tree, names that are not UTF-8 or
hold a line break, a directory the FTP user cannot list and, on the quirky pyftpdlib, MLSD
entries without `modify` (one of them without MDTM either). vsftpd shows links as links
(LIST); pyftpdlib follows them in MLSD (directories with `unique` facts) but shows them as
links in LIST. Links that stay inside the tree (these loops do) are recreated as links.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from migrator.files_ftp import FtpSession
from migrator.report import MigrationReport
from migrator.runner import MigrationPlan, Runner
from migrator.secrets import Secrets
from migrator.sources import parse_files_url
from tests.support.migration_target import LocalTarget

from . import data, servers

pytestmark = pytest.mark.integration


def _migrate(url: str, target: LocalTarget) -> MigrationReport:
    """The files part through the runner, in a thread: an endless walk fails the test."""
    src = parse_files_url(url)
    plan = MigrationPlan(servers.ACCOUNT, files=src)
    out: list[MigrationReport] = []
    runner = Runner(plan, Secrets({src.label: servers.OLD_PASSWORD}), target)
    worker = threading.Thread(target=lambda: out.append(runner.run()), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the walk did not end"
    return out[0]


def _copied(target: LocalTarget) -> dict[str, bytes]:
    web = target.home / target.web_root
    return {str(p.relative_to(web)): p.read_bytes() for p in web.rglob("*") if p.is_file()}


def _not_copied(report: MigrationReport) -> dict[str, str]:
    """path -> why, from the files part's warnings."""
    return {w.item: w.why for w in report.parts[0].warnings}


def _assert_loops_are_links(target: LocalTarget) -> None:
    web = target.home / target.web_root
    assert {k: (web / k).readlink() for k in data.ODD_LINKS} == {
        k: Path(v) for k, v in data.ODD_LINKS.items()
    }


def test_vsftpd_links_bad_names_and_an_unlistable_directory(
    vsftpd_odd: str, odd_site: Path, target: LocalTarget
) -> None:
    report = _migrate(vsftpd_odd, target)
    assert report.ok and report.parts[0].state == "verified with warnings", report.lines()
    skipped = _not_copied(report)
    _assert_loops_are_links(target)
    assert skipped["caf\\xe9.html"] == "name is not valid UTF-8"
    assert skipped["bad\\xffdir"] == "name is not valid UTF-8"
    assert skipped["locked"].startswith("cannot be listed: 550")
    assert skipped["line\\nbreak.txt"] == "name holds a control character or '/'"
    want = {k: v for k, v in data.ODD_FILES.items() if not k.startswith("locked/")}
    assert _copied(target) == want
    mtimes = data.tree_state(target.home / target.web_root)
    assert mtimes == {k: v for k, v in data.tree_state(odd_site).items() if k in want}


def test_pyftpdlib_loops_missing_modify_and_bad_names(
    ftps_odd: str, odd_site: Path, target: LocalTarget
) -> None:
    report = _migrate(ftps_odd, target)
    assert report.ok and report.parts[0].state == "verified with warnings", report.lines()
    skipped = _not_copied(report)
    _assert_loops_are_links(target)
    assert skipped["caf\\xe9.html"] == "name is not valid UTF-8"
    assert skipped["bad\\xffdir"] == "name is not valid UTF-8"
    assert skipped["nomodify-nomdtm.txt"].startswith("no size or modification time: 550")
    assert skipped["line\\nbreak.txt"] == "name holds a control character or '/'"
    want = {k: v for k, v in data.ODD_FILES.items() if "nomdtm" not in k}
    assert _copied(target) == want
    # No `modify` in MLSD: the exact mtime came from MDTM.
    source = data.tree_state(odd_site)
    assert data.tree_state(target.home / target.web_root) == {k: source[k] for k in want}


class _NoUnique(FtpSession):
    """The same server as one that follows links, gives no `unique` facts and hides links."""

    def lines(self, cmd: str) -> list[bytes]:
        lines = [re.sub(rb"unique=[^;]*;", b"", line) for line in super().lines(cmd)]
        return [line for line in lines if not line.startswith(b"l")]

    def _unique(self, path: str) -> str | None:
        return None


def test_a_loop_without_unique_facts_is_found_by_its_listing(ftps_odd: str) -> None:
    session = _NoUnique(parse_files_url(ftps_odd), servers.OLD_PASSWORD)
    try:
        tree = session.walk()
    finally:
        session.close()
    assert "loop: lists the same entries as / (a link back up?): not followed" in tree.skipped
    assert "sub/up: lists the same entries as / (a link back up?): not followed" in tree.skipped
    assert sorted(tree.dirs) == ["a[", "a[/x]", "locked", "sub"]
