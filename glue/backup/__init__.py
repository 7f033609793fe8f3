"""Backups: each web server pushes one borg archive per account per run to its own
repository on a backup server (append-only); the control plane alone prunes, lists and checks.

`topology` (who backs up where, pure), `keys` (the control plane's keys and passphrases under
state/backup/), `authorized` (the backup server's forced commands), `borg` (the control
plane's borg runs), `agent` (stdlib only: what runs on a web server)."""
