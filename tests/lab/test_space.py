"""Space outside the bubble (issue 7, item 6), attacked from inside an account.

One lab server (spc-web1, 198.18.0.71) converged with site.yml for alice and bob (100 MiB of
disk, 160 MiB of memory each). alice's PHP (over HTTP) and `bubble account exec` (glue's
in_bubble command line) try to fill every place they can write: /tmp, /var/tmp, /dev/shm,
/run/lock, the session, upload and temp directories, a database, and the server's
connections. Each write stops at the account's disk limit or at a small private tmpfs;
nothing of alice's lands anywhere else on the server; bob never notices.
"""

from __future__ import annotations

import http.client
import json
import shlex
import threading
import time
import uuid
from typing import Any

import pytest

from glue.remote import in_bubble
from tests.support.lab_server import http_get, put_file
from tests.support.playbooks import Inventory, account

pytestmark = pytest.mark.lab

SERVER = "spc-web1"
ADDRESS = "198.18.0.71"
MIB = 1024 * 1024
DISK_MIB = 100
# Where alice's own code may write (everything else must be read-only for it).
ALLOWED_WRITABLE = ("/srv/alice", "/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")

FILL_PHP = """<?php
header('Content-Type: text/plain');
$dirs = ['tmp' => '/tmp', 'vartmp' => '/var/tmp', 'shm' => '/dev/shm', 'runlock' => '/run/lock',
         'session' => session_save_path(), 'tmpdir' => sys_get_temp_dir(),
         'upload' => ini_get('upload_tmp_dir')];
$dir = $dirs[$_GET['what']];
$path = $dir . '/fill-' . getmypid();
$f = @fopen($path, 'wb');
$mib = 0;
while ($f && $mib < 200) {
    $chunk = random_bytes(1048576);  // incompressible: /srv is btrfs with compression
    if (@fwrite($f, $chunk) !== 1048576 || !@fflush($f)) { break; }
    $mib++;
}
if ($f) { @fclose($f); }
echo json_encode(['dir' => $dir, 'mib' => $mib, 'opened' => (bool) $f]), "\\n";
if (($_GET['keep'] ?? '') !== '1') { @unlink($path); }
"""

UPLOAD_PHP = """<?php
header('Content-Type: text/plain');
echo json_encode(['error' => $_FILES['f']['error'] ?? -1, 'size' => $_FILES['f']['size'] ?? 0]);
"""

SHM_PHP = """<?php
header('Content-Type: text/plain');
if (isset($_GET['put'])) { file_put_contents('/dev/shm/' . basename($_GET['put']), 'secret'); }
echo json_encode(scandir('/dev/shm')), "\\n";
"""


def exec_as(server: Any, name: str, script: str, timeout: int = 120) -> Any:
    """`bubble account exec NAME`: glue's own command line, the script on stdin."""
    command = shlex.join(in_bubble(name, ["sh", "-s"], timeout))
    return server.ssh(command, input=script, check=False, timeout=timeout + 60)


@pytest.fixture(scope="module")
def space(lab_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Inventory]:
    server = lab_server(SERVER, ADDRESS, disk_gib=2)
    inv = Inventory(tmp_path_factory.mktemp("space-inventory"), server)
    inv.accounts["alice"] = account(["alice.example"], disk_mib=DISK_MIB)
    inv.accounts["bob"] = account(["bob.example"], disk_mib=DISK_MIB)
    done = inv.run("site.yml")
    assert done.returncode == 0, done.output[-6000:]
    for name in ("alice", "bob"):
        put_file(server, name, f"/srv/{name}/www/fill.php", FILL_PHP)
        put_file(server, name, f"/srv/{name}/www/upload.php", UPLOAD_PHP)
        put_file(server, name, f"/srv/{name}/www/shm.php", SHM_PHP)
    return server, inv


def _alice_files_outside(server: Any) -> list[str]:
    """Every file or directory of alice's on the server outside her home, as root sees it."""
    out = server.ssh(
        "for m in / /tmp /var/tmp /dev/shm /run /run/lock /dev/mqueue; do "
        "find $m -xdev -user alice -not -path '/srv/alice*' -not -path '/proc/*' 2>/dev/null; "
        "done | sort -u",
        check=False,
    ).stdout
    return out.split()


