"""Databases from one real MariaDB into another, restored as the account (unix_socket)."""

# SQL here is built from the tests' own constants.
# ruff: noqa: S608

from __future__ import annotations

import pytest

from migrator.databases import DbCopier, strip_definer
from migrator.errors import MigrationError
from migrator.sources import parse_db_url
from tests.support.migration_target import LocalTarget

from . import data, servers

pytestmark = pytest.mark.integration


def _snapshot(db: servers.MariaDB, name: str) -> dict[str, str]:
    tables = ["audit", "legacy", "products"]
    return {
        "checksum": db.sql(f"CHECKSUM TABLE {', '.join(tables)}", name).replace(name + ".", ""),
        "counts": db.sql(
            " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in tables), name
        ),
        "emoji": db.sql("SELECT name, note FROM products ORDER BY id LIMIT 3", name),
        "latin1": db.sql("SELECT label FROM legacy ORDER BY id", name),
        "routines": db.sql(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES "
            f"WHERE ROUTINE_SCHEMA = '{name}' ORDER BY 2"
        ),
        "triggers": db.sql(
            "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
            f"WHERE TRIGGER_SCHEMA = '{name}' ORDER BY 1"
        ),
        "views": db.sql(
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
            f"WHERE TABLE_SCHEMA = '{name}'"
        ).replace(f"`{name}`.", ""),
        "charset": db.sql(
            "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA = '{name}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1"
        ),
    }


def test_definer_stripped_from_ddl_only() -> None:
    ddl = b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t */;;\n"
    assert b"DEFINER" not in strip_definer(ddl)
    assert strip_definer(b"CREATE DEFINER=`a b`@`%` PROCEDURE `p`()\n") == (
        b"CREATE PROCEDURE `p`()\n"
    )
    row = b"INSERT INTO `t` VALUES ('DEFINER=`x`@`y`');\n"
    assert strip_definer(row) == row


def test_copy_identical_then_nothing(
    old_db: servers.MariaDB, target_db: servers.MariaDB, db_target: LocalTarget, db_url: str
) -> None:
    copier = DbCopier(parse_db_url(db_url), data.DB_PASSWORD, db_target)
    info = copier.inspect()
    assert info.base_tables == ["audit", "legacy", "products"]
    assert info.routines == ["FUNCTION with_tax", "PROCEDURE count_products"]
    first = copier.copy(info)
    assert first.copied and first.verified, first.mismatches
    assert first.target_db == f"{servers.ACCOUNT}_shop"
    assert _snapshot(target_db, first.target_db) == _snapshot(old_db, "shop")
    assert "😀" in _snapshot(target_db, first.target_db)["emoji"]
    # The routines run as the account (definer = the account user, not root@localhost).
    out = target_db.sql(
        f"SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='{first.target_db}'"
    )
    assert set(out.split()) == {f"{servers.ACCOUNT}@localhost"}
    second = copier.copy(info)
    assert not second.copied and second.verified


def test_interrupted_restore_is_completed_by_a_rerun(
    old_db: servers.MariaDB, target_db: servers.MariaDB, db_target: LocalTarget, db_url: str
) -> None:
    copier = DbCopier(parse_db_url(db_url), data.DB_PASSWORD, db_target)
    info = copier.inspect()
    copier.copy(info)
    # What a kill mid-restore leaves behind: some tables missing or short.
    name = copier.target_db
    target_db.sql("DELETE FROM products WHERE id > 100; DROP TABLE legacy;", name)
    again = copier.copy(info)
    assert again.copied and again.verified
    assert _snapshot(target_db, name) == _snapshot(old_db, "shop")


def test_wrong_password_and_no_access_are_one_line(db_target: LocalTarget, db_url: str) -> None:
    src = parse_db_url(db_url)
    with pytest.raises(MigrationError) as err:
        DbCopier(src, "wrong", db_target).inspect()
    assert str(err.value).startswith(f"{src.label}: login: ")
    assert "Access denied" in str(err.value) and "\n" not in str(err.value)
    nodump = db_url.replace("olduser", "nodump")
    with pytest.raises(MigrationError) as err:
        DbCopier(parse_db_url(nodump), data.DB_PASSWORD, db_target).inspect()
    assert "login" in str(err.value) and "shop" in str(err.value)
