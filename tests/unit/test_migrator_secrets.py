"""One password-file check for `bubble migrate` and `bubble account mailbox|ftp-password`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.secrets import SecretsError, read_password_file, read_secret_file
from tests.support.cli import CliResult

Bubble = Callable[..., CliResult]
SECRET = "s/e?c#r@e:t"


def _file(tmp_path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "pw"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_private_file_is_read(tmp_path: Path, mode: int) -> None:
    assert read_secret_file(_file(tmp_path, f"{SECRET}\n", mode)) == f"{SECRET}\n"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o601])
def test_file_others_may_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = _file(tmp_path, SECRET, mode)
    with pytest.raises(SecretsError) as err:
        read_secret_file(path)
    assert str(err.value) == (
        f"password file {path}: group or others may access it (mode {mode:04o}); chmod 600 {path}"
    )


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda d: d / "missing", "No such file or directory"),
        (lambda d: d, "is a directory"),
        (lambda d: _file(d, ""), "is empty"),
        (lambda d: _file(d, " \n\n"), "is empty"),
        (lambda d: _file(d, b"\xff\xfe"), "not UTF-8 text"),
        (lambda d: Path("/dev/null"), "not a regular file"),
    ],
)
def test_unusable_file_is_one_line_naming_it(
    tmp_path: Path, make: Callable[[Path], Path], why: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(SecretsError) as err:
        read_secret_file(path)
    assert str(err.value) == f"password file {path}: {why}"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_file_the_user_cannot_read(tmp_path: Path) -> None:
    """As `nobody` (root reads everything): the error names the file, no traceback."""
    path = _file(tmp_path, "x")  # root's, 0600
    tmp_path.chmod(0o755)
    code = (
        "import sys; from pathlib import Path\n"
        "from migrator.secrets import SecretsError, read_secret_file\n"
        "try:\n    read_secret_file(Path(sys.argv[1]))\n"
        "except SecretsError as exc:\n    print(exc)\n"
    )
    run = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         "/usr/bin/python3", "-c", code, str(path)],  # stdlib-only module: the system python
        capture_output=True, text=True, check=False, cwd="/",
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == f"password file {path}: Permission denied\n"


def test_a_pipe_passes(tmp_path: Path) -> None:
    """`--password-file <(pass show old-host)`: a pipe only its owner can open."""
    r, w = os.pipe()
    os.write(w, b"files=x\n")
    os.close(w)
    try:
        assert read_password_file(Path(f"/dev/fd/{r}")) == {"files": "x"}
    finally:
        os.close(r)


def test_bad_line_names_the_line_never_the_value(tmp_path: Path) -> None:
    path = _file(tmp_path, f"files=ok\n{SECRET}\n")
    with pytest.raises(SecretsError) as err:
        read_password_file(path)
    assert str(err.value).startswith(f"password file {path}:2: expected KEY=password")
    assert SECRET not in str(err.value)


@pytest.fixture
def account(bubble: Bubble, two_servers: None) -> str:
    code, _, err = bubble("account", "create", "a1", "--domain", "a1.example")
    assert code == 0, err
    return "a1"


@pytest.mark.parametrize(
    "command",
    [
        ["account", "ftp-password", "a1"],
        ["account", "mailbox", "a1", "info@a1.example"],
        ["migrate", "a1", "--files", "sftp://bob@old.example/www"],
    ],
)
@pytest.mark.parametrize(
    ("content", "mode", "why"),
    [
        (f"files={SECRET}\n", 0o644, "group or others may access it (mode 0644)"),
        (f"files={SECRET}\n", 0o640, "group or others may access it (mode 0640)"),
        ("", 0o600, "is empty"),
        (None, 0o600, "No such file or directory"),
        ("dir", 0o700, "is a directory"),
    ],
)
def test_cli_refuses_with_one_error_line(
    bubble: Bubble,
    account: str,
    tmp_path: Path,
    command: list[str],
    content: str | None,
    mode: int,
    why: str,
) -> None:
    path = tmp_path / "pw"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        _file(tmp_path, content, mode)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.yml")}
    code, out, err = bubble(*command, "--password-file", str(path))
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith(f"error: password file {path}: {why}")
    assert SECRET not in out + err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.yml")} == before  # nothing written


def test_account_password_file_first_line_empty(
    bubble: Bubble, account: str, tmp_path: Path
) -> None:
    path = _file(tmp_path, "\nsecond line\n")
    code, _, err = bubble("account", "ftp-password", account, "--password-file", str(path))
    assert code == 1 and err == f"error: password file {path}: the first line is empty\n"
