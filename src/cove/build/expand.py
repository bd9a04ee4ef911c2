"""Word splitting and variable expansion in Dockerfile arguments, with BuildKit's rules.

:class:`ShellLex` reads a word as BuildKit's shell lexer does:

- Outside quotes the escape character (``\\`` or the ``escape`` directive's backtick) makes
  the next character literal; at the very end it is dropped.
- Single quotes are literal. In double quotes the escape character escapes only ``"``, ``$``
  and itself; elsewhere it stays.
- ``$NAME``, ``${NAME}``; ``${NAME:-w}`` ``${NAME-w}`` ``${NAME:+w}`` ``${NAME+w}``
  ``${NAME:?w}`` ``${NAME?w}``; ``${NAME#p}`` ``##`` ``%`` ``%%`` ``/p/r`` ``//p/r`` with the
  shell patterns of :mod:`cove.build.shell_pattern`. ``w``, ``p`` and ``r`` are expanded too;
  ``p`` and ``r`` keep their escape characters (the pattern reads its own backslashes).
  A name is letters, digits and ``_``; ``$1x`` is ``$1`` then ``x``; ``$@ $* $# $? $- $$ $!
  $0`` are names of one character. Nothing sets them, so they are empty like any unset name.
- Modes, each BuildKit's: ``raw_quotes`` keeps the quote characters, ``raw_escapes`` the escape
  characters, ``skip_process_quotes`` makes quotes ordinary characters (heredoc content),
  ``skip_unset_env`` leaves a reference to an unset variable as written.

Word splitting (:meth:`ShellLex.process_words`) happens after expansion, on whitespace that
came from the text or from an unquoted variable; quoted and escaped characters never split.

Errors are :class:`ExpansionError`, one line: a ``${NAME:?message}`` gives the Dockerfile's own
``NAME: message``; anything else the reason and the word. A Dockerfile is untrusted, so the
work is bounded: substitutions nest at most :data:`MAX_NESTING` deep, and pattern matching is
linear with a step budget (see :mod:`cove.build.shell_pattern`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from cove.build import shell_pattern
from cove.errors import InvalidArgument

# Go's unicode.IsSpace (Python's str.isspace also counts \x1c-\x1f).
_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(code) for code in range(0x2000, 0x200B)
)
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_HEREDOC_SPACE = frozenset("\t\r ")
_END = ""  # what _Scan.peek gives at the end
# ${...} inside ${...}: deeper than any Dockerfile needs, well short of Python's stack
MAX_NESTING = 64


class ExpansionError(InvalidArgument):
    pass


@dataclass(frozen=True)
class Expansion:
    value: str
    matched: frozenset[str]  # variable names that were found in env
    unmatched: frozenset[str]  # names used but not in env


class ShellLex:
    """BuildKit's shell.Lex: one configuration, used for any number of words."""

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_process_quotes: bool = False,
        skip_unset_env: bool = False,
    ) -> None:
        if escape not in ("\\", "`"):
            raise ExpansionError(f"invalid escape character {escape!r}: must be \\ or `")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env: Mapping[str, str]) -> Expansion:
        """One word: expanded, quotes removed (per the modes), whitespace kept."""
        scan = _Scan(self, word, env)
        value, _ = scan.run()
        return Expansion(value, frozenset(scan.matched), frozenset(scan.unmatched))

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """The expanded text split into words."""
        _, words = _Scan(self, word, env).run()
        return words


class _Words:
    """The words one level of the scan has produced so far.

    The buffer of the word being built is shared by every level, and a nested level (the
    word inside ``${NAME:-word}``) empties it: a word written before such a reference loses
    what it had (``a${X:-b}c`` splits to ``bc``). That is what BuildKit does, kept so that
    words split the same way in cove."""

    def __init__(self, buffer: list[str]) -> None:
        buffer.clear()
        self.buffer = buffer
        self.words: list[str] = []
        self.in_word = False

    def char(self, char: str) -> None:
        if char not in _SPACE:
            self.raw(char)
        elif self.in_word and self.buffer:
            self.words.append("".join(self.buffer))
            self.buffer.clear()
            self.in_word = False

    def text(self, text: str) -> None:
        for char in text:
            self.char(char)

    def raw(self, text: str) -> None:
        self.buffer.append(text)
        self.in_word = True

    def finish(self) -> list[str]:
        if self.buffer:
            self.words.append("".join(self.buffer))
            self.buffer.clear()
            self.in_word = False
        return self.words


