"""``.dockerignore``: which files of a build context stay out, with Docker's pattern rules.

One pattern per line; ``#`` lines and empty lines are ignored; a leading ``!`` makes an
exception; patterns are cleaned like paths (``./a/../b`` is ``b``, a leading ``/`` goes).
``*`` is any run of characters but ``/``, ``?`` one such character, ``[...]`` a class,
``**`` any number of directories (none included), ``\\`` escapes. A pattern that matches a
directory matches everything in it. The last pattern that matches a path decides.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cove.errors import InvalidArgument


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool  # "!pattern": put back what earlier patterns left out
    regex: re.Pattern[str]


def _clean(pattern: str) -> str:
    cleaned = posixpath.normpath(pattern.strip()).lstrip("/")
    return "" if cleaned == "." else cleaned


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern[i : i + 2] == "**":
                i += 2
                if pattern[i : i + 1] == "/":  # "**/": any number of directories, none included
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f".dockerignore: syntax error in pattern {pattern!r}: unclosed [")
            body = pattern[i + 1 : end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def parse(lines: Iterable[str]) -> list[Pattern]:
    patterns = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        text = _clean(line[1:] if exclusion else line)
        if not text:
            continue
        patterns.append(Pattern(text, exclusion, _compile(text)))
    return patterns


class Matcher:
    def __init__(self, patterns: list[Pattern]) -> None:
        self.patterns = patterns
        self.has_exclusions = any(p.exclusion for p in patterns)

    @classmethod
    def from_text(cls, text: str) -> Matcher:
        return cls(parse(text.splitlines()))

    def excluded(self, path: str) -> bool:
        """Is ``path`` (relative to the context, with ``/``) left out of the build?"""
        if not self.patterns:
            return False
        path = _clean(path)
        parents = _parents(path)
        result = False
        for pattern in self.patterns:
            # A pattern matching a directory also matches what is inside it.
            if pattern.regex.match(path) or any(pattern.regex.match(p) for p in parents):
                result = not pattern.exclusion
        return result

    def may_hold_included(self, directory: str) -> bool:
        """Can an excluded directory still hold something an exception puts back? (Then its
        walk must go on.)"""
        if not self.has_exclusions:
            return False
        prefix = _clean(directory) + "/"
        return any(
            p.exclusion and (p.text.startswith(prefix) or "*" in p.text or "?" in p.text or "[" in p.text)
            for p in self.patterns
        )


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
