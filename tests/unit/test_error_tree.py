"""errors.py's docstring draws the whole exception tree, and its table answers for every kind."""

import importlib
import pkgutil
import re

import cove
from cove import errors
from cove.cli import exitcodes
from cove.engine.containers import ContainerStartError
from cove.errors import OUTCOMES, CoveError, Kind

KIND_BASES = {
    "NotFound": errors.NotFound,
    "AlreadyExists": errors.AlreadyExists,
    "InvalidArgument": errors.InvalidArgument,
    "Conflict": errors.Conflict,
    "FailedPrecondition": errors.FailedPrecondition,
    "Unavailable": errors.Unavailable,
    "PermissionDenied": errors.PermissionDenied,
    "NotImplementedYet": errors.NotImplementedYet,
    "InternalError": errors.InternalError,
}


def _every_error_class() -> set[type[CoveError]]:
    for info in pkgutil.walk_packages(cove.__path__, "cove."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found: set[type[CoveError]] = set()
    todo: list[type[CoveError]] = [CoveError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("cove.") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def _drawn_tree() -> dict[str, list[str]]:
    """Each class the docstring draws -> the names above it, nearest last."""
    assert errors.__doc__
    drawing = errors.__doc__.split("::", 1)[1]
    placed: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []
    for line in drawing.splitlines():
        match = re.match(r"^( *)([| `]*)(?:\|--|`--) (\w+)", line) or re.match(r"^( *)()(CoveError)\b", line)
        if not match:
            continue
        depth = len(match.group(2)) // 4 + (0 if match.group(3) == "CoveError" else 1)
        name = match.group(3)
        stack = [(d, n) for d, n in stack if d < depth]
        placed.setdefault(name, [n for _, n in stack])
        stack.append((depth, name))
    return placed


def test_the_docstring_names_every_error_under_its_kind() -> None:
    drawn = _drawn_tree()
    missing = sorted(cls.__name__ for cls in _every_error_class() if cls.__name__ not in drawn)
    assert not missing, f"draw these in errors.py's docstring: {missing}"
    for cls in _every_error_class():
        above = drawn[cls.__name__]
        assert above[0] == "CoveError", cls
        kind_base = next((KIND_BASES[n] for n in above if n in KIND_BASES), None)
        if kind_base is not None:
            assert issubclass(cls, kind_base), f"{cls.__name__} is drawn under {kind_base.__name__}"
        else:
            assert CoveError in cls.__bases__, f"{cls.__name__} is drawn at the top, not a direct subclass"


def test_the_drawing_names_no_class_that_is_gone() -> None:
    names = {cls.__name__ for cls in _every_error_class()} | {"CoveError"}
    assert set(_drawn_tree()) - names == set()


def test_every_kind_has_an_exit_code_and_an_http_status() -> None:
    assert set(OUTCOMES) == set(Kind)
    for outcome in OUTCOMES.values():
        assert 1 <= outcome.exit_code <= 125
        assert 400 <= outcome.http_status <= 599


def test_the_cli_takes_its_exit_codes_from_the_table() -> None:
    assert exitcodes.for_error(errors.NotFound("x")) == OUTCOMES[Kind.NOT_FOUND].exit_code
    assert errors.ImageNotFound("busybox").outcome.http_status == 404
    assert errors.Conflict("x").outcome.http_status == 409
    assert errors.NoSpace("a layer").outcome.http_status == 503
    # Docker's CLI exits 1 for whatever the engine reports.
    assert {exitcodes.for_error(base("x")) for base in KIND_BASES.values()} == {exitcodes.FAILED}


def test_a_start_failure_has_the_kind_of_its_exit_code() -> None:
    assert ContainerStartError("exec: nope: not found", 127).outcome.http_status == 400
    assert ContainerStartError("the runtime failed", 125).outcome.http_status == 500
