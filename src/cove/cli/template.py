"""A small subset of Go's text/template, enough for Docker's ``--format`` strings.

Supported: ``{{.Field.Sub}}``, ``{{.}}``, pipes (``{{.Name | upper}}``), the functions
Docker adds (json, join, split, lower, upper, title, truncate, pad, println) and Go's
(index, len, printf), ``{{range}}``, ``{{if}}``/``{{else}}``/``{{else if}}``, ``{{with}}``
and ``{{end}}``, comments, and ``{{-``/``-}}`` whitespace trimming.

Parsing is whole before anything runs: a malformed template (an action left open, an
unterminated string, a stray ``{{end}}``) is a :class:`TemplateParseError` in Docker's
words (``template parsing error: template: :LINE: ...``), so a command prints nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cove.errors import InvalidArgument

_SPACE = " \t\r\n"  # Go's isSpace, for the trim markers
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


HINT = "--format takes a Go template, as with Docker ('{{.ID}} {{json .Labels}}'); fields are case-sensitive"


class TemplateError(InvalidArgument):
    """A template that fails while it runs (a field that is not there, a function's arguments)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"template: {message}", hint=HINT)


class TemplateParseError(TemplateError):
    """A malformed template, found before anything is printed; Docker's wording."""

    def __init__(self, line: int, message: str) -> None:
        InvalidArgument.__init__(self, f"template parsing error: template: :{line}: {message}", hint=HINT)


class _Syntax(Exception):
    """A parse error inside the parser, given its line by :func:`parse`."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


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
            raise _Syntax(f"unexpected {text[pos:]!r} in action")
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
                raise _Syntax("missing command before |")
            commands.append([])
        elif kind == "punct" and value == "(":
            inner, pos = _parse_pipeline(tokens, pos + 1, stop=")")
            commands[-1].append(("pipeline", inner))
        elif kind == "punct" and value == ")":
            if stop != ")":
                raise _Syntax("unexpected )")
            return _Pipeline(commands), pos
        elif kind == "string":
            commands[-1].append(("const", _unquote(value) if value.startswith('"') else value[1:-1]))
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
            raise _Syntax(f'function "{value}" not defined')
        pos += 1
    if stop:
        raise _Syntax("unclosed (")
    if not commands[-1]:
        raise _Syntax("empty command")
    return _Pipeline(commands), pos


@dataclass
class _Delimited:
    """One ``{{...}}`` of the source: the text before it, its inside, its trim markers."""

    text: str
    body: str
    trim_left: bool
    trim_right: bool
    line: int
    comment: bool = False


def _scan(source: str) -> tuple[list[_Delimited], str]:
    """Split the source at its actions, as Go's lexer does: a ``}}`` inside a quoted string
    does not end an action, and one left open is an error (not text). Returns the actions
    and the text after the last one."""
    found: list[_Delimited] = []
    pos = 0
    while (start := source.find("{{", pos)) >= 0:
        line = source.count("\n", 0, start) + 1
        i = start + 2
        trim_left = source.startswith("-", i) and source[i + 1 : i + 2] in tuple(_SPACE)
        if trim_left:
            i += 2
        if source.startswith("/*", i):
            close = source.find("*/", i + 2)
            if close < 0:
                raise _Syntax("unclosed comment", line)
            end, trim_right = _right_delimiter(source, close + 2)
            if end < 0:
                raise _Syntax("comment ends before closing delimiter", line)
            found.append(_Delimited(source[pos:start], "", trim_left, trim_right, line, comment=True))
            pos = end
            continue
        j = i
        while True:
            if j >= len(source):
                raise _Syntax("unclosed action", source.count("\n") + 1)
            end, trim_right = _right_delimiter(source, j)
            if end >= 0:
                break
            c = source[j]
            if c in "\"'`":
                j = _skip_quoted(source, j, source.count("\n", 0, j) + 1)
            else:
                j += 1
        found.append(_Delimited(source[pos:start], source[i:j], trim_left, trim_right, line))
        pos = end
    return found, source[pos:]


def _right_delimiter(source: str, at: int) -> tuple[int, bool]:
    """Where the text after a closing ``}}`` (or `` -}}``) at ``at`` starts, and whether it
    trims; -1 when none is there."""
    if source[at : at + 1] in tuple(_SPACE) and source.startswith("-}}", at + 1):
        return at + 4, True
    if source.startswith("}}", at):
        return at + 2, False
    return -1, False


def _skip_quoted(source: str, at: int, line: int) -> int:
    """The position after the string or character constant that starts at ``at``."""
    quote = source[at]
    if quote == "`":
        close = source.find("`", at + 1)
        if close < 0:
            raise _Syntax("unterminated raw quoted string", line)
        return close + 1
    j = at + 1
    while j < len(source) and source[j] != quote:
        if source[j] == "\n":
            break
        j += 2 if source[j] == "\\" else 1
    if j >= len(source) or source[j] != quote:
        raise _Syntax(
            "unterminated quoted string" if quote == '"' else "unterminated character constant", line
        )
    return j + 1


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3})|(.))", re.DOTALL)


def _unquote(token: str) -> str:
    """A double-quoted Go string's value (Go's escapes, not JSON's)."""

    def one(match: re.Match[str]) -> str:
        hex2, hex4, hex8, octal, other = match.groups()
        if other is not None:
            if other not in _ESCAPES:
                raise _Syntax("invalid syntax")
            return _ESCAPES[other]
        code = int(hex2 or hex4 or hex8, 16) if octal is None else int(octal, 8)
        if code > 0x10FFFF or (octal is not None and code > 255) or 0xD800 <= code <= 0xDFFF:
            raise _Syntax("invalid syntax")
        return chr(code)

    return _ESCAPE.sub(one, token[1:-1])


