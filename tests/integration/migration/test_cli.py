"""`bubble migrate` through Typer: pre-flight only (--check), JSON, passwords from env/file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from glue.cli.migrate import migrate_app
from tests.support.cli import invoke, run

from . import data, servers

pytestmark = pytest.mark.integration


def _make_root(r: Path) -> Path:
    for argv in (
        ["init", str(r)],
        ["server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2.5",
         "--memory", "8GiB", "--disk", "100GiB", "--address", "198.18.0.99"],
        ["account", "create", servers.ACCOUNT, "--domain", "shop.example", "--server", "web1",
         "--no-apply"],  # the catalog only: no server answers at 198.18.0.99
    ):  # fmt: skip
        done = run(*argv, root=r if argv[0] != "init" else None)
        assert done.returncode == 0, done.stderr
    return r


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return _make_root(tmp_path / "root")


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """For commands that must refuse before they write anything."""
    return _make_root(tmp_path_factory.mktemp("shared") / "root")


def test_check_json_and_password_file(root: Path, vsftpd: str, tmp_path: Path) -> None:
    pwfile = tmp_path / "pw"
    pwfile.write_text(f"files={servers.OLD_PASSWORD}\n")
    pwfile.chmod(0o600)
    result = invoke(
        servers.ACCOUNT, "--files", vsftpd, "--check", "--json", "--password-file", str(pwfile),
        env={"BUBBLE_ROOT": str(root)}, app=migrate_app,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["check_only"]
    assert report["preflight"]["fits"]
    assert report["preflight"]["parts"][0]["bytes"] > 100 * 1024 * 1024
    assert servers.OLD_PASSWORD not in result.output


def test_wrong_password_one_line_and_password_in_url_refused(root: Path, vsftpd: str) -> None:
    env = {"BUBBLE_ROOT": str(root), "BUBBLE_MIGRATE_FILES_PASSWORD": "wrong"}
    result = invoke(servers.ACCOUNT, "--files", vsftpd, "--check", env=env, app=migrate_app)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "login: 530" in errors[0]
    bad = vsftpd.replace(f"{servers.OLD_USER}@", f"{servers.OLD_USER}:secret@")
    result = invoke(servers.ACCOUNT, "--files", bad, "--check", env=env, app=migrate_app)
    assert result.exit_code != 0 and "secret" not in result.output
    assert "no password in the URL" in str(result.exception) + result.output


def _bubble(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `bubble` in a process of its own: stdout, stderr and the exit code as shipped."""
    return run(*args, root=root, timeout=300, own_bubble_env=False)


def _stored(root: Path) -> bytes:
    """Everything bubble keeps under the root (catalog, state DB with the job records)."""
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def _password_file(tmp_path: Path, **values: str) -> Path:
    path = tmp_path / "passwords"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


def test_wrong_passwords_with_url_characters_never_show(
    root: Path, tmp_path: Path, vsftpd: str, db_url: str, old_imap: str
) -> None:
    secret = data.SPECIAL_PASSWORD + "@x:y/z?#"
    pw = _password_file(tmp_path, files=secret, db=secret, mail=secret, mailbox=secret)
    for part, url, extra in (("--files", vsftpd, []), ("--db", db_url, ["--json"]),
                             ("--mail", f"{old_imap}={data.TARGET_MAILBOX}", [])):  # fmt: skip
        run = _bubble(root, "migrate", servers.ACCOUNT, part, url, "--password-file", str(pw),
                      *extra)  # fmt: skip
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stderr
        assert "login" in run.stdout + run.stderr
        for text in (secret, data.SPECIAL_PASSWORD, "x:y/z"):
            assert text not in run.stdout + run.stderr
    stored = _stored(root)
    assert b"login" in stored  # the failed jobs are recorded...
    assert secret.encode() not in stored and data.SPECIAL_PASSWORD.encode() not in stored


@pytest.mark.parametrize(
    "url",
    [
        "ftp://bbmold:{}@127.0.0.1:21/",
        "mysql://olduser:{}@127.0.0.1:3306/shop",
        "imaps://alice:{}@127.0.0.1=box@example.com",
    ],
)
def test_password_in_a_url_never_shows(shared_root: Path, url: str) -> None:
    secret = data.SPECIAL_PASSWORD
    part = {"ftp": "--files", "mys": "--db", "ima": "--mail"}[url[:3]]
    run = _bubble(shared_root, "migrate", servers.ACCOUNT, part, url.format(secret), "--check")
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: ") and "no password in the URL" in line
    assert secret not in run.stdout + run.stderr
    assert "e?c#r" not in run.stderr and "x'y" not in run.stderr


def test_plaintext_sources_are_warned_about(
    shared_root: Path, tmp_path: Path, vsftpd: str, plain_db: object
) -> None:
    pw = _password_file(tmp_path, files=servers.OLD_PASSWORD, db=data.DB_PASSWORD)
    plain = f"mysql://olduser@127.0.0.1:{servers.PORT_DB_PLAIN}/shop?tls=no"
    run = _bubble(shared_root, "migrate", servers.ACCOUNT, "--files", vsftpd, "--db", plain,
                  "--check", "--json", "--password-file", str(pw))  # fmt: skip
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert f"ftp://{servers.OLD_USER}@127.0.0.1:{servers.PORT_VSFTPD}/: unencrypted" in warnings[0]
    assert f"127.0.0.1:{servers.PORT_DB_PLAIN}/shop: unencrypted" in warnings[1]
    assert json.loads(run.stdout)["warnings"] == [w.removeprefix("warning: ") for w in warnings]


def test_names_that_look_like_markup_are_printed_as_they_are(
    shared_root: Path, tmp_path: Path, vsftpd_odd: str
) -> None:
    pw = _password_file(tmp_path, files=servers.OLD_PASSWORD)
    run = _bubble(shared_root, "migrate", servers.ACCOUNT, "--files", f"{vsftpd_odd}a[/x]",
                  "--check", "--password-file", str(pw))  # fmt: skip
    assert run.returncode == 0, run.stderr
    size = len(data.ODD_FILES["a[/x]/[bold]f.txt"])
    assert f"check  files {vsftpd_odd}a[/x]: {size} B, 1 items" in run.stdout
