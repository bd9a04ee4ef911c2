"""Env files (``.env``, ``--env-file``, a service's ``env_file:``) as compose-go reads them.

One statement after another, each starting at the next character that is not white space
(and not a ``#`` comment line): an optional ``export `` and a key of letters, digits and
``_ . - [ ]``, ended by ``=`` or ``:`` (the value follows) or by the end of its line (then the
key alone takes its value from the lookup, and is absent if the lookup has none). A value is

- unquoted: the rest of the line, cut at the first `` #``, trailing white space trimmed;
- single-quoted: literal (only ``\\'`` is unescaped), and may span lines;
- double-quoted: may span lines; ``\\a \\b \\f \\n \\r \\t \\v \\" \\\\`` and ``\\0NNN`` (octal)
  are unescaped, and ``\\$`` is a literal ``$``;

and unquoted and double-quoted values are interpolated (cove.compose.interpolation), a name
taking its value from the lookup first and from the keys above it second, as compose-go does.
Anything after a closing quote on its line starts the next statement (so ``# comments`` there
are comments). A UTF-8 byte order mark is skipped and CRLF line ends read as LF ones (a
``\\r`` stays inside a quoted value). Bounded: a file of at most :data:`MAX_FILE` bytes, and
its values at most :data:`MAX_TOTAL` characters in all.
"""

from __future__ import annotations

import json
import re
import stat
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from cove.compose.errors import ComposeError
from cove.compose.interpolation import InterpolationError, substitute

Lookup = Callable[[str], "str | None"]

MAX_FILE = 4 << 20
MAX_TOTAL = 32 << 20

# Go's unicode.IsSpace (the Unicode White_Space property).
_WHITE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
# compose-go's in-line space: white space that does not end a line.
_INLINE = "\t\v\f\r \x85\xa0"
_KEY_PUNCTUATION = frozenset("_.-[]")
_EXPORT = re.compile(r"export[\t\n\f\r ]+")
_ESCAPE = re.compile(r"""\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})""")
_SPECIAL = {quote: re.compile(rf"[\\\n{quote}]") for quote in "'\""}
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}


class DotenvError(ComposeError):
    """An env file that cannot be read: ``FILE:LINE: message`` (or ``FILE: message``)."""


def _no_lookup(name: str) -> str | None:
    return None


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _unescape(match: re.Match[str]) -> str:
    escape = match.group()
    if escape == "\\$":
        return "$$"  # interpolation's literal dollar
    if escape[1] == "0":
        digits = escape[2:]
        if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) <= 0o377:
            return chr(int(digits, 8))
        return escape  # not an octal escape: kept as written
    return _ESCAPES.get(escape[1], escape)  # "\c" is matched but is no escape


def _key_char(char: str) -> bool:
    return char in _KEY_PUNCTUATION or unicodedata.category(char)[0] in "LN"


