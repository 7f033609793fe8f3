#!/usr/bin/env bash
# Installs everything the toolkit and its tests need on Debian 12. Idempotent:
# apt runs only when a package is missing, pip only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # lab servers (systemd-nspawn) and their btrfs /srv volumes
  debootstrap systemd-container btrfs-progs iproute2 zstd openssh-client rsync openssl curl
  # real services the tests start on loopback
  postgresql mariadb-server mariadb-client dovecot-imapd vsftpd openssh-server lftp influxdb
  # backups: borg on loopback (the integration tests push through a real sshd)
  borgbackup
  # the panel's browser test (headless)
  chromium chromium-driver
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  # The packaged services must not start here (tests start their own instances); the
  # policy applies to this install only.
  policy=/usr/sbin/policy-rc.d
  own_policy=no
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=yes
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ $own_policy == yes ]]; then rm -f "$policy"; fi
fi

stamp=.venv/.installed
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi

# The lab's server image (debootstrap, a few minutes the first time, then cached).
if [[ $(id -u) -eq 0 ]] && command -v systemd-nspawn >/dev/null; then
  .venv/bin/bubble lab image >/dev/null
fi
