"""A hostile tenant on a real lab server: every attack of the hardening review, performed from
inside the account (PHP served by nginx, and `bubble account exec`'s command line), and seen
to fail with the victim's data untouched.

One lab server, two accounts: eve (the attacker, who controls every path, link, socket and
process of her own) and bob (the victim). The tests run in file order and share the server;
the last one converges again after all the attacks and checks that nothing changed and every
root-owned path is still root's.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

import pytest

from glue.remote import in_bubble
from tests.support.lab_server import http_get, put_file
from tests.support.playbooks import Inventory, PlaybookRun, account

pytestmark = pytest.mark.lab

SERVER = "atk-web1"
ADDRESS = "198.18.0.61"
SECRET = "bob's database password: hunter2-0123456789"
# Root-owned places an attacker would love to own, and the account's own root-owned home.
ROOT_PATHS = (
    "/etc",
    "/etc/cron.d",
    "/run/systemd/system",
    "/srv",
    "/srv/eve",
    "/srv/bob",
    "/run/php-fpm-acct-eve",
    "/run/php-fpm-acct-bob",
    "/var/log/bubblehost/eve",
)
# A PHP page of eve's that runs a shell command (the attacker's web shell). PHP's own file
# functions stop at open_basedir; a shell does not, so the Unix permissions are what is tested.
SHELL_PHP = """<?php
header('Content-Type: text/plain');
$out = []; $rc = 0;
exec('(' . $_GET['c'] . ') 2>&1', $out, $rc);
echo implode("\\n", $out), "\\nrc=$rc\\n";
"""
# PHP's own file functions: must stop at eve's tree.
BASEDIR_PHP = """<?php
header('Content-Type: text/plain');
foreach (['/srv/bob/www/secret.php', '/etc/passwd', '/srv/eve/www/own.txt'] as $p) {
    echo $p, '=', var_export(@file_get_contents($p), true), "\\n";
}
"""


@pytest.fixture(scope="module")
def target(lab_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Inventory]:
    server = lab_server(SERVER, ADDRESS, disk_gib=2)
    inv = Inventory(tmp_path_factory.mktemp("attack-inventory"), server)
    inv.accounts["eve"] = account(["eve.example"])
    inv.accounts["bob"] = account(["bob.example"])
    first = inv.run("site.yml")
    assert first.returncode == 0, first.output[-6000:]
    put_file(server, "bob", "/srv/bob/www/secret.php", f"<?php // {SECRET}\n", mode="0644")
    put_file(
        server, "bob", "/srv/bob/www/who.php", "<?php echo posix_getpwuid(posix_geteuid())['name'];"
    )
    put_file(server, "eve", "/srv/eve/www/shell.php", SHELL_PHP)
    put_file(server, "eve", "/srv/eve/www/basedir.php", BASEDIR_PHP)
    put_file(server, "eve", "/srv/eve/www/own.txt", "eve's own file")
    return server, inv


def exec_as(server: Any, name: str, script: str) -> subprocess.CompletedProcess[str]:
    """What `bubble account exec NAME` runs on the server: the same in_bubble() command line."""
    remote = shlex.join(in_bubble(name, ["sh", "-s"], max_seconds=60))
    return server.ssh(remote, input=script, check=False, timeout=90)


def web_shell(command: str) -> str:
    status, body = http_get(ADDRESS, "eve.example", f"/shell.php?c={_q(command)}")
    assert status == 200, (status, body)
    return body


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def both_ways(server: Any, command: str) -> list[str]:
    """The attack as eve's PHP (over HTTP) and as `account exec`: the two outputs."""
    done = exec_as(server, "eve", command + "\necho rc=$?\n")
    return [web_shell(command), done.stdout + done.stderr]


def owner_of(server: Any, path: str) -> str:
    return str(server.ssh(f"stat -c %U:%G:%a {shlex.quote(path)}").stdout.strip())


def bob_is_intact(server: Any) -> None:
    status, body = http_get(ADDRESS, "bob.example", "/who.php")
    assert (status, body) == (200, "bob"), (status, body)
    assert SECRET in server.ssh("cat /srv/bob/www/secret.php").stdout


def test_eve_cannot_swap_her_php_socket_for_bobs(target: Any) -> None:
    server, _ = target
    swap = (
        "rm -f /run/php-fpm-acct-eve/php.sock && "
        "ln -s /run/php-fpm-acct-bob/php.sock /run/php-fpm-acct-eve/php.sock && echo swapped"
    )
    for out in both_ways(server, swap):
        assert "swapped" not in out, out
        assert "Permission denied" in out or "Operation not permitted" in out, out
    assert owner_of(server, "/run/php-fpm-acct-eve").startswith("root:root:755")
    assert owner_of(server, "/run/php-fpm-acct-eve/php.sock") == "www-data:www-data:660"
    # Her scripts still run as eve, bob's as bob.
    assert web_shell("id -un").startswith("eve\n")
    bob_is_intact(server)


def test_eve_cannot_talk_to_bobs_php_directly(target: Any) -> None:
    server, _ = target
    # A FastCGI client of her own would need to connect to bob's socket: only nginx may.
    connect = (
        'python3 -c "import socket; s = socket.socket(socket.AF_UNIX); '
        "s.connect('/run/php-fpm-acct-bob/php.sock'); print('connected')\""
    )
    for out in both_ways(server, connect):
        assert "connected" not in out, out
        assert "PermissionError" in out, out


