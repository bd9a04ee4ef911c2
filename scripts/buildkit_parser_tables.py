#!/usr/bin/env python3
"""Run cove's Dockerfile parser against BuildKit's own parser tables, in a BuildKit checkout.

Prints, per table, how many cases cove answers as BuildKit does:

  whole-file         frontend/dockerfile/parser/testfiles/*: the file's dump equals `result`
  per-instruction    the same files, instruction by instruction
  negative           testfiles-negative/*: refused
  json               json_test.go: arrays of strings, and arrays of anything else refused
  heredoc            parser_heredoc_test.go: each instruction's heredocs (TestParseExtractsHeredoc)
  heredoc-json       ... no heredocs in the JSON form (TestParseJSONHeredoc)
  heredoc-word       ... one word as a heredoc: valid, invalid, none (TestParseHeredocHelpers)
  heredoc-line       ... the heredoc names of a line, by the Go test's own check (TestHeredocsFromLine)

The cases are read from the Go test files (their literals are plain enough to read without Go).
--write DIR copies them into cove's tables (tests/unit/buildkit): the testfiles as files, the
Go tables as parser_go_tables.json. Comparisons are tests/unit/buildkit/parser_checks.py's,
which the unit tests use too.

    .venv/bin/python scripts/buildkit_parser_tables.py --buildkit /var/tmp/buildkit [--verbose]
    .venv/bin/python scripts/buildkit_parser_tables.py --buildkit /var/tmp/buildkit \
        --write tests/unit/buildkit
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.unit.buildkit import parser_checks as checks  # noqa: E402

PARSER = Path("frontend/dockerfile/parser")

# -- reading Go literals ------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<comment>//[^\n]*|/\*.*?\*/)|(?P<raw>`[^`]*`)|(?P<str>"(?:[^"\\\n]|\\.)*")"""
    r"""|(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)|(?P<num>\d+)|(?P<punct>[{}\[\]():,=;*&])""",
    re.S,
)
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def go_string(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1].replace("\r", "")
    out, body, i = [], token[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = body[i + 1]
        if kind in _GO_ESCAPES:
            out.append(_GO_ESCAPES[kind])
            i += 2
        elif kind in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[kind]
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        elif kind in "01234567":
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(kind)
            i += 2
    return "".join(out)


class GoLiterals:
    """Composite literals out of Go source: strings, numbers, true/false/nil, {...}."""

    def __init__(self, text: str) -> None:
        self.tokens = [
            (m.lastgroup or "", m.group())
            for m in _TOKEN.finditer(text)
            if m.lastgroup not in ("space", "comment")
        ]
        self.at = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("", "")

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ValueError("the Go literal does not end")
        token = self.peek()
        self.at += 1
        return token

    def value(self) -> Any:
        kind, text = self.take()
        if kind in ("raw", "str"):
            return go_string(text)
        if kind == "num":
            return int(text)
        if kind == "ident" and text in ("true", "false", "nil"):
            return {"true": True, "false": False, "nil": None}[text]
        # A type before a composite literal: []string{, map[string][]string{, struct {...}{
        while text != "{":
            if text == "struct":
                self.skip_braces()
            kind, text = self.take()
        return self.composite()

    def skip_braces(self) -> None:
        depth = 0
        while True:
            _, text = self.take()
            depth += {"{": 1, "}": -1}.get(text, 0)
            if depth == 0 and text == "}":
                return

    def composite(self) -> Any:
        items: list[Any] = []
        keyed: dict[Any, Any] = {}
        while self.peek()[1] != "}":
            following = self.tokens[self.at + 1][1] if self.at + 1 < len(self.tokens) else ""
            if self.peek()[0] == "ident" and following == ":":
                first = self.take()[1]  # a field name
            elif self.peek()[1] == "{":
                self.take()
                first = self.composite()
            else:
                first = self.value()
            if self.peek()[1] == ":":
                self.take()
                keyed[first] = self.composite_value()
            else:
                items.append(first)
            if self.peek()[1] == ",":
                self.take()
        self.take()
        return keyed if keyed else items

    def composite_value(self) -> Any:
        if self.peek()[1] == "{":
            self.take()
            return self.composite()
        return self.value()


def literal_after(source: str, marker: str) -> Any:
    start = source.index(marker) + len(marker)
    return GoLiterals(source[start:]).value()


def function(source: str, name: str) -> str:
    start = source.index(f"func {name}(")
    end = source.find("\nfunc ", start + 1)
    return source[start : end if end > 0 else len(source)]


# -- the tables ---------------------------------------------------------------------------------


def go_tables(buildkit: Path) -> dict[str, Any]:
    parser = buildkit / PARSER
    json_test = (parser / "json_test.go").read_text()
    heredoc_test = (parser / "parser_heredoc_test.go").read_text()
    extracts = function(heredoc_test, "TestParseExtractsHeredoc")
    json_heredoc = function(heredoc_test, "TestParseJSONHeredoc")
    helpers = function(heredoc_test, "TestParseHeredocHelpers")
    from_line = function(heredoc_test, "TestHeredocsFromLine")
    checked = re.search(r"for i := 1; i <= (\d+); i\+\+", json_heredoc)
    assert checked is not None
    return {
        "json_valid": literal_after(json_test, "var validJSONArraysOfStrings ="),
        "json_invalid": literal_after(json_test, "var invalidJSONArraysOfStrings ="),
        "heredoc_dockerfile": literal_after(extracts, "bytes.NewBufferString("),
        "heredoc_expected": literal_after(extracts, "tests :="),
        "heredoc_json_dockerfile": literal_after(json_heredoc, "bytes.NewBufferString("),
        "heredoc_json_count": int(checked.group(1)),
        "heredoc_words": {
            "valid": literal_after(helpers, "validHeredocs :="),
            "invalid": literal_after(helpers, "invalidHeredocs :="),
            "none": literal_after(helpers, "notHeredocs :="),
        },
        "heredoc_lines": [
            {"line": row["line"], "names": row["heredocNames"]} for row in literal_after(from_line, "srcs :=")
        ],
    }


def case_dirs(directory: Path) -> list[Path]:
    return sorted(d for d in directory.iterdir() if (d / "Dockerfile").is_file())


def report(buildkit: Path, verbose: bool) -> int:
    parser = buildkit / PARSER
    tables = go_tables(buildkit)
    counts: list[tuple[str, int, int]] = []
    misses: list[str] = []

    def tally(name: str, answers: list[tuple[str, str | None]]) -> None:
        counts.append((name, sum(1 for _, a in answers if a is None), len(answers)))
        misses.extend(f"{name} {case}: {answer}" for case, answer in answers if answer is not None)

    files = case_dirs(parser / "testfiles")
    tally(
        "whole-file",
        [
            (d.name, checks.whole_file((d / "Dockerfile").read_bytes(), (d / "result").read_text()))
            for d in files
        ],
    )
    passed = total = 0
    for d in files:
        ok, of = checks.per_instruction((d / "Dockerfile").read_bytes(), (d / "result").read_text())
        passed, total = passed + ok, total + of
    counts.append(("per-instruction", passed, total))
    tally(
        "negative",
        [
            (d.name, checks.negative((d / "Dockerfile").read_bytes()))
            for d in case_dirs(parser / "testfiles-negative")
        ],
    )
    tally(
        "json",
        [(repr(k), checks.json_valid(k, v)) for k, v in tables["json_valid"].items()]
        + [(repr(k), checks.json_invalid(k)) for k in tables["json_invalid"]],
    )
    expected = tables["heredoc_expected"]
    tally(
        "heredoc",
        [
            (f"instruction {i}", answer)
            for i, answer in enumerate(checks.heredocs_of_nodes(tables["heredoc_dockerfile"], expected), 1)
        ],
    )
    count = tables["heredoc_json_count"]
    tally(
        "heredoc-json",
        [
            (f"instruction {i}", answer)
            for i, answer in enumerate(
                checks.heredocs_of_nodes(tables["heredoc_json_dockerfile"], [None] * count), 1
            )
        ],
    )
    tally(
        "heredoc-word",
        [
            (f"{kind} {word!r}", checks.heredoc_word(word, kind))
            for kind, words in tables["heredoc_words"].items()
            for word in words
        ],
    )
    tally(
        "heredoc-line",
        [
            (repr(row["line"]), checks.heredoc_names_in_line(row["line"], row["names"], exact=False))
            for row in tables["heredoc_lines"]
        ],
    )
    commit = subprocess.run(
        ["git", "-C", str(buildkit), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"BuildKit {commit or buildkit}")
    for name, ok, of in counts:
        print(f"  {name:16} {ok}/{of}")
    if verbose:
        for miss in misses:
            print("  -", miss)
    return 0 if all(ok == of for _, ok, of in counts) else 1


def write(buildkit: Path, into: Path) -> None:
    parser = buildkit / PARSER
    for source, target in (
        ("testfiles", "parser_testfiles"),
        ("testfiles-negative", "parser_testfiles_negative"),
        ("testfile-line", "parser_testfile_line"),
    ):
        shutil.rmtree(into / target, ignore_errors=True)
        shutil.copytree(parser / source, into / target)
    commit = subprocess.run(
        ["git", "-C", str(buildkit), "rev-parse", "--short=7", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    tables = {
        "_provenance": "cases from moby/buildkit frontend/dockerfile/parser/json_test.go and "
        f"parser_heredoc_test.go (Apache-2.0), commit {commit}",
        **go_tables(buildkit),
    }
    (into / "parser_go_tables.json").write_text(json.dumps(tables, indent=1, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--buildkit", type=Path, required=True, help="a moby/buildkit checkout")
    parser.add_argument("--write", type=Path, help="copy the cases into this directory")
    parser.add_argument("--verbose", action="store_true", help="list the cases cove answers otherwise")
    args = parser.parse_args()
    if args.write:
        write(args.buildkit, args.write)
        return 0
    return report(args.buildkit, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
