"""mysql:// sources speak TLS with a checked certificate unless the operator opts out (tls=no).

old_db offers TLS with a certificate from a throwaway CA and lets its users in over TLS only
(REQUIRE SSL), so every copy that works there went encrypted; plain_db offers no TLS at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.databases import DbCopier
from migrator.errors import MigrationError
from migrator.runner import MigrationPlan
from migrator.sources import parse_db_url
from tests.support.migration_target import LocalTarget

from . import data, servers

pytestmark = pytest.mark.integration

OLD = f"mysql://olduser@127.0.0.1:{servers.PORT_DB_OLD}/shop"
PLAIN = f"mysql://olduser@127.0.0.1:{servers.PORT_DB_PLAIN}/shop"


def _inspect(url: str, target: LocalTarget, password: str = data.DB_PASSWORD) -> None:
    DbCopier(parse_db_url(url), password, target).inspect()


def _refused(url: str, target: LocalTarget) -> str:
    with pytest.raises(MigrationError) as err:
        _inspect(url, target)
    line = str(err.value)
    assert "\n" not in line and ": TLS: " in line
    return line


def test_users_may_only_log_in_over_tls(old_db: servers.MariaDB) -> None:
    # What makes every successful copy from old_db a proof that TLS was used.
    assert "REQUIRE SSL" in old_db.sql("SHOW CREATE USER 'olduser'@'localhost'")


def test_verified_tls_copy_with_the_ca_file(
    old_db: servers.MariaDB, db_target: LocalTarget, ca: tuple[Path, Path, Path]
) -> None:
    copier = DbCopier(parse_db_url(f"{OLD}?cafile={ca[0]}"), data.DB_PASSWORD, db_target)
    result = copier.copy(copier.inspect())
    assert result.verified, result.mismatches
    assert MigrationPlan("a", databases=[copier.src]).warnings() == []


def test_certificate_not_from_a_trusted_ca_is_refused(
    old_db: servers.MariaDB, db_target: LocalTarget, cert: tuple[Path, Path]
) -> None:
    # The system CAs (no cafile) and another CA's file both fail: the chain is checked.
    for url in (OLD, f"{OLD}?cafile={cert[0]}"):
        line = _refused(url, db_target)
        assert "certificate" in line and "cafile" in line


def test_certificate_for_another_name_is_refused(
    old_db: servers.MariaDB, db_target: LocalTarget, ca: tuple[Path, Path, Path]
) -> None:
    # The same server on 127.0.0.2, which its certificate (127.0.0.1, localhost) does not name.
    line = _refused(f"mysql://olduser@127.0.0.2:{servers.PORT_DB_OLD}/shop?cafile={ca[0]}",
                    db_target)  # fmt: skip
    assert "Validation of SSL server certificate failed" in line


def test_server_without_tls_is_refused_unless_the_operator_opts_out(
    plain_db: servers.MariaDB, db_target: LocalTarget, ca: tuple[Path, Path, Path]
) -> None:
    assert "DISABLED" in plain_db.sql("SHOW VARIABLES LIKE 'have_ssl'")
    line = _refused(f"{PLAIN}?cafile={ca[0]}", db_target)
    assert "offers no TLS" in line and "tls=no" in line
    # verify=no still demands encryption: the client alone would fall back to plaintext.
    line = _refused(f"{PLAIN}?verify=no", db_target)
    assert "not encrypted" in line
    src = parse_db_url(f"{PLAIN}?tls=no")
    copier = DbCopier(src, data.DB_PASSWORD, db_target)
    assert copier.copy(copier.inspect()).verified
    (warning,) = MigrationPlan("a", databases=[src]).warnings()
    assert warning.startswith(src.label) and "unencrypted" in warning


def test_verify_no_encrypts_without_checking_and_warns(
    old_db: servers.MariaDB, db_target: LocalTarget
) -> None:
    src = parse_db_url(f"{OLD}?verify=no")
    _inspect(f"{OLD}?verify=no", db_target)  # REQUIRE SSL: this login was encrypted
    (warning,) = MigrationPlan("a", databases=[src]).warnings()
    assert "verify=no" in warning and "not checked" in warning


def test_password_with_url_and_option_file_characters(
    old_db: servers.MariaDB, db_target: LocalTarget, ca: tuple[Path, Path, Path]
) -> None:
    url = f"mysql://special@127.0.0.1:{servers.PORT_DB_OLD}/shop?cafile={ca[0]}"
    # It reaches the server intact through the client's option file.
    DbCopier(parse_db_url(url), data.SPECIAL_PASSWORD, db_target).client.query("SELECT 1", "login")
    wrong = data.SPECIAL_PASSWORD + "#x"
    with pytest.raises(MigrationError) as err:
        _inspect(url, db_target, wrong)
    assert "Access denied" in str(err.value)
    assert data.SPECIAL_PASSWORD not in str(err.value) and wrong not in str(err.value)