def _root_avail(server: Any) -> int:
    return int(server.ssh("df --output=avail -B1 / | tail -1").stdout)


def _used(server: Any, name: str) -> int:
    return int(json.loads(server.ssh(f"bubble-btrfs show {name}").stdout)["referenced"])


def test_php_fills_stop_at_private_tmpfs_or_the_disk_limit(space: Any) -> None:
    server, _ = space
    avail = _root_avail(server)
    caps = {"tmp": 64, "vartmp": 64, "shm": 16, "runlock": 1}
    for what, cap in caps.items():
        status, body = http_get(ADDRESS, "alice.example", f"/fill.php?what={what}", timeout=120)
        assert status == 200, (what, body)
        got = json.loads(body)
        assert got["opened"] and got["mib"] <= cap, (what, got)
    for what in ("session", "tmpdir", "upload"):
        status, body = http_get(ADDRESS, "alice.example", f"/fill.php?what={what}", timeout=120)
        assert status == 200, (what, body)
        got = json.loads(body)
        assert got["dir"] == "/srv/alice/tmp", got
        assert got["opened"] and got["mib"] < DISK_MIB, (what, got)
    # 7 x 200 MiB tried; nothing of it landed outside alice's home.
    assert _alice_files_outside(server) == []
    assert avail - _root_avail(server) < 150 * MIB
    status, body = http_get(ADDRESS, "bob.example", "/fill.php?what=session")
    assert status == 200 and json.loads(body)["mib"] >= 90, body


