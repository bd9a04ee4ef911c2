"""Reading one compose file's YAML: safe constructors only, YAML 1.2 scalars, bounded.

Only mappings, sequences and plain scalars are built (never an object of a named type). Scalars
resolve as YAML 1.2's core schema, as Compose's Go YAML library does: ``yes``/``on`` stay
strings and ``8080:80`` is not a base-60 integer. ``!reset`` and ``!override`` become markers
for the merge (a leading 0 is octal, ``0440``, as there). A document whose anchors and aliases
would expand past ``MAX_NODES`` nodes (the "billion laughs"), refer to themselves, or nest past
``MAX_DEPTH`` is refused before anything walks it, and the result is a tree: every alias is
copied, so that a later change in one place cannot show up in another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cove.compose.errors import ComposeError

MAX_NODES = 200_000
MAX_DEPTH = 100  # nested mappings and sequences (a compose file needs fewer than ten)


@dataclass(frozen=True)
class Reset:
    """``!reset``: the key is removed from what was merged so far."""


@dataclass(frozen=True)
class Override:
    """``!override``: the value replaces what was merged so far instead of merging with it."""

    value: Any


def load_yaml(text: str, source: str) -> Any:
    import yaml  # noqa: PLC0415 - only the compose commands read YAML

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source)
        return _tree(loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ComposeError(f"{source}: invalid YAML{at}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"{source}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _tree(value: Any) -> Any:
    """A copy in which no two places share an object (aliases construct one shared object)."""
    if isinstance(value, dict):
        return {k: _tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v) for v in value]
    if isinstance(value, Override):
        return Override(_tree(value.value))
    return value


def _check_expansion(root: Any, source: str) -> None:
    import yaml  # noqa: PLC0415 - only the compose commands read YAML

    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    # Iterative post-order walk; each distinct node is sized once, its size counting every alias.
    stack: list[tuple[Any, bool, int]] = [(root, False, 0)]
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            if isinstance(node, yaml.MappingNode):
                children = [c for pair in node.value for c in pair]
            else:
                children = list(node.value)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_NODES:
                raise ComposeError(
                    f"{source}: the document's anchors and aliases expand to more than {MAX_NODES} nodes"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            sizes[key] = 1
            continue
        if key in open_nodes:
            raise ComposeError(f"{source}: an alias refers to the node that contains it")
        if depth >= MAX_DEPTH:
            raise ComposeError(f"{source}: the document nests deeper than {MAX_DEPTH} levels")
        open_nodes.add(key)
        stack.append((node, True, depth))
        children = (
            [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        )
        for child in children:
            if id(child) in open_nodes:
                raise ComposeError(f"{source}: an alias refers to the node that contains it")
            stack.append((child, False, depth + 1))


_LOADER: Any = None


def _loader_class() -> Any:
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml  # noqa: PLC0415 - only the compose commands read YAML

    class Resolver(yaml.resolver.BaseResolver):
        pass

    implicit = [
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
        (
            "tag:yaml.org,2002:float",
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            "-+0123456789.",
        ),
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
    ]
    for tag, pattern, first in implicit:
        Resolver.add_implicit_resolver(tag, re.compile(pattern), list(first))

    class Constructor(yaml.constructor.SafeConstructor):
        pass

    def construct_int(self: Any, node: Any) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith(("0o", "0x")):
            return int(text, 0)
        if re.fullmatch(r"0[0-7]+", text):  # as Compose's YAML library reads a file mode: octal
            return int(text, 8)
        return int(text, 10)

    def construct_float(self: Any, node: Any) -> float:
        text = str(self.construct_scalar(node)).lower()
        return float(text.replace(".inf", "inf").replace(".nan", "nan"))

    def construct_str(self: Any, node: Any) -> str:
        return str(self.construct_scalar(node))

    def construct_reset(self: Any, node: Any) -> Reset:
        return Reset()

    def construct_override(self: Any, node: Any) -> Override:
        if isinstance(node, yaml.MappingNode):
            return Override(self.construct_mapping(node, deep=True))
        if isinstance(node, yaml.SequenceNode):
            return Override(self.construct_sequence(node, deep=True))
        return Override(self.construct_scalar(node))

    def construct_mapping(self: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"mapping key {key_node.value!r} already defined", key_node.start_mark
                    )
                seen.add(key_node.value)
        self.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (dict, list)):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a scalar", key_node.start_mark
                )
            key = "null" if key is None else (str(key).lower() if isinstance(key, bool) else str(key))
            out[key] = self.construct_object(value_node, deep=True)
        return out

    def construct_yaml_map(self: Any, node: Any) -> Any:
        yield construct_mapping(self, node)

    def construct_yaml_seq(self: Any, node: Any) -> Any:
        yield [self.construct_object(child, deep=True) for child in node.value]

    def construct_undefined(self: Any, node: Any) -> Any:
        raise yaml.constructor.ConstructorError(
            None, None, f"the tag {node.tag!r} is not allowed", node.start_mark
        )

    Constructor.yaml_constructors = {}
    safe: Any = yaml.constructor.SafeConstructor
    Constructor.add_constructor("tag:yaml.org,2002:null", safe.construct_yaml_null)
    Constructor.add_constructor("tag:yaml.org,2002:bool", safe.construct_yaml_bool)
    Constructor.add_constructor("tag:yaml.org,2002:int", construct_int)
    Constructor.add_constructor("tag:yaml.org,2002:float", construct_float)
    Constructor.add_constructor("tag:yaml.org,2002:str", construct_str)
    Constructor.add_constructor("tag:yaml.org,2002:map", construct_yaml_map)
    Constructor.add_constructor("tag:yaml.org,2002:seq", construct_yaml_seq)
    Constructor.add_constructor("!reset", construct_reset)
    Constructor.add_constructor("!override", construct_override)
    Constructor.add_constructor(None, construct_undefined)

    cparser: Any = getattr(yaml, "cyaml", None) and getattr(yaml.cyaml, "CParser", None)
    if cparser is not None:  # the libyaml parser

        class CLoader(cparser, Constructor, Resolver):  # type: ignore[misc]
            def __init__(self, stream: str) -> None:
                cparser.__init__(self, stream)
                Constructor.__init__(self)
                Resolver.__init__(self)

        _LOADER = CLoader
    else:

        class PyLoader(
            yaml.reader.Reader,
            yaml.scanner.Scanner,
            yaml.parser.Parser,
            yaml.composer.Composer,
            Constructor,
            Resolver,
        ):
            def __init__(self, stream: str) -> None:
                yaml.reader.Reader.__init__(self, stream)
                yaml.scanner.Scanner.__init__(self)
                yaml.parser.Parser.__init__(self)
                yaml.composer.Composer.__init__(self)
                Constructor.__init__(self)
                Resolver.__init__(self)

        _LOADER = PyLoader
    return _LOADER
