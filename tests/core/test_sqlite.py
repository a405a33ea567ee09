"""SQLite databases inside artifacts are read from a copy, tables only, within budgets."""

import sqlite3

import pytest

from provcheck.formats.sqlite import UnreadableDatabase, table_column
from provcheck.testing import Symlink


def _db(path, script):
    con = sqlite3.connect(path)
    con.executescript(script)
    con.commit()
    con.close()
    return path.read_bytes()


def _tree_with(checker, data, name):
    result = checker.run(checker.tree({"var/lib/rpm/rpmdb.sqlite": data}, name=name))
    tree = result.report.artifacts[0].tree
    return tree, tree.get("var/lib/rpm/rpmdb.sqlite")


def test_rows_of_a_real_table(checker, tmp_path):
    data = _db(tmp_path / "ok.sqlite", "CREATE TABLE Packages (hnum INTEGER, blob BLOB);"
                                       "INSERT INTO Packages VALUES (1, x'0102'), (2, x'03');")
    tree, node = _tree_with(checker, data, "ok")
    assert table_column(tree, node, "Packages", "blob") == [b"\x01\x02", b"\x03"]


def test_a_view_over_an_endless_query_is_refused(checker, tmp_path):
    data = _db(tmp_path / "evil.sqlite", "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS "
                                         "(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT randomblob(64) AS blob FROM c;")
    tree, node = _tree_with(checker, data, "evil")
    with pytest.raises(UnreadableDatabase, match="no table 'Packages'"):
        table_column(tree, node, "Packages", "blob")


def test_row_and_time_budgets(checker, tmp_path):
    data = _db(tmp_path / "big.sqlite", "CREATE TABLE Packages (blob BLOB);"
                                        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5000) "
                                        "INSERT INTO Packages SELECT randomblob(16) FROM c;")
    tree, node = _tree_with(checker, data, "big")
    with pytest.raises(UnreadableDatabase, match="more than 100 rows"):
        table_column(tree, node, "Packages", "blob", max_rows=100)


def test_both_package_readers_survive_a_hostile_rpmdb(checker, tmp_path):
    data = _db(tmp_path / "evil.sqlite", "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS "
                                         "(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT randomblob(64) AS blob FROM c;")
    root = checker.tree({"var/lib/rpm/rpmdb.sqlite": data, "usr/bin/x": "x",
                         "var/lib/rpm/evil?mode=rwc&x=": Symlink("rpmdb.sqlite")}, name="rootfs")
    checker.autoload = True
    result = checker.run(root)
    messages = [e.message for e in result.errors]
    assert messages and all("no table 'Packages'" in m for m in messages), messages
    assert not (root / "var/lib/rpm/evil").exists()
