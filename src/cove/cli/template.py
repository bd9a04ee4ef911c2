"""A small subset of Go's text/template, enough for Docker's ``--format`` strings.

Supported: ``{{.Field.Sub}}``, ``{{.}}``, pipes (``{{.Name | upper}}``), the functions
Docker adds (json, join, split, lower, upper, title, truncate, pad, println) and Go's
(index, len, printf), ``{{range}}``, ``{{if}}``/``{{else}}``, ``{{with}}`` and ``{{end}}``,
and ``{{-``/``-}}`` whitespace trimming.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cove.errors import InvalidArgument

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[|()])
    )""",
    re.VERBOSE,
)


class TemplateError(InvalidArgument):
    def __init__(self, message: str) -> None:
        super().__init__(f"template: {message}", hint="see `cove help formats`; fields are case-sensitive")


def go_str(value: Any) -> str:
    """How Go's fmt prints a value with %v."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _truthy(value: Any) -> bool:
    return bool(value)


def _printf(fmt: str, *args: Any) -> str:
    converted = re.sub(r"%v", "%s", fmt)
    try:
        return converted % tuple(
            go_str(a) if isinstance(a, list | dict | bool) or a is None else a for a in args
        )
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"printf: {exc}") from None


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _truncate(value: Any, length: int) -> str:
    text = go_str(value)
    return text[: int(length)]


def _pad(value: Any, left: int, right: int) -> str:
    return " " * int(left) + go_str(value) + " " * int(right)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),
    "join": lambda v, sep: sep.join(go_str(x) for x in (v or [])),
    "split": lambda v, sep: go_str(v).split(sep),
    "lower": lambda v: go_str(v).lower(),
    "upper": lambda v: go_str(v).upper(),
    "title": lambda v: go_str(v).title(),
    "truncate": _truncate,
    "pad": _pad,
    "println": lambda *v: " ".join(go_str(x) for x in v) + "\n",
    "print": lambda *v: "".join(go_str(x) for x in v),
    "printf": _printf,
    "index": _index,
    "len": lambda v: len(v or []),
    "not": lambda v: not _truthy(v),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
}


# --- parse tree -------------------------------------------------------------------


@dataclass
class _Text:
    text: str


@dataclass
class _Pipeline:
    commands: list[list[Any]]  # each command: operands; an operand is a tuple (kind, value)


@dataclass
class _Action:
    pipeline: _Pipeline


@dataclass
class _Block:
    kind: str  # range, if, with
    pipeline: _Pipeline
    body: list[Any] = field(default_factory=list)
    alternative: list[Any] = field(default_factory=list)


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise TemplateError(f"unexpected {text[pos:]!r} in action")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _parse_pipeline(tokens: list[tuple[str, str]], pos: int = 0, stop: str = "") -> tuple[_Pipeline, int]:
    commands: list[list[Any]] = [[]]
    while pos < len(tokens):
        kind, value = tokens[pos]
        if kind == "punct" and value == "|":
            if not commands[-1]:
                raise TemplateError("missing command before |")
            commands.append([])
        elif kind == "punct" and value == "(":
            inner, pos = _parse_pipeline(tokens, pos + 1, stop=")")
            commands[-1].append(("pipeline", inner))
        elif kind == "punct" and value == ")":
            if stop != ")":
                raise TemplateError("unexpected )")
            return _Pipeline(commands), pos
        elif kind == "string":
            commands[-1].append(("const", json.loads(value) if value.startswith('"') else value[1:-1]))
        elif kind == "number":
            commands[-1].append(("const", float(value) if "." in value else int(value)))
        elif kind == "field":
            commands[-1].append(("field", [] if value == "." else value[1:].split(".")))
        elif value in ("true", "false"):
            commands[-1].append(("const", value == "true"))
        elif value == "nil":
            commands[-1].append(("const", None))
        elif value in FUNCTIONS:
            commands[-1].append(("func", value))
        else:
            raise TemplateError(f'function "{value}" not defined')
        pos += 1
    if stop:
        raise TemplateError("unclosed (")
    if not commands[-1]:
        raise TemplateError("empty command")
    return _Pipeline(commands), pos


def parse(source: str) -> list[Any]:
    """Parse a template into a tree of text, actions and blocks."""
    root: list[Any] = []
    stack: list[tuple[list[Any], _Block | None]] = [(root, None)]
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            stack[-1][0].append(_Text(text))
        trim_next = bool(match.group(3))
        pos = match.end()
        body = match.group(2).strip()
        if body.startswith("/*"):
            continue  # a comment
        word = body.split(None, 1)[0] if body else ""
        if word in ("range", "if", "with"):
            pipeline, _ = _parse_pipeline(_tokens(body[len(word) :]))
            block = _Block(word, pipeline)
            stack[-1][0].append(block)
            stack.append((block.body, block))
        elif word == "else":
            current = stack[-1][1]
            if current is None or len(stack) < 2:
                raise TemplateError("unexpected {{else}}")
            stack[-1] = (current.alternative, current)
        elif word == "end":
            if len(stack) < 2:
                raise TemplateError("unexpected {{end}}")
            stack.pop()
        elif not body:
            raise TemplateError("missing value for command")
        else:
            pipeline, _ = _parse_pipeline(_tokens(body))
            stack[-1][0].append(_Action(pipeline))
    if len(stack) > 1:
        raise TemplateError(
            f"unexpected EOF: {{{{{stack[-1][1].kind if stack[-1][1] else ''}}}}} has no {{{{end}}}}"
        )
    tail = source[pos:]
    if trim_next:
        tail = tail.lstrip()
    if tail:
        root.append(_Text(tail))
    return root


# --- execution -------------------------------------------------------------------


def _field(dot: Any, path: list[str]) -> Any:
    value = dot
    for name in path:
        if isinstance(value, dict):
            if name not in value:
                known = ", ".join(sorted(str(k) for k in value)) if value else "none"
                raise TemplateError(f"can't evaluate field {name} (fields here: {known})")
            value = value[name]
        elif value is None:
            return None
        else:
            raise TemplateError(f"can't evaluate field {name} in a {type(value).__name__}")
    return value


def _operand(operand: tuple[str, Any], dot: Any) -> Any:
    kind, value = operand
    if kind == "const":
        return value
    if kind == "field":
        return _field(dot, value)
    if kind == "pipeline":
        return _run_pipeline(value, dot)
    raise TemplateError(f"function {value} used as a value")


def _run_pipeline(pipeline: _Pipeline, dot: Any) -> Any:
    result: Any = None
    for i, command in enumerate(pipeline.commands):
        head = command[0]
        if head[0] == "func":
            args = [_operand(op, dot) for op in command[1:]]
            if i > 0:
                args.append(result)
            try:
                result = FUNCTIONS[head[1]](*args)
            except TypeError:
                raise TemplateError(f"wrong number of arguments for {head[1]}") from None
        else:
            if len(command) > 1 or i > 0:
                raise TemplateError("only a function can take arguments")
            result = _operand(head, dot)
    return result


def _execute(nodes: list[Any], dot: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Action):
            out.append(go_str(_run_pipeline(node.pipeline, dot)))
        elif isinstance(node, _Block):
            value = _run_pipeline(node.pipeline, dot)
            if node.kind == "range":
                items = list(value.values()) if isinstance(value, dict) else list(value or [])
                if items:
                    for item in items:
                        _execute(node.body, item, out)
                else:
                    _execute(node.alternative, dot, out)
            elif _truthy(value):
                _execute(node.body, value if node.kind == "with" else dot, out)
            else:
                _execute(node.alternative, dot, out)


class Template:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tree = parse(source)

    def render(self, data: Any) -> str:
        out: list[str] = []
        _execute(self.tree, data, out)
        return "".join(out)

    def fields(self) -> list[str]:
        """Top-level fields the template shows, in order (for table headers)."""
        names: list[str] = []

        def walk(nodes: list[Any]) -> None:
            for node in nodes:
                if isinstance(node, _Action):
                    for command in node.pipeline.commands:
                        for kind, value in command:
                            if kind == "field" and value:
                                names.append(value[0])
                elif isinstance(node, _Block):
                    walk(node.body)

        walk(self.tree)
        return names
