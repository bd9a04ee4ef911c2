"""Start-up cost guards: what the hot entry points import, each measured in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import cove

SRC = Path(cove.__file__).resolve().parent.parent
MONITOR_MAIN = SRC / "cove" / "monitor" / "main.py"

# The child records which modules the body imported (beyond what the interpreter had at
# start-up) into the file named by its first argument.
PRELUDE = """\
import sys
_out = sys.argv[1]
_before = set(sys.modules)
"""
EPILOGUE = """
_new = sorted(set(sys.modules) - _before)
with open(_out, "w") as _f:
    _f.write("\\n".join(_new))
"""


def imported_by(
    body: str, tmp_path: Path, *, flags: Iterable[str] = (), env: dict[str, str] | None = None
) -> set[str]:
    out = tmp_path / "modules.txt"
    script = PRELUDE + body + EPILOGUE
    proc = subprocess.run(
        [sys.executable, *flags, "-c", script, str(out)],
        env=dict(os.environ) if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"the child failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return set(out.read_text().split())


def offending(modules: set[str], names: Iterable[str] = (), packages: Iterable[str] = ()) -> list[str]:
    """The modules that are one of ``names`` (or inside them) or inside one of ``packages``."""
    names = set(names)
    packages = tuple(packages)
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in names or any(m == p or m.startswith(p + ".") for p in packages)
    )


# -- (a) the command client: on the path of every `cove` command --------------------------------

CLIENT_FORBIDDEN = "json re enum socket typing argparse sqlite3 pathlib dataclasses subprocess".split()

CLIENT_BODY = """
import os
import cove.cli.launch
import cove.cli.cmd_client as client
from cove.cli import cmd_wire as wire

# What cmd_client.run does up to the connect, without connecting or starting a server.
wire.enabled(os.environ)
wire.paths(os.environ)
request = wire.Request(
    wire.compatibility_key(), os.getcwdb(), 0o22, client._rlimits(), [b"ps"], list(os.environb.items())
)
wire.decode_request(wire.encode_request(request))
wire.header(1)
"""


def test_command_client_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = imported_by(CLIENT_BODY, tmp_path)
    assert "cove.cli.cmd_client" in modules  # the measurement saw the import
    bad = offending(modules, CLIENT_FORBIDDEN)
    assert not bad, f"cove.cli.launch / cove.cli.cmd_client import {bad}"


def test_command_client_imports_no_other_cove_module(tmp_path: Path) -> None:
    modules = imported_by(CLIENT_BODY, tmp_path)
    cove_modules = sorted(m for m in modules if m == "cove" or m.startswith("cove."))
    assert cove_modules == [
        "cove",
        "cove.cli",
        "cove.cli.cmd_client",
        "cove.cli.cmd_wire",
        "cove.cli.launch",
        "cove.version",
    ]


def test_command_client_imports_only_modules_written_in_c(tmp_path: Path) -> None:
    # cmd_wire's promise: "standard modules written in C only". `from __future__ import
    # annotations` loads the tiny __future__ module, the one exception.
    body = (
        CLIENT_BODY
        + """
_py = sorted(
    m for m in set(sys.modules) - _before
    if not m.startswith("cove") and m != "__future__"
    and str(getattr(sys.modules[m], "__file__", None) or "").endswith(".py")
)
assert not _py, f"pure-Python modules imported: {_py}"
"""
    )
    imported_by(body, tmp_path)


def test_disabled_command_server_costs_nothing_more(tmp_path: Path) -> None:
    # COVE_COMMAND_SERVER=0: cmd_client.run returns at once, before any socket work.
    body = """