def test_an_upload_past_the_disk_limit_fails(space: Any) -> None:
    server, _ = space
    # alice's disk is full but for ~20 MiB; a 50 MiB upload cannot be stored.
    filled = exec_as(
        server, "alice", "dd if=/dev/urandom of=www/filler bs=1M count=80 2>&1; echo rc=$?\n"
    )
    assert "rc=0" in filled.stdout, filled.stdout + filled.stderr
    try:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + bytes(50 * MIB)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        conn = http.client.HTTPConnection(ADDRESS, 80, timeout=120)
        conn.request(
            "POST", "/upload.php", body=body,
            headers={"Host": "alice.example",
                     "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        resp = conn.getresponse()
        answer = resp.read().decode()
        conn.close()
        assert resp.status == 200, answer
        assert json.loads(answer)["error"] != 0, answer  # UPLOAD_ERR_CANT_WRITE / PARTIAL
        assert _alice_files_outside(server) == []
        assert _used(server, "alice") <= (DISK_MIB + 2) * MIB
    finally:
        exec_as(server, "alice", "rm -f www/filler\n")


def test_account_exec_writes_only_its_home_and_private_tmpfs(space: Any) -> None:
    server, _ = space
    script = (
        "for d in /tmp /var/tmp /dev/shm /run/lock; do "
        "dd if=/dev/zero of=$d/fill bs=1M count=200 2>/dev/null; "
        'echo "$d $(du -m $d/fill | cut -f1)"; rm -f $d/fill; done; '
        "echo ---; find / \\( -path /proc -o -path /sys \\) -prune -o "
        "-type d -writable -print 2>/dev/null\n"
    )
    done = exec_as(server, "alice", script)
    sizes, _, writable = done.stdout.partition("---")
    caps = {"/tmp": 64, "/var/tmp": 64, "/dev/shm": 16, "/run/lock": 1}
    for line in sizes.strip().splitlines():
        where, mib = line.split()
        assert int(mib) <= caps[where], line
    assert len(sizes.strip().splitlines()) == 4, done.stdout + done.stderr
    outside = [
        d
        for d in writable.split()
        if not any(d == ok or d.startswith(ok + "/") for ok in ALLOWED_WRITABLE)
    ]
    assert outside == [], outside
    assert _alice_files_outside(server) == []


def test_dev_shm_of_one_account_is_invisible_to_the_other(space: Any) -> None:
    server, _ = space
    status, body = http_get(ADDRESS, "bob.example", "/shm.php?put=bob-secret")
    assert status == 200 and "bob-secret" in body, body
    status, body = http_get(ADDRESS, "alice.example", "/shm.php")
    assert status == 200 and "bob-secret" not in body, body
    seen = exec_as(server, "alice", "ls -a /dev/shm /run/shm; ipcs -m\n")
    assert "bob-secret" not in seen.stdout, seen.stdout
    # Not on the server's own /dev/shm either: bob's lives in his PHP's private tmpfs.
    assert "bob-secret" not in server.ssh("ls -a /dev/shm").stdout


def _mariadb_pid(server: Any) -> str:
    return server.ssh("systemctl show -P MainPID mariadb.service").stdout.strip()


FILL_DB = """mariadb alice_site -e "CREATE TABLE IF NOT EXISTS big (id INT AUTO_INCREMENT
  PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB" 2>&1
i=0
while [ $i -lt 250 ]; do
  out=$(mariadb alice_site -e "INSERT INTO big (b) SELECT REPEAT(SHA2(RAND(), 512), 8192)" 2>&1) \\
    || { echo "refused at $i: $out"; break; }
  i=$((i+1)); sleep 0.2
done
# The guard may end the connection in the middle of an INSERT (error 2006): the next one is
# refused by privileges.
mariadb alice_site -e "INSERT INTO big (b) SELECT REPEAT('x', 1024)" 2>&1 || echo "then refused"
"""


def test_database_writes_are_refused_past_the_disk_limit(space: Any) -> None:
    server, inv = space
    pid = _mariadb_pid(server)
    filled = exec_as(server, "alice", FILL_DB, timeout=300)
    assert "refused at" in filled.stdout, filled.stdout[-2000:]
    assert "command denied to user 'alice'" in filled.stdout, filled.stdout[-2000:]
    shown = json.loads(server.ssh("bubble-db-guard show alice").stdout)
    assert shown["over"] and shown["writes"] == "refused", shown
    # Overshoot is bounded by what alice writes in a guard period or two (5 s each): here at
    # most about 5 MiB/s (1 MiB rows, 0.2 s apart), so 60 MiB leaves room for a busy host.
    assert shown["used"] <= (DISK_MIB + 60) * MIB, shown
    # A converge meanwhile keeps the writes refused (and changes nothing).
    converged = inv.run("accounts.yml")
    assert converged.returncode == 0, converged.output[-4000:]
    assert converged.changed(SERVER) == 0, "\n".join(converged.changed_tasks())
    still = exec_as(
        server, "alice", 'mariadb alice_site -e "INSERT INTO big (b) VALUES (1)" 2>&1\n'
    )
    assert "command denied" in still.stdout, still.stdout
    # The server never went down, and bob's database takes writes.
    assert _mariadb_pid(server) == pid
    bob = exec_as(
        server,
        "bob",
        'mariadb bob_site -N -e "CREATE TABLE IF NOT EXISTS t (x INT); INSERT INTO t VALUES (1);'
        ' SELECT COUNT(*) FROM t" 2>&1\n',
    )
    assert bob.stdout.strip().endswith("1"), bob.stdout
    # Reading and cleaning up stay allowed; once under the limit, writes come back.
    cleaned = exec_as(
        server, "alice", 'mariadb alice_site -N -e "SELECT COUNT(*) > 0 FROM big; DROP TABLE big"\n'
    )
    assert cleaned.stdout.strip() == "1", cleaned.stdout + cleaned.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        again = exec_as(
            server, "alice", 'mariadb alice_site -e "CREATE TABLE t2 (x INT)" 2>&1; echo rc=$?\n'
        )
        if "rc=0" in again.stdout:
            break
        time.sleep(2)
    else:
        raise AssertionError(f"writes never came back: {again.stdout}")


def test_one_account_cannot_take_every_database_connection(space: Any) -> None:
    server, _ = space
    limit = 20
    script = (
        f"for i in $(seq 1 {limit + 1}); do "
        "(mariadb -N -e 'SELECT SLEEP(10)' > /tmp/c.$i 2>&1; echo rc=$? >> /tmp/c.$i) & "
        "sleep 0.1; done; wait; cat /tmp/c.*\n"
    )
    result: dict[str, Any] = {}
    hog = threading.Thread(target=lambda: result.update(out=exec_as(server, "alice", script)))
    hog.start()
    try:
        time.sleep(5)  # alice's connections are all open now
        bob = exec_as(server, "bob", "mariadb -N -e 'SELECT 42' 2>&1\n")
        assert bob.stdout.strip() == "42", bob.stdout
    finally:
        hog.join(120)
    out = result["out"].stdout
    assert out.count("max_user_connections") == 1, out
    assert out.count("rc=0") == limit, out
