"""Unit tests do not monkeypatch modules: code takes its seams explicitly.

Replacing ``os``, ``time`` or a function of some module for the length of a test reaches
every user of that module at once (threads included), hides the seam the code under test
should offer, and lets the test pass against code that no longer calls what was patched.
The code takes what a test needs to replace as a parameter with the real default instead
(a clock, a ``stat``, a ``replace``, a ``start_server``, a command line) or through the
Host seam. ``monkeypatch.setenv``/``chdir`` and patching objects a test made are fine.

Walks the unit tests and their helpers with ``ast``: a ``setattr``/``delattr`` call whose
target is a ``"module.attr"`` string, or a module, or anything reached through a name bound
to a module (``jsonfile.os``, ``state_file.SOME_GLOBAL``), is reported.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
WALKED = (TESTS / "unit", TESTS / "helpers")
PATCHING = frozenset({"setattr", "delattr"})


def _is_module(dotted: str) -> bool:
    try:
        importlib.import_module(dotted)
    except ImportError:
        return False
    return True


def _module_names(tree: ast.Module) -> set[str]:
    """The names a file binds to modules by its imports (anywhere in it)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if alias.name != "*" and _is_module(f"{node.module}.{alias.name}"):
                    names.add(alias.asname or alias.name)
    return names


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def module_patches(source: str, filename: str = "<test>") -> list[str]:
    """``file:line: call`` for each call in ``source`` that patches a module's attribute."""
    tree = ast.parse(source, filename)
    modules = _module_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in PATCHING
            and node.args
        ):
            continue
        target = node.args[0]
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            bad = "." in target.value  # monkeypatch's "module.attr" import-path form
        else:
            bad = _root_name(target) in modules
        if bad:
            found.append((node.lineno, f"{filename}:{node.lineno}: {ast.unparse(node)}"))
    return [hit for _, hit in sorted(found)]


def test_no_unit_test_patches_a_module() -> None:
    files = sorted(f for folder in WALKED for f in folder.rglob("*.py"))
    assert len(files) > 50  # the walk found the tests
    found = [hit for f in files for hit in module_patches(f.read_text(), str(f.relative_to(TESTS)))]
    assert not found, "give the code a seam instead of patching a module:\n" + "\n".join(found)


def test_the_check_finds_each_form_of_module_patching() -> None:
    source = """
import os
import os.path as osp
from cove.logs import jsonfile
from cove.containers import state as state_file

def test(monkeypatch, mp):
    monkeypatch.setattr(jsonfile, "os", object())
    monkeypatch.setattr(jsonfile.os, "stat", None)
    monkeypatch.setattr(state_file, "_replace", None)
    monkeypatch.setattr("sys.argv", ["cove"])
    mp.delattr(osp, "join")
    monkeypatch.delattr("os.getpid")
    monkeypatch.setattr(os, "getpid", lambda: 1)
"""
    assert [hit.split(":")[1] for hit in module_patches(source)] == [str(n) for n in range(8, 15)]


def test_the_check_lets_a_test_patch_what_it_made() -> None:
    source = """
import os
from pathlib import Path
from cove.logs.jsonfile import JsonFileWriter

def test(monkeypatch, tmp_path):
    writer = JsonFileWriter(tmp_path / "log")
    monkeypatch.setattr(writer, "max_size", 1)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(os.environ, "X", "1")
    setattr(writer, "closed", True)
"""
    assert module_patches(source) == []
