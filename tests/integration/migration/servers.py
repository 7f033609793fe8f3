"""Real old-host and target servers on loopback for the migration tests.

Ports (127.0.0.1 only, picked to stay clear of the other test suites):
  23421 vsftpd (LIST only)   23430-23439 its passive range
  23422 pyftpdlib FTPS       23440-23459 its passive range
  23423 sshd (SFTP)
  23424 vsftpd, odd tree     23470-23479 its passive range
  23425 pyftpdlib FTPS with quirks, odd tree   23480-23489 its passive range
  23426 vsftpd, a tree with a file the user may not read   23500-23509 its passive range
  23406 MariaDB "old host" (TLS, our own CA)   23407 MariaDB "target"
  23408 MariaDB "old host" without TLS
  23993 Dovecot "old host" (IMAPS)   23143 Dovecot "target" (IMAP)
  23994 Dovecot "modern old host" (IMAPS, folder names with dots)
  23995 Dovecot "target" over IMAPS (the panel reaches the account's mailboxes so)
BUBBLE_MIGTEST_PORT_OFFSET=N moves every port and range by N (two runs of this suite at once).
Every server is a child Popen'ed here and stopped by its PID with wait(): PID 1 on these
machines does not reap orphans.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

OLD_USER = "bbmold"  # the customer's login on the old host (FTP, SFTP)
OLD_PASSWORD = "old pass 1!"
ACCOUNT = "bbmacct"  # the Bubblehost account on the "server" (a local system user)

OFFSET = int(os.environ.get("BUBBLE_MIGTEST_PORT_OFFSET", "0"))
PORT_VSFTPD = 23421 + OFFSET
PORT_FTPS = 23422 + OFFSET
PORT_SSHD = 23423 + OFFSET
PORT_VSFTPD_ODD = 23424 + OFFSET
PORT_FTPS_ODD = 23425 + OFFSET
PORT_DB_OLD = 23406 + OFFSET
PORT_DB_TARGET = 23407 + OFFSET
PORT_DB_PLAIN = 23408 + OFFSET
PORT_IMAPS_OLD = 23993 + OFFSET
PORT_IMAP_TARGET = 23143 + OFFSET
PORT_IMAPS_NAMES = 23994 + OFFSET
PORT_IMAPS_TARGET = 23995 + OFFSET
PORT_VSFTPD_REFUSED = 23426 + OFFSET


def passive(low: int, n: int = 10) -> tuple[int, int]:
    """A passive port range (first, last) from its base port, moved by OFFSET."""
    return low + OFFSET, low + OFFSET + n - 1


RUNNING: dict[str, Server] = {}  # for tests that break a server's sessions on purpose


def descendants(pid: int) -> list[int]:
    """Every process below pid (a server's per-connection processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def ensure_user(name: str, password: str | None = None) -> pwd.struct_passwd:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "-M", "-d", "/nonexistent", "-s", "/bin/bash", name],
            check=True,
        )
        pw = pwd.getpwnam(name)
    if password is not None:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    return pw


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path | None = None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"server on port {port} exited {proc.returncode}: {text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on port {port}")


