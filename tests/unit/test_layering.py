"""The import direction of DESIGN.md: a module imports only from layers below its own.

Parts of one layer are peers that do not import each other, with two exceptions: the
L0 foundation (errors, config, oci, ...) and the L6 command line are each one whole, and
L2 subsystems may all use ``db``, their shared persistence.
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
    "cli": 6,
    "__main__": 6,
}
SHARED_L2 = {"db"}
WHOLE_LAYERS = {0, 6}


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
                if other_layer > own_layer or (other_layer == own_layer and not peer_ok):
                    problems.append(f"{module} (L{own_layer}) imports {target} (L{other_layer})")
    assert not problems, "\n".join(problems)