def test_eve_cannot_read_bobs_scripts_nor_widen_her_home(target: Any) -> None:
    server, _ = target
    for out in both_ways(server, "cat /srv/bob/www/secret.php; ls /srv/bob"):
        assert SECRET not in out, out
        assert "Permission denied" in out, out
    # PHP's own file functions stop at open_basedir, even for world-readable files.
    status, body = http_get(ADDRESS, "eve.example", "/basedir.php")
    assert status == 200, body
    assert "/srv/bob/www/secret.php=false" in body and "/etc/passwd=false" in body, body
    assert "/srv/eve/www/own.txt='eve\\'s own file'" in body, body
    # The home is root's: neither tenant can open it to the others (bob would leak his own).
    for name in ("eve", "bob"):
        out = exec_as(server, name, f"chmod 0755 /srv/{name}; setfacl -m o::rx /srv/{name}\n")
        assert out.returncode != 0 and "Operation not permitted" in out.stdout + out.stderr
        assert owner_of(server, f"/srv/{name}") == "root:www-data:750"
    assert SECRET not in web_shell("cat /srv/bob/www/secret.php")


def test_eve_cannot_plant_links_where_root_works(target: Any) -> None:
    server, _ = target
    plant = (
        "mv /srv/eve/www /srv/eve/www.old && echo planted; rm -rf /srv/eve/tmp && echo planted; "
        "ln -s /run/systemd/system /srv/eve/mail2 && echo planted"
    )
    for out in both_ways(server, plant):
        assert "planted" not in out, out
    assert server.ssh("test -d /srv/eve/www && test ! -L /srv/eve/www", check=False).returncode == 0


def test_a_mailbox_link_inside_the_home_gives_eve_nothing(target: Any) -> None:
    server, _ = target
    # Inside mail/ (hers) she can plant a link where the next mailbox's directory will be;
    # the mailbox script (root) must not hand its target to her.
    out = exec_as(server, "eve", "ln -s /etc/cron.d mail/info@eve.example && echo ok\n")
    assert "ok" in out.stdout, out.stderr
    done = server.ssh(
        "/usr/local/sbin/bubble-mailbox-password eve info@eve.example",
        input="a-good-password\n",
        check=False,
    )
    assert owner_of(server, "/etc/cron.d") == "root:root:755", done.stderr
    assert web_shell("touch /etc/cron.d/eve && echo wrote").count("wrote") == 0


def test_a_hostile_mailbox_address_runs_nothing_as_root(target: Any) -> None:
    server, _ = target
    for address in (
        "x;touch /root/pwn;#@eve.example",
        "$(touch /root/pwn)@eve.example",
        "info@eve.example\n;touch /root/pwn",
        "../../bob/www@eve.example",
    ):
        done = server.ssh(
            shlex.join(["/usr/local/sbin/bubble-mailbox-password", "eve", address]),
            input="a-good-password\n",
            check=False,
        )
        assert done.returncode == 65, (address, done.stdout, done.stderr)
    assert server.ssh("test -e /root/pwn", check=False).returncode != 0
    assert "../../bob" not in server.ssh("cat /etc/dovecot/bubble-users").stdout


def test_nginx_checks_the_web_root_itself(target: Any) -> None:
    server, _ = target
    # A link eve made inside her web root to bob's file is refused...
    exec_as(server, "eve", "ln -s /srv/bob/www/secret.php www/stolen.txt\n")
    status, body = http_get(ADDRESS, "eve.example", "/stolen.txt")
    assert status in (403, 404) and SECRET not in body, (status, body)
    # ...and so is a web root that is itself a link to bob's (as on a server converged before
    # homes were root's, where eve could still swap www).
    server.ssh(
        "mv /srv/eve/www /srv/eve/www.real && ln -s /srv/bob/www /srv/eve/www "
        "&& chown -h eve:eve /srv/eve/www"
    )
    try:
        status, body = http_get(ADDRESS, "eve.example", "/secret.php")
        assert status in (403, 404) and SECRET not in body, (status, body)
    finally:
        server.ssh("rm /srv/eve/www && mv /srv/eve/www.real /srv/eve/www")


def test_a_converge_refuses_a_planted_link_and_follows_none(target: Any) -> None:
    server, inv = target
    # eve's tmp replaced by a link to systemd's unit directory (as eve could before homes were
    # root's): the converge must neither follow it nor hand the target to eve.
    server.ssh(
        "mv /srv/eve/tmp /srv/eve/tmp.real && ln -s /run/systemd/system /srv/eve/tmp "
        "&& chown -h eve:eve /srv/eve/tmp"
    )
    try:
        run = inv.run("accounts.yml")
        assert run.returncode != 0
        assert "/srv/eve/tmp" in run.output and "refused" in run.output, run.output[-3000:]
        assert owner_of(server, "/run/systemd/system") == "root:root:755"
        bob_is_intact(server)
    finally:
        server.ssh("rm /srv/eve/tmp && mv /srv/eve/tmp.real /srv/eve/tmp")


def test_a_domain_with_a_newline_cannot_take_bobs_site(target: Any) -> None:
    server, inv = target
    inv.accounts["eve"]["domains"] = ["eve.example", "bob.example\n"]
    try:
        run = inv.run("accounts.yml")
        assert run.returncode != 0, run.output[-2000:]
        assert "does not have the shape" in run.output, run.output[-2000:]
    finally:
        inv.accounts["eve"]["domains"] = ["eve.example"]
    bob_is_intact(server)


def test_after_every_attack_a_converge_changes_nothing_and_root_keeps_its_paths(
    target: Any,
) -> None:
    server, inv = target
    server.ssh("rm -f /srv/eve/mail/info@eve.example /srv/eve/www/stolen.txt")
    run: PlaybookRun = inv.run("site.yml")
    assert run.returncode == 0, run.output[-4000:]
    assert run.changed(SERVER) == 0, "\n".join(run.changed_tasks())
    for path in ROOT_PATHS:
        assert owner_of(server, path).split(":")[0] == "root", path
    bob_is_intact(server)
