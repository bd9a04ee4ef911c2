"""The engine reaches the host's processes, mounts, /proc and system facts only through its
``Host`` (``store.host``, cove/host/seam.py), so that a unit test can hand it the recording fake.

Checked on the source with ``ast``: no engine module imports the host modules that act on the
OS (process, mounts, sysinfo, cgroups, and netlink's functions: its ``NetHost`` and ``Veth``
types wrap a Runner and a Host and may be used), none calls ``os.kill``, ``os.waitpid`` or
``os.posix_spawn*`` (or their kin), and none names a path under ``/proc`` or ``/sys`` in code.
Host modules that are helpers over descriptors or files the engine holds (inroot, trees,
locks, atomic, guard, flush, elf) are not the OS's state and stay importable.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "src" / "cove" / "engine"

# Host modules that act on the OS's processes, mounts, /proc or system facts: the seam wraps them.
BEHIND_SEAM = frozenset(
    {"cove.host.process", "cove.host.mounts", "cove.host.sysinfo", "cove.host.cgroups", "cove.host.netlink"}
)
# What may still be imported from a module behind the seam: types, not calls into the OS.
TYPES_ALLOWED = {"cove.host.netlink": frozenset({"NetHost", "Veth"})}
# Standard modules whose use is the host's business (the Host and Runner wrap them).
STDLIB_BEHIND_SEAM = frozenset({"platform", "resource", "subprocess"})
OS_CALLS = frozenset(
    {
        "kill",
        "killpg",
        "waitpid",
        "wait",
        "wait3",
        "wait4",
        "waitid",
        "waitstatus_to_exitcode",
        "posix_spawn",
        "posix_spawnp",
        "fork",
        "pidfd_open",
        "sched_getaffinity",
        "uname",
        "sysconf",
        "cpu_count",
        "getloadavg",
    }
)
HOST_PATHS = ("/proc", "/sys/")

# (module relative to src/cove/engine, what it does): each with the reason it must stay.
# Empty: nothing in the engine needs to pass the seam by.
ALLOWLIST: frozenset[tuple[str, str]] = frozenset()


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (prose, not paths the code opens)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _imported_past_seam(module: str, name: str) -> bool:
    """Does ``from module import name`` bring in something the seam wraps?"""
    if module == "cove.host":
        return f"cove.host.{name}" in BEHIND_SEAM
    if module in BEHIND_SEAM:
        return name not in TYPES_ALLOWED.get(module, ())
    return module in STDLIB_BEHIND_SEAM or (module == "os" and name in OS_CALLS)


def violations(source: str) -> list[str]:
    """What in ``source`` passes the host seam by, one line each."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name in BEHIND_SEAM | STDLIB_BEHIND_SEAM]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            found += [
                f"from {module} import {a.name}" for a in node.names if _imported_past_seam(module, a.name)
            ]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in OS_CALLS:
                found.append(f"os.{node.attr}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docs
            and node.value.startswith(HOST_PATHS)
        ):
            found.append(f"path {node.value!r}")
    return found


def _engine_violations() -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for path in sorted(ENGINE.rglob("*.py")):
        module = str(path.relative_to(ENGINE))
        for what in violations(path.read_text()):
            out.add((module, what))
    return out


def test_the_engine_reaches_the_host_only_through_its_host() -> None:
    unexpected = sorted(_engine_violations() - ALLOWLIST)
    assert not unexpected, "ask store.host (cove/host/seam.py) instead:\n" + "\n".join(
        f"  {module}: {what}" for module, what in unexpected
    )


def test_the_allowlist_holds_only_what_is_still_there() -> None:
    assert _engine_violations() >= ALLOWLIST, "an allowlisted use is gone: take it off the list"


def test_the_check_sees_each_way_past_the_seam() -> None:
    source = '''
"""Docstrings may speak of /proc/<pid>/root."""
import os
import subprocess
from os import waitpid
from cove.host import mounts, sysinfo
from cove.host.cgroups import version
from cove.host.process import run_streaming
from cove.host.netlink import NetHost, Veth, netns_path
from cove.host.inroot import Root
from cove.host.seam import Host

def f(pid):
    """Nor does this /proc docstring count."""
    os.kill(pid, 9)
    os.posix_spawnp("x", ["x"], {})
    os.getpid()
    open("/proc/self/stat")
    return f"/proc/{pid}/root", "/sys/fs/cgroup", "proc"
'''
    assert sorted(violations(source)) == sorted(
        [
            "import subprocess",
            "from os import waitpid",
            "from cove.host import mounts",
            "from cove.host import sysinfo",
            "from cove.host.cgroups import version",
            "from cove.host.process import run_streaming",
            "from cove.host.netlink import netns_path",
            "os.kill",
            "os.posix_spawnp",
            "path '/proc/self/stat'",
            "path '/proc/'",
            "path '/sys/fs/cgroup'",
        ]
    )