import cove.cli.cmd_client as client
assert client.run(["ps"]) is None
"""
    modules = imported_by(body, tmp_path, env={**os.environ, "COVE_COMMAND_SERVER": "0"})
    bad = offending(modules, CLIENT_FORBIDDEN)
    assert not bad, f"cmd_client.run with the server disabled imports {bad}"


# -- (b) the container monitor: `python -S -I .../cove/monitor/main.py CONFIG FD` ---------------

MONITOR_FORBIDDEN = ("sqlite3", "zstandard", "isal", "argparse")
MONITOR_FORBIDDEN_PACKAGES = ("cove.engine", "cove.images", "cove.cli")
MONITOR_SIBLINGS = (
    *("client", "clients", "config", "handlers", "handover", "health", "main"),
    *("probes", "protocol", "restart", "stdio", "supervisor"),
)


def monitor_imports(tmp_path: Path) -> set[str]:
    """Load main.py as `python -S -I main.py` does (its directory first on sys.path, no site,
    no environment), running its imports but not main(): no monitor starts."""
    body = f"""
import os
import runpy
import pkgutil  # runpy's own imports are not the monitor's
main = {str(MONITOR_MAIN)!r}
_before = set(sys.modules)
sys.path.insert(0, os.path.dirname(main))
sys.argv = [main]
namespace = runpy.run_path(main, run_name="cove_monitor_import_check")
assert "Supervisor" in namespace and callable(namespace["main"])
"""
    return imported_by(body, tmp_path, flags=("-S", "-I"))


def test_monitor_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = monitor_imports(tmp_path)
    assert "cove.monitor.supervisor" in modules  # the measurement saw the import
    bad = offending(modules, MONITOR_FORBIDDEN, MONITOR_FORBIDDEN_PACKAGES)
    assert not bad, f"the monitor (cove/monitor/main.py) imports {bad}"


def test_monitor_modules_are_not_imported_twice(tmp_path: Path) -> None:
    # main.py's directory is sys.path[0]: a sibling imported by its bare name would be a
    # second copy of a cove.monitor module.
    modules = monitor_imports(tmp_path)
    twice = sorted(set(MONITOR_SIBLINGS) & modules)
    assert not twice, f"the monitor imports {twice} as top-level modules"


# -- (c) `cove --help` --------------------------------------------------------------------------

HELP_FORBIDDEN = ("sqlite3", "zstandard", "tarfile")
HELP_FORBIDDEN_PACKAGES = ("cove.engine",)
# The request vocabulary the flags parse into (plain types and parsers) is all of the engine
# that parsing `run`'s flags may load (container_flags: the option languages requests re-exports);
# none of the services.
HELP_ALLOWED = {"cove.engine", "cove.engine.requests", "cove.engine.container_flags"}


def test_cli_main_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = imported_by("import cove.cli.main\n", tmp_path)
    assert "cove.cli.main" in modules
    bad = sorted(set(offending(modules, HELP_FORBIDDEN, HELP_FORBIDDEN_PACKAGES)) - HELP_ALLOWED)
    assert not bad, f"importing cove.cli.main imports {bad}"


def test_cove_help_imports_nothing_heavy(tmp_path: Path) -> None:
    body = """
import cove.cli.launch
sys.argv = ["cove", "--help"]
try:
    cove.cli.launch.main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
"""
    modules = imported_by(body, tmp_path, env={**os.environ, "COVE_COMMAND_SERVER": "0"})
    assert "cove.cli.main" in modules
    bad = sorted(set(offending(modules, HELP_FORBIDDEN, HELP_FORBIDDEN_PACKAGES)) - HELP_ALLOWED)
    assert not bad, f"`cove --help` imports {bad}"


def test_only_the_compose_commands_load_compose_yaml_or_jsonschema(tmp_path: Path) -> None:
    body = """
import cove.cli.main
cove.cli.main.build_parser(["ps"])
cove.cli.main.build_parser(["compose", "config"])
cove.cli.main.build_parser([])
"""
    modules = imported_by(body, tmp_path)
    assert "cove.cli.commands.compose" in modules
    bad = offending(modules, ("yaml", "jsonschema"), ("cove.compose",))
    assert not bad, f"building the parsers imports {bad}"
