"""Each SQL table has one owning module; everything else asks it (DESIGN.md). A scan of the
source's string literals for SQL that names a table (FROM, INTO, UPDATE, JOIN) outside its owner."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from cove.db.schema import MIGRATIONS

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cove"

OWNERS = {
    "meta": "db/database.py",
    "images": "images/store.py",
    "tags": "images/store.py",
    "repo_digests": "images/store.py",
    "layers": "images/store.py",
    "blob_sources": "images/store.py",
    "snapshots": "snapshots/base.py",
    "containers": "containers/store.py",
    "volumes": "volumes/store.py",
    "container_volumes": "volumes/store.py",
    "networks": "network/store.py",
    "endpoints": "network/store.py",
    "build_cache": "build/cachestore.py",
    "file_digests": "build/digestmemo.py",
}
SQL_NAMING = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+([a-z_]+)\b")


def _tables() -> set[str]:
    return {m for sql in MIGRATIONS for m in re.findall(r"CREATE TABLE (\w+)", sql)}


def _named_tables(source: str) -> set[str]:
    """Tables that SQL in the module's string literals (f-strings' text included) names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(SQL_NAMING.findall(node.value))
    return found


def test_every_table_has_an_owner() -> None:
    assert _tables() == set(OWNERS), "give each new table its owning module here"
    for owner in OWNERS.values():
        assert (PACKAGE / owner).is_file(), owner


def test_only_its_owner_queries_a_table() -> None:
    tables = _tables()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "db/schema.py":
            continue
        for table in sorted(_named_tables(path.read_text()) & tables):
            if OWNERS[table] != rel:
                problems.append(f"{rel} queries {table}: ask {OWNERS[table]}")
    assert not problems, "\n".join(problems)


def test_the_scan_sees_sql_across_lines_and_in_f_strings() -> None:
    source = '''
def f(db, where):
    db.query(f"SELECT * FROM images {where}")
    db.execute("""
        UPDATE
            containers SET name = ?""")
    db.execute("DELETE FROM tags WHERE name = ?")
    """FROM busybox, as a Dockerfile says, is no table."""
'''
    assert _named_tables(source) & _tables() == {"images", "containers", "tags"}
