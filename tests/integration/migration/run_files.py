"""A migration of files only, in a process of its own, for the test that kills it midway.

argv: FILES_URL ACCOUNT HOME; the password comes in BUBBLE_MIGRATE_FILES_PASSWORD.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from migrator.runner import MigrationPlan, Runner
from migrator.secrets import Secrets
from migrator.sources import parse_files_url
from tests.support.migration_target import LocalTarget

if __name__ == "__main__":
    url, account, home = sys.argv[1:4]
    src = parse_files_url(url)
    secrets = Secrets(by_label={src.label: os.environ["BUBBLE_MIGRATE_FILES_PASSWORD"]})
    report = Runner(
        MigrationPlan(account, files=src), secrets, LocalTarget(account, Path(home))
    ).run()
    sys.exit(0 if report.ok else 1)
