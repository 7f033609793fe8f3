"""Links in a cPanel-style home: inside ones arrive as links, outside ones are reported.

The same tree from vsftpd (LIST shows `l ... name -> target`), pyftpdlib (follows links in
MLSD, shows them in LIST) and sshd (SFTP lstat/readlink).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.files_copy import copy_files
from migrator.runner import MigrationPlan, Runner
from migrator.secrets import Secrets
from migrator.sink import Sink, SinkError
from migrator.sources import parse_files_url
from tests.support.migration_target import LocalTarget

from . import servers

pytestmark = pytest.mark.integration

PORT_VSFTPD_LINKS = 23426  # passive 23491-23498
PORT_FTPS_LINKS = 23427  # passive 23500-23509
FILES = {
    "public_html/index.php": b"<?php include 'wp/load.php'; ?>\n",
    "public_html/wp/load.php": b"<?php // loaded ?>\n",
    "outside.txt": b"not in the copied tree\n",
}
INSIDE = {
    "www": "public_html",  # the cPanel link
    "public_html/latest.php": "wp/load.php",  # a file link inside the tree
    "public_html/wp/home": "../index.php",
    "public_html/dangling": "wp/gone.php",  # inside, even if nothing is there
}
# Absolute, into the tree: SFTP knows the root (made relative), FTP does not (reported).
ABSOLUTE = "public_html/wp/abs.php"
OUTSIDE = {
    "public_html/passwd": "/etc/passwd",
    "public_html/escape": "../../outside.txt",
}


@pytest.fixture(scope="module")
def links_site(base: Path, site: Path) -> Path:
    """base/old/links/home is the FTP root (vsftpd needs the 'site' home); outside.txt beside it."""
    pw = pwd.getpwnam(servers.OLD_USER)
    top = base / "old" / "links"
    root = top / "home"
    if not root.exists():
        for rel, content in FILES.items():
            p = (top if rel == "outside.txt" else root) / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content)
        for rel, dest in {**INSIDE, **OUTSIDE}.items():
            (root / rel).symlink_to(dest)
        (root / ABSOLUTE).symlink_to(root / "public_html/index.php")
        for d, dirs, files in os.walk(top):
            for n in [*dirs, *files]:
                os.lchown(os.path.join(d, n), pw.pw_uid, pw.pw_gid)
        os.chown(top, pw.pw_uid, pw.pw_gid)
        (base / "old").chmod(0o755)
    return root


@pytest.fixture(scope="module")
def links_url(
    request: pytest.FixtureRequest, base: Path, links_site: Path, cert: tuple[Path, Path]
) -> Iterator[str]:
    kind = request.param
    if kind == "sftp":  # the session's sshd serves any path: point it at this tree
        site = str(request.getfixturevalue("site"))
        yield request.getfixturevalue("sftp").replace(f"{site}?", f"{links_site}?")
        return
    if kind == "vsftpd":
        server = servers.start_vsftpd(
            base, links_site, PORT_VSFTPD_LINKS, (23491, 23498), "vsftpd-links"
        )
        yield f"ftp://{servers.OLD_USER}@127.0.0.1:{PORT_VSFTPD_LINKS}/"
    else:
        server = servers.start_pyftpdlib(base, links_site, *cert, PORT_FTPS_LINKS, (23500, 23510))
        yield f"ftps://{servers.OLD_USER}@127.0.0.1:{PORT_FTPS_LINKS}/?cafile={cert[0]}"
    server.stop()


@pytest.mark.parametrize("links_url", ["vsftpd", "pyftpdlib", "sftp"], indirect=True)
def test_inside_links_are_links_and_outside_ones_are_reported(
    links_url: str, links_site: Path, target: LocalTarget
) -> None:
    src = parse_files_url(links_url)
    result = copy_files(src, servers.OLD_PASSWORD, target)
    assert result.verified, result.mismatches
    web = target.home / target.web_root
    inside, outside = dict(INSIDE), dict(OUTSIDE)
    if src.scheme == "sftp":
        inside[ABSOLUTE] = "../index.php"
    else:
        outside[ABSOLUTE] = f"{links_site}/public_html/index.php"
    for rel, dest in inside.items():
        assert os.readlink(web / rel) == dest, rel
        resolved = os.path.realpath(web / rel)
        assert resolved.startswith(os.path.realpath(web) + "/"), rel
    assert (web / "www" / "index.php").read_bytes() == FILES["public_html/index.php"]
    assert (web / "public_html/latest.php").read_bytes() == FILES["public_html/wp/load.php"]
    assert result.links == len(inside)
    for rel in outside:
        assert not os.path.lexists(web / rel), rel
    reported = {line.split(": ")[0]: line for line in result.outside_links}
    assert set(reported) == set(outside)
    for rel, dest in outside.items():
        assert reported[rel] == f"{rel}: a link pointing outside the tree (-> {dest})"
    assert set(result.outside_links) <= set(result.not_copied)
    # The files themselves, each once (the link to a directory was not walked).
    assert result.files == 2 and result.copied == 2
    again = copy_files(src, servers.OLD_PASSWORD, target)
    assert again.verified and again.copied == 0 and again.links == len(inside)


def test_the_receiver_refuses_a_link_that_resolves_outside(target: LocalTarget) -> None:
    """A link the account planted on the server is not followed out of the web root."""
    web = target.home / target.web_root
    acct = pwd.getpwnam(servers.ACCOUNT)
    web.mkdir(parents=True, exist_ok=True)
    os.chown(web, acct.pw_uid, acct.pw_gid)
    (web / "planted").symlink_to("..")  # lexically inside, really one level up
    os.lchown(web / "planted", acct.pw_uid, acct.pw_gid)
    with Sink(target) as sink:
        with pytest.raises(SinkError, match="resolves outside"):
            sink.link("x", "planted/secret")
        with pytest.raises(SinkError, match="leads out"):
            sink.link("y", "../secret")
        with pytest.raises(SinkError, match="relative"):
            sink.link("z", "/etc/passwd")
        sink.link("ok", "sub/page.php")  # dangling but inside: made
        # A file is never written through a link on the server.
        sink.open(1, "p1", 0)
        sink.write(1, b"x")
        with pytest.raises(SinkError, match="a directory above it is a link"):
            sink.settled(sink.finish(1, "p1", "planted/escaped.txt", 1, 1_600_000_000))
    assert not os.path.lexists(target.home / "escaped.txt")
    assert os.readlink(web / "ok") == "sub/page.php"
    assert not os.path.lexists(web / "x") and not os.path.lexists(web / "y")


@pytest.mark.parametrize("links_url", ["vsftpd"], indirect=True)
def test_outside_links_are_warnings_of_a_verified_part(
    links_url: str, links_site: Path, target: LocalTarget
) -> None:
    src = parse_files_url(links_url)
    runner = Runner(
        MigrationPlan(servers.ACCOUNT, files=src),
        Secrets({src.label: servers.OLD_PASSWORD}),
        target,
    )
    report = runner.run()
    part = report.parts[0]
    assert part.state == "verified with warnings" and report.exit_code == 3, report.lines()
    warned = {w.item: w.why for w in part.warnings}
    outside = {**OUTSIDE, ABSOLUTE: f"{links_site}/public_html/index.php"}
    assert warned == {
        rel: f"a link pointing outside the tree (-> {dest})" for rel, dest in outside.items()
    }
