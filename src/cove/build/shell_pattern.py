"""Shell patterns of ``${VAR#pat}``, ``${VAR%pat}`` and ``${VAR/pat/repl}``, matched as BuildKit does.

BuildKit turns the pattern into a Go regular expression: ``*`` is any run of characters and
``?`` any one character (neither crosses a newline, as Go's ``.`` does not), ``\\*``, ``\\?``
and ``\\\\`` are those characters, ``\\}`` and ``\\/`` are ``}`` and ``/`` (the backslash only
kept them from ending the ``${}``), and any other backslash is an error. Everything else,
brackets included, is literal: BuildKit has no ``[...]`` classes.

The Dockerfile is untrusted, so matching must not backtrack: a pattern is a few states and a
value is read once, keeping every live state at once with the priority a backtracking engine
would give them (a Pike VM). That gives Go's leftmost-first answers (``*`` greedy for ``##``,
``%%`` and ``/``, lazy for ``#`` and ``%``) in time proportional to value x pattern, and a step
budget bounds even that.
"""

from __future__ import annotations

from dataclasses import dataclass

# Work allowed for the pattern operations of one word: value length x live states, summed.
STEP_BUDGET = 500_000
MAX_PATTERN = 4096

_ANY = "?"  # token kinds; a literal is ("", char)
_STAR = "*"


class PatternError(ValueError):
    """A pattern BuildKit rejects, or one too costly to match; the lexer reports it."""


@dataclass
class Budget:
    """Steps left for one word's pattern operations."""

    steps: int = STEP_BUDGET

    def spend(self, count: int) -> None:
        self.steps -= count
        if self.steps < 0:
            raise PatternError("pattern too costly to match against this value")


Token = tuple[str, str]


def tokens(pattern: str) -> list[Token]:
    """The pattern as (kind, char) tokens; kind is "" for a literal, "?" or "*"."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"pattern longer than {MAX_PATTERN} characters")
    found: list[Token] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char in (_ANY, _STAR):
            found.append((char, ""))
        elif char != "\\":
            found.append(("", char))
        elif i < len(pattern) and pattern[i] in "*?\\}/":
            found.append(("", pattern[i]))
            i += 1
        else:
            shown = pattern[i] if i < len(pattern) else ""
            raise PatternError(f"invalid escape '\\{shown}'")
    return found


def _literal(toks: list[Token]) -> str | None:
    """The text a pattern of only literals stands for, else None."""
    if any(kind for kind, _ in toks):
        return None
    return "".join(char for _, char in toks)


def _closure(toks: list[Token], state: int, greedy: bool, seen: set[int], out: list[int]) -> None:
    """Add ``state`` and what it reaches without reading, in the order a backtracker tries them.

    Only a star moves without reading (to the next token); it also reads, staying put. The
    greedy star prefers reading, the lazy one moving on."""
    chain: list[int] = []
    while state not in seen:
        seen.add(state)
        chain.append(state)
        if state == len(toks) or toks[state][0] != _STAR:
            break
        state += 1
    out.extend(chain if greedy else reversed(chain))


def find(
    toks: list[Token], value: str, start: int, *, greedy: bool, anchored: bool, budget: Budget
) -> tuple[int, int] | None:
    """The leftmost-first match at or after ``start`` (or exactly at it when anchored)."""
    end_state = len(toks)
    threads: list[tuple[int, int]] = []  # (state, where the match began), best first
    seen: set[int] = set()
    found: tuple[int, int] | None = None
    pos = start
    while True:
        if found is None and (not anchored or pos == start):
            fresh: list[int] = []
            _closure(toks, 0, greedy, seen, fresh)
            threads.extend((state, pos) for state in fresh)
        if not threads:
            return found
        budget.spend(len(threads))
        char = value[pos] if pos < len(value) else None
        following: list[tuple[int, int]] = []
        seen = set()
        for state, began in threads:
            if state == end_state:
                found = (began, pos)
                break  # the threads after this one rank lower: a match here beats them
            if char is None:
                continue
            kind, literal = toks[state]
            if kind == "":
                if char != literal:
                    continue
                target = state + 1
            elif char == "\n":
                continue
            else:
                target = state if kind == _STAR else state + 1
            reached: list[int] = []
            _closure(toks, target, greedy, seen, reached)
            following.extend((next_state, began) for next_state in reached)
        if char is None:
            return found
        threads = following
        pos += 1


def trim_prefix(pattern: str, value: str, *, greedy: bool, budget: Budget) -> str:
    """``${VAR#pattern}`` (shortest) or ``${VAR##pattern}`` (greedy)."""
    toks = tokens(pattern)
    literal = _literal(toks)
    if literal is not None:
        return value[len(literal) :] if value.startswith(literal) else value
    match = find(toks, value, 0, greedy=greedy, anchored=True, budget=budget)
    return value[match[1] :] if match else value


def trim_suffix(pattern: str, value: str, *, greedy: bool, budget: Budget) -> str:
    """``${VAR%pattern}`` / ``${VAR%%pattern}``: the prefix match of both reversed."""
    toks = tokens(pattern)
    literal = _literal(toks)
    if literal is not None:
        return value[: len(value) - len(literal)] if literal and value.endswith(literal) else value
    toks.reverse()
    backwards = value[::-1]
    match = find(toks, backwards, 0, greedy=greedy, anchored=True, budget=budget)
    return backwards[match[1] :][::-1] if match else value


def replace(pattern: str, value: str, replacement: str, *, every: bool, budget: Budget) -> str:
    """``${VAR/pattern/replacement}`` (first match) or ``${VAR//pattern/replacement}`` (all).

    Go's ReplaceAllString reads the replacement as a template (``$0`` is the match, ``$$`` a
    dollar, another ``$name`` nothing); the single replacement is taken as it is."""
    toks = tokens(pattern)
    literal = _literal(toks)
    if literal:
        return value.replace(
            literal, _template(replacement, literal) if every else replacement, -1 if every else 1
        )
    if not every:
        match = find(toks, value, 0, greedy=True, anchored=False, budget=budget)
        if match is None:
            return value
        return value[: match[0]] + replacement + value[match[1] :]
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(value):
        match = find(toks, value, search, greedy=True, anchored=False, budget=budget)
        if match is None:
            break
        begin, end = match
        out.append(value[last_end:begin])
        # an empty match right after a match is not replaced again
        if end > last_end or begin == 0:
            out.append(_template(replacement, value[begin:end]))
        last_end = end
        search = end if end > search else search + 1
    out.append(value[last_end:])
    return "".join(out)


def _template(template: str, match: str) -> str:
    """Go's regexp Expand for a pattern without groups: only group 0 exists."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char != "$" or i + 1 >= len(template):
            out.append(char)
            i += 1
            continue
        if template[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        name, after = _template_name(template, i + 1)
        if name is None:
            out.append("$")  # malformed: the dollar is plain text
            i += 1
            continue
        if name == "0":
            out.append(match)
        i = after
    return "".join(out)


def _template_name(template: str, start: int) -> tuple[str | None, int]:
    """The group name after a ``$`` (``name`` or ``{name}``) and where the reference ends."""
    braced = template[start] == "{"
    i = start + 1 if braced else start
    begin = i
    while i < len(template) and (template[i].isalpha() or template[i].isdecimal() or template[i] == "_"):
        i += 1
    if i == begin:
        return None, start
    name = template[begin:i]
    if braced:
        if i >= len(template) or template[i] != "}":
            return None, start
        i += 1
    return name, i
