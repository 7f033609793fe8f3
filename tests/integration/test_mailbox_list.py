"""The server's list of an account's mailboxes (roles/mail's bubble-mailboxes, which the panel
runs over ssh) against a real Dovecot: the addresses of the account's domains that Dovecot's
userdb gives to the account's user, made through bubble or otherwise (a migration's) alike.
Another account's address in the same domain, another domain's, a user Dovecot will not
serve and a hostile domain argument are not listed."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
ACCOUNT = "mbxlist"  # a system user of group bubble, as the account role makes them


@pytest.fixture(scope="module")
def account() -> pwd.struct_passwd:
    subprocess.run(["groupadd", "-f", "-r", "bubble"], check=True)
    try:
        return pwd.getpwnam(ACCOUNT)
    except KeyError:
        subprocess.run(["useradd", "--system", "-M", "-d", "/nonexistent", "-G", "bubble",
                        "-s", "/usr/sbin/nologin", ACCOUNT], check=True)  # fmt: skip
        return pwd.getpwnam(ACCOUNT)


@pytest.fixture
def server(account: pwd.struct_passwd) -> Iterator[tuple[Path, dict[str, str]]]:
    """A Dovecot of its own with the users file, and `bubble-mailboxes` talking to it. Its
    auth process runs as dovecot: the directory is one it may enter (pytest's is root's)."""
    tmp_path = Path(tempfile.mkdtemp(prefix="bubble-mbxlist-"))
    tmp_path.chmod(0o755)
    other = pwd.getpwnam("nobody")
    users = [
        ("info@shop.example", account.pw_uid),  # made through bubble
        ("sales@shop.example", account.pw_uid),  # migrated in
        ("old@blog.example", account.pw_uid),
        ("boss@shop.example", other.pw_uid),  # another account's: not this one's
        ("root@shop.example", 0),  # below first_valid_uid: Dovecot will not serve it
        ("info@elsewhere.example", account.pw_uid),  # a domain not asked for
    ]
    (tmp_path / "users").write_text("".join(
        f"{a}:{{PLAIN}}x:{uid}:{uid}::{tmp_path}/home/{a}::\n" for a, uid in users))  # fmt: skip
    conf = tmp_path / "dovecot.conf"
    conf.write_text(f"""instance_name = bubble-mbxlist-{os.getpid()}
base_dir = {tmp_path}/run
state_dir = {tmp_path}/state
log_path = {tmp_path}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
first_valid_uid = 100
passdb {{
 driver = passwd-file
 args = scheme=PLAIN username_format=%Lu {tmp_path}/users
}}
userdb {{
 driver = passwd-file
 args = username_format=%Lu {tmp_path}/users
}}
mail_location = maildir:~/Maildir
service imap-login {{
 inet_listener imap {{
  port = 0
 }}
 inet_listener imaps {{
  port = 0
 }}
}}
""")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "doveadm").write_text(f'#!/bin/sh\nexec /usr/bin/doveadm -c {conf} "$@"\n')
    (bin_dir / "doveadm").chmod(0o755)
    template = (ROOT / "roles" / "mail" / "templates" / "bubble-mailboxes.j2").read_text()
    script = tmp_path / "bubble-mailboxes"
    script.write_text(jinja2.Template(template).render(ansible_managed="test"))
    subprocess.run(["dovecot", "-c", str(conf)], check=True)
    deadline = time.monotonic() + 10
    while not (tmp_path / "run" / "auth-userdb").exists():
        assert time.monotonic() < deadline, "dovecot did not start"
        time.sleep(0.05)
    try:
        yield script, {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    finally:
        subprocess.run(["/usr/bin/doveadm", "-c", str(conf), "stop"], check=False)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_accounts_mailboxes_as_dovecot_knows_them(server: tuple[Path, dict[str, str]]) -> None:
    script, env = server
    done = subprocess.run(["sh", str(script), ACCOUNT, "shop.example", "blog.example"],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["info@shop.example", "old@blog.example", "sales@shop.example"]
    for argv, why in (
        ([ACCOUNT, "shop.example\n*"], "bad domain"),
        ([ACCOUNT, "*"], "bad domain"),
        (["root", "shop.example"], "root is not a bubble account"),
        ([ACCOUNT], "usage"),
    ):
        refused = subprocess.run(["sh", str(script), *argv], env=env, capture_output=True,
                                 text=True, check=False)  # fmt: skip
        assert refused.returncode != 0 and why in refused.stderr and not refused.stdout, argv