class Server:
    """A child process stopped by its PID."""

    def __init__(self, argv: Sequence[str], log: Path, port: int | None = None, **kw: object):
        self.log = log
        fh = log.open("ab")
        self.proc = subprocess.Popen(list(argv), stdout=fh, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
        fh.close()
        if port is not None:
            wait_port(port, self.proc, log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_cert(d: Path) -> tuple[Path, Path]:
    cert, key = d / "cert.pem", d / "key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "3", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )  # fmt: skip
        key.chmod(0o600)
    return cert, key


def make_ca(d: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signed (127.0.0.1, localhost): (ca, cert, key).

    Unlike make_cert's self-signed leaf, this is how real servers are set up, and a client
    that trusts the CA file must check the chain and the name."""
    ca, ca_key = d / "ca.pem", d / "ca.key"
    cert, key, csr, ext = d / "server.pem", d / "server.key", d / "server.csr", d / "server.ext"
    if not cert.exists():
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for argv in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out",
             str(ca), "-days", "3", "-subj", "/CN=Bubblehost test CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", "3", "-extfile", str(ext)],
        ):  # fmt: skip
            subprocess.run(["openssl", *argv], check=True, capture_output=True)
        key.chmod(0o600)
    return ca, cert, key


def start_vsftpd(
    base: Path,
    site: Path,
    port: int = PORT_VSFTPD,
    passive: tuple[int, int] = (23430 + OFFSET, 23439 + OFFSET),
    name: str = "vsftpd",
) -> Server:
    d = base / name
    empty = d / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    empty.chmod(0o755)
    conf = d / "vsftpd.conf"
    conf.write_text(
        "\n".join(
            [
                "listen=YES", "listen_ipv6=NO", "background=NO",
                "listen_address=127.0.0.1", f"listen_port={port}",
                "anonymous_enable=NO", "local_enable=YES", "write_enable=NO",
                "pasv_enable=YES", "pasv_address=127.0.0.1",
                f"pasv_min_port={passive[0]}", f"pasv_max_port={passive[1]}",
                "connect_from_port_20=NO",
                "chroot_local_user=YES", "allow_writeable_chroot=YES", f"local_root={site}",
                f"secure_chroot_dir={empty}", "seccomp_sandbox=NO", "isolate_network=NO",
                "pam_service_name=vsftpd", "use_localtime=NO", "xferlog_enable=YES",
                f"vsftpd_log_file={d}/xfer.log", "utf8_filesystem=YES", "max_per_ip=50",
                "",
            ]
        )
    )  # fmt: skip
    server = Server(["/usr/sbin/vsftpd", str(conf)], d / "out.log", port)
    RUNNING[name] = server
    return server


_PYFTPD = """
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer
port, user, password, home, cert, key = sys.argv[1:7]
low, high = (int(x) for x in (sys.argv[7:9] or ["23440", "23460"]))
auth = DummyAuthorizer()
auth.add_user(user, password, home, perm="elr")
h = TLS_FTPHandler
if sys.argv[9:] == ["quirks"]:
    # What some old hosts do: names go out as the raw bytes on disk (not always UTF-8), MLSD
    # leaves `modify` out for some entries, MDTM refuses some files.
    import re
    from pyftpdlib.filesystems import AbstractedFS

    class QuirkyFs(AbstractedFS):  # chrooted to the home, like the stock one
        def format_mlsx(self, *args, **kwargs):
            for line in super().format_mlsx(*args, **kwargs):
                yield re.sub(rb"modify=[0-9]+;", b"", line) if b"nomodify" in line else line

    class QuirkyHandler(TLS_FTPHandler):
        unicode_errors = "surrogateescape"
        abstracted_fs = QuirkyFs

        def ftp_MDTM(self, path):
            if "nomdtm" in path:
                return self.respond("550 Could not get file modification time.")
            return super().ftp_MDTM(path)

    h = QuirkyHandler
h.authorizer = auth
h.certfile, h.keyfile = cert, key
h.tls_control_required = True
h.tls_data_required = True
h.passive_ports = range(low, high)
FTPServer(("127.0.0.1", int(port)), h).serve_forever()
"""


def start_pyftpdlib(
    base: Path,
    site: Path,
    cert: Path,
    key: Path,
    port: int = PORT_FTPS,
    passive: tuple[int, int] = (23440 + OFFSET, 23460 + OFFSET),
    quirks: bool = False,
) -> Server:
    """FTPS (pyftpdlib) serving site; other suites pass a port and passive range of their own."""
    d = base / f"pyftpdlib-{port}"
    d.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", _PYFTPD, str(port), OLD_USER, OLD_PASSWORD, str(site),
            str(cert), str(key), str(passive[0]), str(passive[1]),
            *(["quirks"] if quirks else [])]  # fmt: skip
    return Server(argv, d / "out.log", port)


def start_sshd(base: Path) -> tuple[Server, Path]:
    d = base / "sshd"
    d.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    hostkey = d / "ssh_host_ed25519_key"
    if not hostkey.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)],
                       check=True)  # fmt: skip
    conf = d / "sshd_config"
    conf.write_text(
        "\n".join(
            [
                f"Port {PORT_SSHD}", "ListenAddress 127.0.0.1", f"HostKey {hostkey}",
                "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "UsePAM no",
                "PubkeyAuthentication no", f"AllowUsers {OLD_USER}", f"PidFile {d}/sshd.pid",
                "Subsystem sftp internal-sftp", "StrictModes no", "LogLevel ERROR", "",
            ]
        )
    )  # fmt: skip
    server = Server(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)], d / "out.log", PORT_SSHD)
    known = d / "known_hosts"
    pub = (d / "ssh_host_ed25519_key.pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{PORT_SSHD} {pub[0]} {pub[1]}\n")
    return server, known


def fresh_home(base: Path, name: str) -> Path:
    """The account's home on its 'server': a directory owned by the account user."""
    pw = pwd.getpwnam(ACCOUNT)
    home = base / "targets" / name
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    return home


class MariaDB:
    """One mariadbd with its own datadir, socket and TCP port; root logs in via the socket.

    tls: (ca, cert, key) to offer TLS; without it the server has none (have_ssl DISABLED).
    bind: loopback addresses to listen on, comma-separated."""

    def __init__(
        self,
        base: Path,
        name: str,
        port: int,
        tls: tuple[Path, Path, Path] | None = None,
        bind: str = "127.0.0.1",
    ) -> None:
        d = base / f"mariadb-{name}"
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)  # the account user reaches the socket below
        self.socket = d / "mysqld.sock"
        self.port = port
        data = d / "data"
        if not data.exists():
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={data}",
                 "--auth-root-authentication-method=socket", "--skip-test-db"],
                check=True, capture_output=True,
            )  # fmt: skip
        self.server = Server(
            ["mariadbd", "--no-defaults", "--user=root", f"--datadir={data}",
             f"--socket={self.socket}", f"--port={port}", f"--bind-address={bind}",
             f"--pid-file={d}/mysqld.pid", f"--log-error={d}/error.log", "--skip-log-bin",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
             *([f"--ssl-ca={tls[0]}", f"--ssl-cert={tls[1]}", f"--ssl-key={tls[2]}"]
               if tls else [])],
            d / "out.log", port,
        )  # fmt: skip

    def sql(self, script: str, db: str | None = None) -> str:
        argv = ["mariadb", f"--socket={self.socket}", "-u", "root", "-N", "-B",
                "--default-character-set=utf8mb4"]  # fmt: skip
        if db:
            argv.append(db)
        proc = subprocess.run(argv, input=script, text=True, capture_output=True, check=False)
        if proc.returncode:
            raise RuntimeError(proc.stderr.strip())
        return proc.stdout

    def stop(self) -> None:
        self.server.stop()


