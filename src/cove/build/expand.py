"""Word splitting and variable expansion in Dockerfile arguments, as Docker does them.

Used for the instructions whose arguments the builder itself reads (FROM, COPY, ADD, ENV,
LABEL, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL, ARG's default); RUN, CMD and ENTRYPOINT
in the shell form are left to the shell.

- Single quotes: literal; double quotes: expansion, and the escape character escapes ``"``,
  ``$`` and itself; outside quotes the escape character makes the next character literal.
- ``$NAME``, ``${NAME}``, ``${NAME:-word}`` (unset or empty: word), ``${NAME-word}`` (unset:
  word), ``${NAME:+word}`` (set and not empty: word, else empty), ``${NAME+word}`` (set:
  word), ``${NAME:?message}`` / ``${NAME?message}`` (an error when unset or empty / unset).
  An unknown variable is empty. ``word`` is itself expanded.
"""

from __future__ import annotations

from collections.abc import Mapping

from cove.errors import InvalidArgument

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class ExpansionError(InvalidArgument):
    pass


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text = text
        self.env = env
        self.escape = escape
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    # -- words -------------------------------------------------------------------------------

    def words(self) -> list[str]:
        """Split on unquoted whitespace, expanding as we go."""
        found: list[str] = []
        while True:
            while self.peek().isspace():
                self.pos += 1
            if not self.peek():
                return found
            found.append(self.word(stop_at_space=True))

    def word(self, *, stop_at_space: bool = False, stop: str = "") -> str:
        out: list[str] = []
        while True:
            char = self.peek()
            if not char or (stop_at_space and char.isspace()) or (stop and char in stop):
                return "".join(out)
            self.pos += 1
            if char == self.escape:
                out.append(self.take())  # the next character, as it is (nothing at the end)
            elif char == "'":
                out.append(self.single_quoted())
            elif char == '"':
                out.append(self.double_quoted())
            elif char == "$":
                out.append(self.variable())
            else:
                out.append(char)

    def single_quoted(self) -> str:
        end = self.text.find("'", self.pos)
        if end < 0:
            raise ExpansionError(f"unexpected end of input: unmatched ' in {self.text!r}")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def double_quoted(self) -> str:
        out: list[str] = []
        while True:
            char = self.take()
            if not char:
                raise ExpansionError(f'unexpected end of input: unmatched " in {self.text!r}')
            if char == '"':
                return "".join(out)
            if char == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.take())
            elif char == "$":
                out.append(self.variable())
            else:
                out.append(char)

    # -- variables ---------------------------------------------------------------------------

    def name(self) -> str:
        start = self.pos
        while self.peek() and self.peek() in _NAME_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def variable(self) -> str:
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1
        name = self.name()
        if not name:
            raise ExpansionError(f"bad substitution in {self.text!r}: ${{ needs a variable name")
        char = self.take()
        if not char:
            raise ExpansionError(f"missing '}}' in {self.text!r}")
        if char == "}":
            return self.env.get(name, "")
        colon = char == ":"
        if colon:
            char = self.take()
        if char not in ("-", "+", "?"):
            raise ExpansionError(f"unsupported modifier ({char or 'end'}) in substitution in {self.text!r}")
        word = self.word(stop="}")
        if self.take() != "}":
            raise ExpansionError(f"missing '}}' in {self.text!r}")
        value = self.env.get(name)
        present = value is not None and (value != "" or not colon)
        if char == "-":
            return value if present and value is not None else word
        if char == "+":
            return word if present else ""
        if not present:  # "?"
            raise ExpansionError(f"{name}: {word or 'is not set'}")
        return value or ""


def expand(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word: quotes removed, variables expanded, whitespace kept."""
    return _Lexer(text, env, escape).word()


def split_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Words split on unquoted whitespace, each expanded."""
    return _Lexer(text, env, escape).words()


def key_values(
    text: str, env: Mapping[str, str], escape: str = "\\", *, legacy: bool = True
) -> list[tuple[str, str]]:
    """``KEY=VALUE ...`` pairs (ENV, LABEL); ``legacy`` allows ENV's old ``KEY VALUE WORDS``."""
    first_space = next((i for i, c in enumerate(text.strip()) if c.isspace()), -1)
    head = text.strip()[: first_space if first_space >= 0 else None]
    if legacy and "=" not in head:
        key = head
        rest = text.strip()[len(head) :].strip()
        return [(key, expand(rest, env, escape))]
    pairs = []
    for word in _raw_words(text, escape):
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise ExpansionError(f"{word!r} is not KEY=VALUE")
        pairs.append((expand(key, env, escape), expand(value, env, escape)))
    return pairs


def _raw_words(text: str, escape: str) -> list[str]:
    """Words as written (quotes kept), split on whitespace outside quotes."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == escape and i + 1 < len(text) and quote != "'":
            current.append(char + text[i + 1])
            i += 2
            continue
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char.isspace():
            if current:
                words.append("".join(current))
                current = []
            i += 1
            continue
        current.append(char)
        i += 1
    if quote:
        raise ExpansionError(f"unexpected end of input: unmatched {quote} in {text!r}")
    if current:
        words.append("".join(current))
    return words
