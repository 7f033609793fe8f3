"""The lab server image: Debian 12 with every package the roles need, built once and cached.

Lab servers have no route to a Debian mirror, so whatever a role installs must already be
here. The cache file name carries a hash of the recipe: changing the package list or the
build script gives a new image, an unchanged recipe is never rebuilt.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from glue.providers.lab.config import LabConfig
from glue.providers.lab.errors import LabError
from glue.providers.lab.locks import locked
from glue.providers.lab.mounts import umount_all
from glue.providers.lab.proc import run

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"

# What debootstrap installs itself (known to resolve cleanly with --include).
BASE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "iproute2",
    "procps",
    "ca-certificates",
    "sudo",
]

# Everything else, installed with apt inside the chroot (it resolves dependencies properly).
PACKAGES = [
    # web + PHP (one FPM master per account) and the usual extensions of hosted sites
    "nginx",
    "php8.2-fpm",
    "php8.2-cli",
    "php8.2-mysql",
    "php8.2-curl",
    "php8.2-mbstring",
    "php8.2-xml",
    "php8.2-zip",
    # databases, mail, FTP
    "mariadb-server",
    "mariadb-client",
    "python3-pymysql",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "vsftpd",
    # disk limits, firewall, housekeeping, Ansible's needs (apt module, become via acl)
    "btrfs-progs",
    "nftables",
    "logrotate",
    "cron",
    "acl",
    "rsync",
    "curl",
    "python3-apt",
    "ssl-cert",
    "openssl",
    # backups (borg pushes to the backup server, which serves it over ssh)
    "borgbackup",
    # operations and load tests
    "stress-ng",
    "iputils-ping",
    "less",
    "zstd",
    "unzip",
]

# Units that cannot work in a container or would reach for the network.
MASKED_UNITS = [
    "console-getty.service",
    "container-getty@.service",
    "getty@.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "systemd-timesyncd.service",
]

CHROOT_SCRIPT = f"""set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
# Services must not start inside the build chroot.
printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
cat >/etc/apt/sources.list <<'SOURCES'
deb {MIRROR} {SUITE} main
deb {MIRROR} {SUITE}-updates main
deb http://deb.debian.org/debian-security {SUITE}-security main
SOURCES
apt-get update -qq
apt-get -y -qq -o Dpkg::Use-Pty=0 upgrade
apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends {" ".join(PACKAGES)}
# Package lists stay: Ansible's apt module reads them to check what is installed.
apt-get clean
systemctl enable systemd-networkd
systemctl mask {" ".join(MASKED_UNITS)}
rm -f /usr/sbin/policy-rc.d /etc/ssh/ssh_host_* /var/lib/dbus/machine-id
: >/etc/machine-id
"""

# No DNS in the lab: an empty resolver config fails fast instead of waiting on a timeout.
LAB_RESOLV_CONF = "# lab server: no DNS; names of the lab live in /etc/hosts\n"


def recipe_hash() -> str:
    recipe = "\n".join([SUITE, MIRROR, *BASE_PACKAGES, "--", CHROOT_SCRIPT, LAB_RESOLV_CONF])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Image:
    tarball: Path
    rootfs: Path
    recipe: str


def image_paths(cfg: LabConfig) -> Image:
    digest = recipe_hash()
    return Image(
        tarball=cfg.cache / f"{SUITE}-{digest}.tar.zst",
        rootfs=cfg.cache / f"rootfs-{digest}",
        recipe=digest,
    )


def _debootstrap(build: Path) -> None:
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(build),
            MIRROR,
        ],
        step="image: debootstrap",
        timeout=1800,
    )


def _install(build: Path) -> None:
    shutil.copyfile("/etc/resolv.conf", build / "etc/resolv.conf")
    try:
        run(["mount", "-t", "proc", "proc", str(build / "proc")], step="image: mount proc")
        run(
            ["chroot", str(build), "/bin/sh", "-c", CHROOT_SCRIPT],
            step="image: install packages",
            timeout=3600,
        )
    finally:
        umount_all(build / "proc", step="image: unmount proc")
    (build / "etc/resolv.conf").write_text(LAB_RESOLV_CONF)


def build(cfg: LabConfig, *, force: bool = False) -> Path:
    """Build the image tarball unless a current one is cached; return its path."""
    image = image_paths(cfg)
    cfg.cache.mkdir(parents=True, exist_ok=True)
    with locked(cfg.cache / ".build.lock"):
        if image.tarball.exists() and not force:
            return image.tarball
        workdir = cfg.cache / f"build-{image.recipe}"
        _discard(workdir)
        root = workdir / "root"
        root.mkdir(parents=True)
        try:
            _debootstrap(root)
            _install(root)
            partial = image.tarball.with_suffix(".partial")
            run(
                [
                    "tar",
                    "--numeric-owner",
                    "--xattrs",
                    "--xattrs-include=*",
                    "-I",
                    "zstd -T0 -3",
                    "-C",
                    str(root),
                    "-cf",
                    str(partial),
                    ".",
                ],
                step="image: pack tarball",
            )
            partial.replace(image.tarball)
        finally:
            _discard(workdir)
        _prune_tarballs(cfg, keep=image.tarball)
    return image.tarball


def _prune_tarballs(cfg: LabConfig, keep: Path) -> None:
    """Drop tarballs of older recipes. Unpacked roots stay: running servers may sit on them."""
    for old in cfg.cache.glob(f"{SUITE}-*.tar.zst"):
        if old != keep:
            old.unlink()


def ensure_rootfs(cfg: LabConfig) -> Path:
    """The unpacked read-only root shared by every server's overlay (unpacked once)."""
    image = image_paths(cfg)
    if image.rootfs.is_dir():
        return image.rootfs
    build(cfg)
    with locked(cfg.cache / ".unpack.lock"):
        if image.rootfs.is_dir():
            return image.rootfs
        partial = image.rootfs.with_name(image.rootfs.name + ".partial")
        _discard(partial)
        partial.mkdir(parents=True)
        run(
            [
                "tar",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "-I",
                "zstd -T0",
                "-C",
                str(partial),
                "-xf",
                str(image.tarball),
            ],
            step="image: unpack",
        )
        partial.replace(image.rootfs)
    return image.rootfs


def _discard(path: Path) -> None:
    """Remove a build directory, unmounting first so rm can never walk into /proc."""
    if not path.exists():
        return
    umount_all(path, step="image: clean build dir")
    shutil.rmtree(path)


def timed_build(cfg: LabConfig) -> tuple[Path, float]:
    started = time.monotonic()
    path = build(cfg)
    return path, time.monotonic() - started


__all__ = ["Image", "LabError", "build", "ensure_rootfs", "image_paths", "recipe_hash"]