MAIL_PASSWORD = "mail pass 1"


class Dovecot:
    """A Dovecot 2.3 of its own: IMAP only, passwd-file users, maildirs owned by nobody.

    style "old": Courier-like namespace (prefix INBOX., separator '.'), IMAPS with our cert.
    style "target": separator '/', no prefix, special-use folders, per-user quotas, and the
    servers' mail layout (LAYOUT=fs: folder names may hold dots).
    style "modern": an old host like "target" (IMAPS), whose folder names hold dots.
    """

    def __init__(self, base: Path, name: str, port: int, style: str, cert: tuple[Path, Path],
                 users: dict[str, str]) -> None:  # fmt: skip
        d = base / f"dovecot-{name}"
        home = d / "home"
        home.mkdir(parents=True, exist_ok=True)
        nobody = pwd.getpwnam("nobody")
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        # user -> passwd-file line; extra fields (quota) in the last column.
        lines = [
            f"{u}:{{PLAIN}}{MAIL_PASSWORD}:{nobody.pw_uid}:{nobody.pw_gid}::{home}/{u}::{extra}"
            for u, extra in users.items()
        ]
        (d / "passwd").write_text("\n".join(lines) + "\n")
        old = style == "old"
        tls = style in ("old", "modern")
        ns = (
            "namespace inbox {\n inbox = yes\n separator = .\n prefix = INBOX.\n}\n"
            if old
            else "namespace inbox {\n inbox = yes\n separator = /\n prefix =\n"
            " mailbox Sent {\n  special_use = \\Sent\n  auto = subscribe\n }\n"
            " mailbox Trash {\n  special_use = \\Trash\n  auto = subscribe\n }\n"
            " mailbox Drafts {\n  special_use = \\Drafts\n  auto = subscribe\n }\n"
            " mailbox Junk {\n  special_use = \\Junk\n  auto = subscribe\n }\n}\n"
        )
        listener = (
            f"inet_listener imap {{\n  port = 0\n }}\n inet_listener imaps {{\n  port = {port}\n"
            "  ssl = yes\n }\n"
            if tls
            else f"inet_listener imap {{\n  port = {port}\n }}\n inet_listener imaps {{\n"
            "  port = 0\n }\n"
        )
        conf = d / "dovecot.conf"
        conf.write_text(
            f"""instance_name = bubble-mig-{name}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = {"required" if tls else "no"}
ssl_cert = <{cert[0]}
ssl_key = <{cert[1]}
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {{
 driver = passwd-file
 args = scheme=PLAIN {d}/passwd
}}
userdb {{
 driver = passwd-file
 args = {d}/passwd
}}
mail_location = maildir:~/Maildir{"" if old else ":LAYOUT=fs"}
mail_plugins = $mail_plugins quota
protocol imap {{
 mail_plugins = $mail_plugins imap_quota
}}
plugin {{
 quota = maildir:User quota
}}
service imap-login {{
 {listener}}}
service stats {{
 unix_listener stats-writer {{
  mode = 0666
 }}
}}
{ns}"""
        )
        self.server = Server(["dovecot", "-F", "-c", str(conf)], d / "out.log", port)

    def stop(self) -> None:
        self.server.stop()
