"""A container's status is asked of containers/state.py, never spelled as a string elsewhere.

The state module's ``Status`` enum owns the names; a comparison with "running" (or a tuple
of names) anywhere else is how the status column and the paused marker once disagreed with
the monitor's record. Wire shapes write ``Status.X.value``.

Strings that are keys of a mapping ("created" is also an image config's and a table row's
field) are not statuses: subscripts, dict-display keys, and the key argument of get/pop/
setdefault are let through.
"""

from __future__ import annotations

import ast
from pathlib import Path

from cove.containers.state import Status

SRC = Path(__file__).resolve().parents[2] / "src" / "cove"
STATE_MODULE = SRC / "containers" / "state.py"
NAMES = frozenset(s.value for s in Status)
KEY_METHODS = frozenset({"get", "pop", "setdefault"})


def _keys(tree: ast.AST) -> set[int]:
    """ids of the string constants that are mapping keys."""
    keys: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            keys.add(id(node.slice))
        elif isinstance(node, ast.Dict):
            keys.update(id(k) for k in node.keys if k is not None)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in KEY_METHODS
            and node.args
        ):
            keys.add(id(node.args[0]))
    return keys


def status_literals(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    keys = _keys(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in NAMES
        and id(node) not in keys
    ]


def test_no_status_string_outside_the_state_module() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == STATE_MODULE:
            continue
        for line, value in status_literals(path.read_text()):
            found.append(f"{path.relative_to(SRC.parent)}:{line}: {value!r}")
    assert not found, "use cove.containers.state.Status:\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for() -> None:
    # (so that the test above cannot pass by finding nothing)
    source = """
if status == "running":
    pass
LIVE = ("paused", "restarting")
x = {"status": "exited"}
"""
    assert [value for _, value in status_literals(source)] == ["running", "paused", "restarting", "exited"]


def test_the_scan_lets_mapping_keys_through() -> None:
    source = """
created = row["created"]
config["created"] = now
history = [{"created": created}]
when = raw.get("created")
"""
    assert status_literals(source) == []


def test_the_state_module_does_spell_them() -> None:
    assert {value for _, value in status_literals(STATE_MODULE.read_text())} == NAMES
