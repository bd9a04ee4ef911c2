"""Interpolation of a compose file's values, as the Compose Specification defines it.

``$NAME`` and ``${NAME}`` take a variable's value (an unset one is the empty string);
``${NAME:-word}`` / ``${NAME-word}`` give ``word`` when NAME is unset or empty / unset;
``${NAME:+word}`` / ``${NAME+word}`` give ``word`` when NAME is set and not empty / set;
``${NAME:?msg}`` / ``${NAME?msg}`` fail with ``msg`` when NAME is unset or empty / unset.
``word`` and ``msg`` are themselves templates, expanded only when used (so defaults nest:
``${A:-${B:-x}}``). ``$$`` is a literal ``$``; a ``$`` that starts no valid form (``$ ``,
``$}``, ``$1``) stays as written; a ``${`` that starts no valid form is an error.

A name is ``[_A-Za-z][_A-Za-z0-9]*``. The operator is the one right after the name. The
word of a braced form ends at the brace that closes the ``${``, found by counting braces
on the same line as compose-go counts them: every ``{`` opens (and the character right
after it is not looked at), every ``}`` closes; and a ``${NAME<op>`` needs some ``}`` after
it on its line, else it is an error. A value looked up is never expanded again.

Bounded for untrusted files: defaults nest at most :data:`MAX_DEPTH` deep, one string
expands to at most :data:`MAX_STRING` characters, and one :func:`interpolate` call visits at
most :data:`MAX_NODES` values and produces at most :data:`MAX_TOTAL` characters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from cove.compose.errors import ComposeError, format_path
from cove.compose.tree import KeyPath, map_strings

Lookup = Callable[[str], "str | None"]
Warn = Callable[[str], None]

MAX_DEPTH = 32
MAX_STRING = 4 << 20
MAX_TOTAL = 32 << 20
MAX_NODES = 1_000_000
MAX_STRUCTURE_DEPTH = 256

# Longest first: ":-" must win over "-" at the same place.
_OPERATORS = (":-", ":+", ":?", "-", "+", "?")
_NAME_START = frozenset("_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_CHARS = _NAME_START | frozenset("0123456789")


class InterpolationError(ComposeError):
    """A value that cannot be interpolated: a required variable without a value, a bad template."""


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


@dataclass
class _Budget:
    characters: int
    nodes: int = MAX_NODES

    def spend(self, characters: int) -> None:
        self.characters -= characters
        if self.characters < 0:
            raise InterpolationError(f"interpolation produces more than {MAX_TOTAL} characters")


class _Expander:
    """One top-level template's expansion; ``template`` names it in error messages."""

    def __init__(self, template: str, lookup: Lookup, warn: Warn | None) -> None:
        self.template = template
        self.lookup = lookup
        self.warn = warn

    def invalid(self) -> InterpolationError:
        return InterpolationError(
            f"invalid interpolation format {_quote(self.template)} (write a literal $ as $$)"
        )

    def plain(self, name: str) -> str:
        value = self.lookup(name)
        if value is None:
            if self.warn is not None:
                self.warn(name)
            return ""
        return value

    def expand(self, text: str, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise InterpolationError(f"variables nest more than {MAX_DEPTH} deep in {_quote(self.template)}")
        out: list[str] = []
        size = 0
        i = 0
        while (dollar := text.find("$", i)) >= 0:
            replacement, following = self.one(text, dollar, depth)
            out += (text[i:dollar], replacement)
            size += dollar - i + len(replacement)
            if size > MAX_STRING:
                raise InterpolationError(f"interpolated value is longer than {MAX_STRING} characters")
            i = following
        out.append(text[i:])
        if size + len(text) - i > MAX_STRING:
            raise InterpolationError(f"interpolated value is longer than {MAX_STRING} characters")
        return "".join(out)

    def one(self, text: str, dollar: int, depth: int) -> tuple[str, int]:
        """The replacement of the form at ``text[dollar] == "$"`` and where scanning goes on."""
        n = len(text)
        following = text[dollar + 1] if dollar + 1 < n else ""
        if following == "$":
            return "$", dollar + 2
        if following in _NAME_START:
            end = _name_end(text, dollar + 1)
            return self.plain(text[dollar + 1 : end]), end
        if following != "{":
            return "$", dollar + 1
        start = dollar + 2
        end = _name_end(text, start)
        if end == start:
            raise self.invalid()
        name = text[start:end]
        if text.startswith("}", end):
            return self.plain(name), end + 1
        operator = next((op for op in _OPERATORS if text.startswith(op, end)), None)
        if operator is None:
            raise self.invalid()
        word_start = end + len(operator)
        line_end = text.find("\n", word_start)
        last = text.rfind("}", word_start, n if line_end < 0 else line_end)
        if last < 0:
            raise self.invalid()
        close = _closing_brace(text, dollar, last)
        return self.apply(name, operator, text[word_start:close], depth), close + 1

    def apply(self, name: str, operator: str, word: str, depth: int) -> str:
        value = self.lookup(name)
        if operator in (":-", "-"):
            if value is None or (operator == ":-" and not value):
                return self.expand(word, depth + 1)
            return value
        if operator in (":+", "+"):
            if value is not None and (operator == "+" or value):
                return self.expand(word, depth + 1)
            return value or ""
        if value is None or (operator == ":?" and not value):
            reason = self.expand(word, depth + 1)
            message = f"required variable {name} is missing a value"
            raise InterpolationError(f"{message}: {reason}" if reason else message)
        return value


def _name_end(text: str, start: int) -> int:
    end = start
    if end < len(text) and text[end] in _NAME_START:
        end += 1
        while end < len(text) and text[end] in _NAME_CHARS:
            end += 1
    return end


def _closing_brace(text: str, dollar: int, last: int) -> int:
    """The ``}`` that closes the ``${`` at ``dollar``, counted up to ``last``; ``last`` if none does."""
    open_braces = 0
    i = dollar
    while i <= last:
        char = text[i]
        if char == "}":
            open_braces -= 1
            if open_braces == 0:
                return i
        elif char == "{":
            open_braces += 1
            i += 1  # compose-go does not look at the character after an opening brace
        i += 1
    return last


def substitute(template: str, lookup: Lookup, *, warn: Warn | None = None) -> str:
    """``template`` with its variables replaced; ``warn(name)`` is told of each unset plain variable."""
    if "$" not in template:
        return template
    return _Expander(template, lookup, warn).expand(template, 0)


def interpolate(
    value: object,
    lookup: Lookup,
    *,
    path: tuple[str | int, ...] = (),
    warn: Warn | None = None,
) -> object:
    """Every string inside a YAML-loaded value (dicts, lists, scalars) interpolated.

    Mapping keys are not interpolated (as compose-go); other scalars are returned as they
    are. On error raise :class:`InterpolationError` whose message starts with the key path,
    e.g. ``services.web.image: required variable TAG is missing a value: set it``.
    """
    budget = _Budget(MAX_TOTAL)

    def enter(at: KeyPath) -> bool:
        budget.nodes -= 1
        if budget.nodes < 0 or len(at) > MAX_STRUCTURE_DEPTH:
            what = (
                f"more than {MAX_NODES} values" if budget.nodes < 0 else f"deeper than {MAX_STRUCTURE_DEPTH}"
            )
            raise InterpolationError(_at(at, f"document is too large to interpolate ({what})"))
        return True

    def leaf(text: str, at: KeyPath) -> str:
        try:
            result = substitute(text, lookup, warn=warn)
            budget.spend(len(result))
        except InterpolationError as err:
            raise InterpolationError(_at(at, str(err))) from None
        return result

    return map_strings(value, list(path), leaf, enter)


def _at(path: list[str | int], message: str) -> str:
    return f"{format_path(tuple(path))}: {message}" if path else message