def parse(source: str) -> list[Any]:
    """Parse a template into a tree of text, actions and blocks; a malformed one raises
    :class:`TemplateParseError` naming the line, as Go's parser does."""
    line = 1
    try:
        found, tail = _scan(source)
        root, line = _build(found)
    except _Syntax as exc:
        raise TemplateParseError(exc.line or line, exc.message) from None
    if found and found[-1].trim_right:
        tail = tail.lstrip(_SPACE)
    if tail:
        root.append(_Text(tail))
    return root


def _build(found: list[_Delimited]) -> tuple[list[Any], int]:
    root: list[Any] = []
    # Each open block: where its nodes go, the block, and whether its {{else}} was seen.
    stack: list[tuple[list[Any], _Block | None, bool]] = [(root, None, False)]
    trim_next = False
    line = 1
    for item in found:
        line = item.line
        text = item.text.lstrip(_SPACE) if trim_next else item.text
        if item.trim_left:
            text = text.rstrip(_SPACE)
        if text:
            stack[-1][0].append(_Text(text))
        trim_next = item.trim_right
        if item.comment:
            continue
        try:
            _add(item.body.strip(_SPACE), stack)
        except _Syntax as exc:
            raise _Syntax(exc.message, exc.line or line) from None
    if len(stack) > 1:
        block = stack[-1][1]
        raise _Syntax(f"unexpected EOF: {{{{{block.kind if block else ''}}}}} has no {{{{end}}}}", line)
    return root, line


def _add(body: str, stack: list[tuple[list[Any], _Block | None, bool]]) -> None:
    word = body.split(None, 1)[0] if body else ""
    if word in ("range", "if", "with"):
        tokens = _tokens(body[len(word) :])
        if not tokens:
            raise _Syntax(f"missing value for {word}")
        pipeline, _ = _parse_pipeline(tokens)
        block = _Block(word, pipeline)
        stack[-1][0].append(block)
        stack.append((block.body, block, False))
    elif word == "else":
        _, current, in_else = stack[-1]
        if current is None:
            raise _Syntax("unexpected {{else}}")
        if in_else:
            raise _Syntax("expected end; found {{else}}")
        rest = body[len(word) :].strip(_SPACE)
        if not rest:
            stack[-1] = (current.alternative, current, True)
            return
        kind = rest.split(None, 1)[0]
        if kind not in ("if", "with") or (kind == "with" and current.kind != "with"):
            raise _Syntax(f"unexpected {kind!r} after else")
        # {{else if X}}: an if inside the alternative, closed by the same {{end}}.
        tokens = _tokens(rest[len(kind) :])
        if not tokens:
            raise _Syntax(f"missing value for {kind}")
        pipeline, _ = _parse_pipeline(tokens)
        chained = _Block(kind, pipeline)
        current.alternative.append(chained)
        stack[-1] = (chained.body, chained, False)
    elif word == "end":
        if len(stack) < 2:
            raise _Syntax("unexpected {{end}}")
        stack.pop()
    elif not body:
        raise _Syntax("missing value for command")
    else:
        pipeline, _ = _parse_pipeline(_tokens(body))
        stack[-1][0].append(_Action(pipeline))


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