class _Failure(Exception):
    """A reason the word cannot be expanded; run() names the word in the ExpansionError."""


class _Required(_Failure):
    """``${NAME:?message}``: the Dockerfile's own message, shown as it is."""


class _Scan:
    """One word being read."""

    def __init__(self, lex: ShellLex, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        # Go's text/scanner skips a byte-order mark at the very start.
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.source = text
        self.env = env
        self.pos = 0
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        self.buffer: list[str] = []
        self.budget: shell_pattern.Budget | None = None
        self.depth = 0

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.until(_END, raw_escapes=self.lex.raw_escapes)
        except _Required as failure:
            raise ExpansionError(str(failure)) from None
        except _Failure as failure:
            raise ExpansionError(f"{failure} in {_shown(self.source)}") from None

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _END

    def take(self) -> str:
        char = self.peek()
        if char:
            self.pos += 1
        return char

    def lookup(self, name: str) -> str | None:
        value = self.env.get(name)
        (self.unmatched if value is None else self.matched).add(name)
        return value

    # -- a run of text up to a stop character ----------------------------------------------

    def until(self, stop: str, *, raw_escapes: bool) -> tuple[str, list[str]]:
        """Read to ``stop`` (consumed) or, with no stop, to the end: the text and its words."""
        out: list[str] = []
        words = _Words(self.buffer)
        escape = self.lex.escape
        quotes = not self.lex.skip_process_quotes
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if stop and char == stop:
                self.pos += 1
                return "".join(out), words.finish()
            if char == "$":
                value = self.dollar()
                out.append(value)
                words.text(value)
            elif char == "<":
                value = self.maybe_heredoc()
                out.append(value)
                words.raw(value)
            elif quotes and char == "'":
                value = self.single_quoted()
                out.append(value)
                words.raw(value)
            elif quotes and char == '"':
                value = self.double_quoted(raw_escapes)
                out.append(value)
                words.raw(value)
            elif char == escape:
                self.pos += 1
                if raw_escapes:
                    words.raw(char)
                    out.append(char)
                escaped = self.take()
                if not escaped:
                    break  # an escape at the very end escapes nothing
                words.raw(escaped)
                out.append(escaped)
            else:
                self.pos += 1
                words.char(char)
                out.append(char)
        if stop:
            raise _Failure(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.finish()

    def single_quoted(self) -> str:
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise _Failure("unexpected end of statement while looking for matching single-quote")
        inside = self.text[self.pos : end]
        self.pos = end + 1
        return f"'{inside}'" if self.lex.raw_quotes else inside

    def double_quoted(self, raw_escapes: bool) -> str:
        self.pos += 1
        escape = self.lex.escape
        out: list[str] = ['"'] if self.lex.raw_quotes else []
        while True:
            char = self.peek()
            if not char:
                raise _Failure("unexpected end of statement while looking for matching double-quote")
            if char == '"':
                self.pos += 1
                if self.lex.raw_quotes:
                    out.append(char)
                return "".join(out)
            if char == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if char == escape:
                if raw_escapes:
                    out.append(char)
                following = self.peek()
                if not following:
                    continue  # the loop reports the missing quote
                if following in ('"', "$", escape):
                    char = self.take()
                # any other escape is literal (and, with raw escapes, written twice, as BuildKit does)
            out.append(char)

    def maybe_heredoc(self) -> str:
        """``<<`` and the blanks after it stay in one word (the heredoc's name follows)."""
        self.pos += 1
        if self.peek() != "<":
            return "<"
        start = self.pos - 1
        self.pos += 1
        while self.peek() and self.peek() in _HEREDOC_SPACE:
            self.pos += 1
        return self.text[start : self.pos]

    # -- variables ---------------------------------------------------------------------------

    def name(self) -> str:
        start = self.pos
        char = self.peek()
        if char and char.isdecimal():
            while self.peek() and self.peek().isdecimal():
                self.pos += 1
            return self.text[start : self.pos]
        if char and char in _SPECIAL_PARAMS:
            self.pos += 1
            return char
        while self.peek() and (self.peek().isalpha() or self.peek().isdecimal() or self.peek() == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def dollar(self) -> str:
        self.pos += 1
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return f"${name}" if self.lex.skip_unset_env else ""
            return value
        self.pos += 1
        if not self.peek():
            raise _Failure("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise _Failure("syntax error: bad substitution")
        name = self.name()
        operator = self.take()
        if not operator:
            # BuildKit: "unsupported modifier (\ufffd)", the end read as a character
            raise _Failure("syntax error: missing '}'")
        if operator == "}":
            value = self.lookup(name)
            if value is None:
                return f"${{{name}}}" if self.lex.skip_unset_env else ""
            return value
        if operator == "/":
            return self.substitute(name)
        colon = operator == ":"
        if colon:
            operator = self.take()
        shown = (":" if colon else "") + (operator or "\ufffd")
        if operator not in ("+", "-", "?", "#", "%") and not colon:
            raise _Failure(f"unsupported modifier ({shown}) in substitution")
        pattern = operator in ("#", "%")
        if colon and pattern:
            raise _Failure(f"unsupported modifier ({shown}) in substitution")
        word = self.nested("}", raw_escapes=pattern, missing="syntax error: missing '}'")
        value = self.lookup(name)
        if value is None and self.lex.skip_unset_env:
            return f"${{{name}{shown}{word}}}"
        unset = value is None or (colon and value == "")
        if operator == "-":
            return word if unset or value is None else value
        if operator == "+":
            return "" if unset else word
        if operator == "?":
            if value is None:
                raise _Required(f"{name}: {word or 'is not allowed to be unset'}")
            if unset:
                raise _Required(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if pattern:
            return self.trim(operator, word, value or "")
        raise _Failure(f"unsupported modifier ({shown}) in substitution")

    def nested(self, stop: str, *, raw_escapes: bool, missing: str) -> str:
        if self.depth >= MAX_NESTING:
            raise _Failure(f"substitutions nested more than {MAX_NESTING} deep")
        self.depth += 1
        try:
            text, _ = self.until(stop, raw_escapes=raw_escapes)
        except _Failure:
            if not self.peek():
                raise _Failure(missing) from None
            raise
        finally:
            self.depth -= 1
        return text

    def trim(self, operator: str, word: str, value: str) -> str:
        greedy = word.startswith(operator)
        pattern = word[1:] if greedy else word
        try:
            if operator == "#":
                return shell_pattern.trim_prefix(pattern, value, greedy=greedy, budget=self.pattern_budget())
            return shell_pattern.trim_suffix(pattern, value, greedy=greedy, budget=self.pattern_budget())
        except shell_pattern.PatternError as error:
            raise _Failure(f"invalid pattern ({pattern}) in substitution: {error}") from None

    def substitute(self, name: str) -> str:
        every = self.peek() == "/"
        if every:
            self.pos += 1
        pattern = self.nested("/", raw_escapes=True, missing="syntax error: missing '/' in ${}")
        replacement = self.nested("}", raw_escapes=True, missing="syntax error: missing '}'")
        value = self.lookup(name)
        if value is None and self.lex.skip_unset_env:
            return f"${{{name}/{pattern}/{replacement}}}"
        try:
            return shell_pattern.replace(
                pattern, value or "", replacement, every=every, budget=self.pattern_budget()
            )
        except shell_pattern.PatternError as error:
            raise _Failure(f"invalid pattern ({pattern}) in substitution: {error}") from None

    def pattern_budget(self) -> shell_pattern.Budget:
        if self.budget is None:
            self.budget = shell_pattern.Budget()
        return self.budget


def _shown(word: str, limit: int = 120) -> str:
    """The word for an error message: quoted, on one line, and not too long."""
    if len(word) > limit:
        word = word[: limit - 3] + "..."
    return json.dumps(word, ensure_ascii=False)


# -- the build's entry points -----------------------------------------------------------------


def expand(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word: quotes removed, variables expanded, whitespace kept."""
    return ShellLex(escape).process_word(text, env).value


def expand_heredoc(content: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """The content of an unquoted ``COPY``/``ADD`` heredoc (``<<EOF``), as BuildKit writes it.

    ``$`` is expanded; quotes are ordinary characters; the escape character still escapes
    (``\\$`` is ``$``, ``\\\\`` is ``\\``, a lone ``\\`` before a newline goes). BuildKit uses
    ``\\`` here whatever the ``escape`` directive says, so callers pass the default. A quoted
    heredoc (``<<'EOF'``) and any ``RUN`` heredoc are not expanded by the builder at all: the
    content goes to the file or the shell as written."""
    return ShellLex(escape, skip_process_quotes=True).process_word(content, env).value