class _Parser:
    def __init__(self, text: str, lookup: Lookup, source: str, into: dict[str, str] | None = None) -> None:
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.lookup = lookup
        self.source = source
        self.pos = 0
        self.line = 1
        self.out: dict[str, str] = {} if into is None else into
        self.budget = MAX_TOTAL - sum(len(value) for value in self.out.values())

    def error(self, line: int, message: str) -> DotenvError:
        return DotenvError(f"{self.source}:{line}: {message}")

    def parse(self) -> dict[str, str]:
        while self.next_statement():
            key_line = self.line
            key, alone = self.key()
            if any(char in _WHITE for char in key):
                raise self.error(key_line, "key cannot contain a space")
            if alone:
                value = self.lookup(key)
                if value is not None:
                    self.keep(key, value)
                continue
            self.keep(key, self.value())
        return self.out

    def keep(self, key: str, value: str) -> None:
        self.budget -= len(value)
        if self.budget < 0:
            raise DotenvError(f"{self.source}: values are longer than {MAX_TOTAL} characters in all")
        self.out[key] = value

    def skip(self, chars: str) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in chars:
            if text[pos] == "\n":
                self.line += 1
            pos += 1
        self.pos = pos

    def next_statement(self) -> bool:
        """Skip blank lines and comments; False at the end of the text."""
        while True:
            self.skip(_WHITE)
            if self.pos >= len(self.text):
                return False
            if self.text[self.pos] != "#":
                return True
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def key(self) -> tuple[str, bool]:
        """The key and whether it stands alone (no value); leaves ``pos`` at the value."""
        text = self.text
        export = _EXPORT.match(text, self.pos)
        if export is not None:
            self.pos += len("export")
            self.skip(_INLINE)
        start = end = self.pos
        while end < len(text) and text[end] not in "=:\n":
            char = text[end]
            if char not in _INLINE and not _key_char(char):
                first_line = text[start:].split("\n", 1)[0]
                raise self.error(
                    self.line, f"unexpected character {_quote(char)} in variable name {_quote(first_line)}"
                )
            end += 1
        key = text[start:end].rstrip(_WHITE)
        alone = end >= len(text) or text[end] == "\n"
        if end < len(text) and text[end] == "\n":
            self.line += 1
        self.pos = end + 1
        if not alone:
            self.skip(_INLINE)
        return key, alone

    def value(self) -> str:
        text, line = self.text, self.line
        if self.pos < len(text) and text[self.pos] in "'\"":
            return self.quoted()
        end = text.find("\n", self.pos)
        if end < 0:
            end = len(text)
        raw = text[self.pos : end].split(" #", 1)[0].rstrip(_WHITE)
        self.pos = end + 1
        self.line += 1
        return self.expand(raw, line)

    def quoted(self) -> str:
        """A quoted value; a backslash keeps the character after it (and itself, unless that is the quote)."""
        text, start, line = self.text, self.pos, self.line
        quote = text[start]
        special = _SPECIAL[quote]
        chars: list[str] = []
        i = start + 1
        while (found := special.search(text, i)) is not None:
            at = found.start()
            chars.append(text[i:at])
            char = text[at]
            if char == quote:
                self.pos = at + 1
                value = "".join(chars)
                return self.expand(_ESCAPE.sub(_unescape, value), line) if quote == '"' else value
            if char == "\n":
                self.line += 1
                chars.append(char)
                i = at + 1
                continue
            if at + 1 >= len(text):
                break
            escaped = text[at + 1]
            chars.append(escaped if escaped == quote else "\\" + escaped)
            if escaped == "\n":
                self.line += 1
            i = at + 2
        shown = text[start:].split("\n", 1)[0]
        raise self.error(line, f"unterminated quoted value {shown}")

    def expand(self, value: str, line: int) -> str:
        def lookup(name: str) -> str | None:
            found = self.lookup(name)
            return self.out.get(name) if found is None else found

        try:
            return substitute(value, lookup)
        except InterpolationError as err:
            raise self.error(line, str(err)) from None


def parse_dotenv(text: str, *, lookup: Lookup = _no_lookup, source: str = ".env") -> dict[str, str]:
    """The variables an env file's text sets, in file order; errors name ``source`` and the line."""
    return _Parser(text, lookup, source).parse()


def read_dotenv(path: Path, *, lookup: Lookup = _no_lookup, required: bool = True) -> dict[str, str]:
    """:func:`parse_dotenv` of the file at ``path``; missing: an error if ``required``, else ``{}``."""
    text = _read(path, required)
    return {} if text is None else parse_dotenv(text, lookup=lookup, source=str(path))


def read_dotenv_files(
    paths: Sequence[Path], *, lookup: Lookup = _no_lookup, required: bool = True
) -> dict[str, str]:
    """Several env files (``--env-file a --env-file b``, a list of ``env_file:``) read as one, in order.

    As compose-go: a later file's key overrides an earlier one's, and a name is expanded from
    the lookup first, then from the keys read so far (this file's above it, then the files before).
    """
    merged: dict[str, str] = {}
    for path in paths:
        text = _read(path, required)
        if text is not None:
            _Parser(text, lookup, str(path), into=merged).parse()
    return merged


def _read(path: Path, required: bool) -> str | None:
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise DotenvError(f"{path}: is a directory, not an env file")
        if not stat.S_ISREG(mode):
            raise DotenvError(f"{path}: is not a regular file")
        with path.open("rb") as file:
            data = file.read(MAX_FILE + 1)
    except FileNotFoundError:
        if required:
            raise DotenvError(f"{path}: env file not found") from None
        return None
    except OSError as err:
        raise DotenvError(f"{path}: cannot read the env file: {err.strerror or err}") from None
    if len(data) > MAX_FILE:
        raise DotenvError(f"{path}: an env file is at most {MAX_FILE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DotenvError(f"{path}:{line}: not UTF-8 text") from None
