"""The import direction of DESIGN.md: a module imports only from layers below its own.

Parts of one layer are peers that do not import each other, with two exceptions: the
L0 foundation (errors, config, oci, ...) and the L6 command line are each one whole, and
L2 subsystems may all use ``db``, their shared persistence.

And a few named edges, each for a reason (NAMED_EDGES): the one typed container state
(containers.state) is written by the container's monitor, an L3 peer, and read by the
embedded DNS server (network.dns, a process of its own), which must judge "does this
name's container run" by the same rules as ``ps``.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cove"

LAYERS: dict[str, int] = {
    "errors": 0,
    "config": 0,
    "oci": 0,
    "version": 0,
    "progress": 0,
    "units": 0,
    "policies": 0,
    "__init__": 0,
    "host": 1,
    "db": 2,
    "content": 2,
    "snapshots": 2,
    "archive": 2,
    "registry": 2,
    "runtime": 2,
    "logs": 2,
    "network": 2,
    "volumes": 2,
    "images": 3,
    "build": 3,
    "containers": 3,
    "monitor": 3,
    "engine": 4,
    "api": 5,
    "compose": 5,
    "vm": 5,
    "kube": 5,
    "machine": 5,
    "cli": 6,
    "__main__": 6,
}
SHARED_L2 = {"db"}
WHOLE_LAYERS = {0, 6}
# (importing module or package, imported module): allowed across the table, and only these.
NAMED_EDGES = {
    ("cove.monitor", "cove.containers.state"),
    ("cove.network.dns", "cove.containers.state"),
}


def _named_edge(module: str, target: str) -> bool:
    return any(
        (module == source or module.startswith(source + ".")) and target == imported
        for source, imported in NAMED_EDGES
    )


# The front-ends' closed boundary: they know the engine (and the API's wire shapes), the L0
# foundation, and nothing else beneath, but for this short list (module -> the names taken
# from it; None: the whole module), each with its reason.
FRONT_ENDS = {"cli", "api", "compose", "vm", "machine", "kube", "__main__"}
# (Among front-ends, test_imports_point_down keeps the direction: the CLI may use the API's shapes.)
FRONT_END_MAY_IMPORT = {"engine"} | FRONT_ENDS | {part for part, layer in LAYERS.items() if layer == 0}
FRONT_END_ALLOWLIST: dict[str, frozenset[str] | None] = {
    # the user's terminal: raw mode and window size, for attach, run -it and exec -it
    "cove.host.terminal": None,
    # compose watch's file watching: the user's own directories, watched while the command runs
    "cove.host.inotify": frozenset({"TreeWatcher"}),
    # the command server's forked workers die with it (the CLI's own processes, not the engine's)
    "cove.host.process": frozenset({"die_with_parent"}),
}


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def test_every_part_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    parts.discard("__pycache__")
    assert parts <= set(LAYERS), f"give these a layer in DESIGN.md and here: {parts - set(LAYERS)}"


def test_imports_point_down() -> None:
    problems = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts)
        own = _part(module) if module != "cove.__init__" else "__init__"
        own_layer = LAYERS[own]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            for target in targets:
                if not target.startswith("cove.") and target != "cove":
                    continue
                other = _part(target) if target != "cove" else "__init__"
                if other == own:
                    continue
                other_layer = LAYERS[other]
                peer_ok = other_layer == own_layer and (
                    own_layer in WHOLE_LAYERS or (own_layer == 2 and other in SHARED_L2)
                )
                if _named_edge(module, target):
                    continue
                if other_layer > own_layer or (other_layer == own_layer and not peer_ok):
                    problems.append(f"{module} (L{own_layer}) imports {target} (L{other_layer})")
    assert not problems, "\n".join(problems)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names taken from it) of every absolute import of a cove module in ``path``,
    those under TYPE_CHECKING and inside functions included."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names]))
    return [(m, names) for m, names in found if m == "cove" or m.startswith("cove.")]


def _boundary_problems(module: str, imports: list[tuple[str, list[str]]]) -> list[str]:
    problems = []
    own = _part(module) if module != "cove.__init__" else "__init__"
    for target, names in imports:
        other = _part(target) if target != "cove" else "__init__"
        if other == own or other in FRONT_END_MAY_IMPORT:
            continue
        if target in FRONT_END_ALLOWLIST:
            allowed = FRONT_END_ALLOWLIST[target]
            if allowed is None or (names and set(names) <= allowed):
                continue
        # `from cove.host import terminal` names the allowed module as package + name
        if names and all(FRONT_END_ALLOWLIST.get(f"{target}.{n}", ()) is None for n in names):
            continue
        problems.append(f"{module} imports {target} {names or ''}".rstrip())
    return problems


def test_front_ends_import_only_the_engine_the_api_and_the_base() -> None:
    problems = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts)
        if _part(module) in FRONT_ENDS:
            problems += _boundary_problems(module, _imports(path))
    assert not problems, "add an engine call or type for these:\n" + "\n".join(problems)


def test_the_boundary_check_catches_a_subsystem_import() -> None:
    assert _boundary_problems("cove.cli.x", [("cove.monitor.protocol", ["STDOUT"])])
    assert _boundary_problems("cove.api.x", [("cove.containers.store", ["ContainerRecord"])])
    assert _boundary_problems("cove.cli.x", [("cove.host.process", ["spawn"])])
    assert _boundary_problems("cove.cli.x", [("cove.host", ["process"])])
    assert not _boundary_problems("cove.cli.x", [("cove.host.process", ["die_with_parent"])])
    assert not _boundary_problems("cove.cli.x", [("cove.host", ["terminal"])])
    assert not _boundary_problems("cove.cli.x", [("cove.engine.requests", ["ContainerConfig"])])
    assert not _boundary_problems("cove.cli.x", [("cove.oci.reference", ["parse_reference"]), ("cove", [])])


# The engine's parts beneath its services, which a front-end reaching through would bypass.
ENGINE_INSIDES = {"store", "volume_store", "records", "layout", "snapshotter"}


def test_front_ends_use_the_services_not_the_store_beneath() -> None:
    problems = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if _part(".".join(rel.parts)) not in FRONT_ENDS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ENGINE_INSIDES:
                problems.append(f"{'/'.join(rel.parts)}.py:{node.lineno} uses .{node.attr}")
    assert not problems, "ask a service instead:\n" + "\n".join(problems)


def test_the_named_edges_are_narrow() -> None:
    # Only the state module itself: not the rest of containers (spec, store...).
    assert _named_edge("cove.monitor.supervisor", "cove.containers.state")
    assert not _named_edge("cove.monitor.supervisor", "cove.containers.spec")
    assert not _named_edge("cove.network.ports", "cove.containers.state")
    assert not _named_edge("cove.monitoring", "cove.containers.state")
