"""The comparisons between cove's Dockerfile parser and BuildKit's parser tables.

One function per kind of case, each answering ``None`` when cove agrees and a one-line
difference otherwise; the unit tests run them over cove's copies of the cases
(tests/unit/buildkit/) and scripts/buildkit_parser_tables.py over a BuildKit checkout.

How BuildKit's answers map onto cove's: a dump is compared as text; a heredoc's content is
compared chomped when it is a ``<<-`` one (cove's Heredoc holds the content the build uses,
BuildKit chomps it later), and BuildKit's file descriptor 0 (none written) is cove's None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cove.build.dockerfile import (
    DockerfileError,
    Heredoc,
    dump,
    dump_all,
    heredoc_from_word,
    heredocs_in_line,
    json_strings,
    parse_syntax,
)


def whole_file(dockerfile: bytes, result: str) -> str | None:
    """A testfiles case: the whole file's dump equals BuildKit's ``result``."""
    try:
        got = dump_all(parse_syntax(dockerfile)) + "\n"
    except DockerfileError as exc:
        return f"refused: {exc.message}"
    if got == result:
        return None
    for number, (want, have) in enumerate(zip(result.splitlines(), got.splitlines(), strict=False), 1):
        if want != have:
            return f"instruction {number}: {have} != {want}"
    return f"{len(got.splitlines())} instructions, BuildKit has {len(result.splitlines())}"


def per_instruction(dockerfile: bytes, result: str) -> tuple[int, int]:
    """How many of BuildKit's dumped instructions cove's dump matches, of how many."""
    want = result.splitlines()
    try:
        have = [dump(node) for node in parse_syntax(dockerfile).nodes]
    except DockerfileError:
        return 0, len(want)
    return sum(1 for a, b in zip(want, have, strict=False) if a == b), len(want)


def negative(dockerfile: bytes) -> str | None:
    """A testfiles-negative case: the parser refuses it."""
    try:
        parse_syntax(dockerfile)
    except DockerfileError:
        return None
    return "accepted"


def json_valid(text: str, expected: Sequence[str]) -> str | None:
    try:
        got = json_strings(text)
    except DockerfileError as exc:
        return f"refused: {exc.message}"
    return None if got == list(expected) else f"{got!r} != {list(expected)!r}"


def json_invalid(text: str) -> str | None:
    """A JSON array of something else than strings: an error, not the shell form."""
    try:
        got = json_strings(text)
    except DockerfileError:
        return None
    return f"accepted as {got!r}"


def chomped(content: str) -> str:
    return re.sub(r"(?m)^\t+", "", content)


def as_buildkit(doc: Heredoc) -> dict[str, Any]:
    return {
        "Name": doc.name,
        "Content": doc.content,
        "Expand": doc.expand,
        "Chomp": doc.chomp,
        "FileDescriptor": doc.fd or 0,
    }


def expected_heredoc(go: Mapping[str, Any]) -> dict[str, Any]:
    """A Go Heredoc literal (fields left out are Go's zero values) as cove holds it."""
    chomp = bool(go.get("Chomp", False))
    content = str(go.get("Content", ""))
    return {
        "Name": str(go.get("Name", "")),
        "Content": chomped(content) if chomp else content,
        "Expand": bool(go.get("Expand", False)),
        "Chomp": chomp,
        "FileDescriptor": int(go.get("FileDescriptor", 0)),
    }


def heredocs_of_nodes(
    dockerfile: str, expected: Sequence[Sequence[Mapping[str, Any]] | None], first: int = 1
) -> list[str | None]:
    """Each node's heredocs from ``first`` on against BuildKit's (None: no heredocs)."""
    try:
        nodes = parse_syntax(dockerfile).nodes
    except DockerfileError as exc:
        return [f"refused: {exc.message}"] * len(expected)
    answers: list[str | None] = []
    for index, want in enumerate(expected, first):
        if index >= len(nodes):
            answers.append("no such instruction")
            continue
        have = [as_buildkit(doc) for doc in nodes[index].heredocs]
        wanted = [expected_heredoc(doc) for doc in want or ()]
        answers.append(None if have == wanted else f"line {nodes[index].line}: {have} != {wanted}")
    return answers


def heredoc_word(word: str, kind: str) -> str | None:
    """ParseHeredoc on one word: "valid" (named EOF), "invalid" (an error) or "none"."""
    try:
        doc = heredoc_from_word(word)
    except DockerfileError as exc:
        return None if kind == "invalid" else f"refused: {exc.message}"
    if kind == "valid":
        return None if doc is not None and doc.name == "EOF" else f"got {doc!r}"
    if kind == "none":
        return None if doc is None else f"got {doc!r}"
    return f"accepted as {doc!r}"


def heredoc_names_in_line(line: str, names: Sequence[str] | None, *, exact: bool) -> str | None:
    """The names of the heredocs a line starts. BuildKit's own test checks only that those
    it finds are the first of the row's (``exact=False``); cove's table states its real answer."""
    try:
        got = [doc.name for doc in heredocs_in_line(line)]
    except DockerfileError as exc:
        return f"refused: {exc.message}"
    want = list(names or ())
    ok = got == want if exact else got == want[: len(got)]
    return None if ok else f"{got} != {want}"
