#!/usr/bin/env python3
"""Run BuildKit's own instruction-layer tables against cove and print the pass counts.

Reads the Go test files of a moby/buildkit checkout (default /var/tmp/buildkit):
frontend/dockerfile/instructions/{parse_test.go, parse_heredoc_test.go, bflag_test.go} and the
COPY-heredoc contents of frontend/dockerfile/dockerfile_heredoc_test.go. The cases are pulled
out of the Go source with patterns (the tests are code, not data), run through cove's parser,
typed instructions and (for heredoc contents) its executor on a recording backend, and each
table's count is printed; with -v, every failing case too.

This is a developer's tool: the suite has its own copies of the cases
(tests/unit/test_instruction_tables.py, tests/unit/test_heredoc_contents.py) and never reads
BuildKit's files. Run it from the repository root:
.venv/bin/python scripts/buildkit_instruction_tables.py --buildkit /var/tmp/buildkit
"""

from __future__ import annotations

import argparse
import ast
import functools
import operator
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.unit helpers

from tests.unit.test_build_executor import build
from tests.unit.test_heredoc_contents import CapturingBackend

from cove.build.context import Context
from cove.build.dockerfile import DockerfileError, Node, parse_syntax
from cove.build.instructions import (
    Copy,
    Healthcheck,
    Instruction,
    Run,
    from_node,
    parse_instructions,
)
from cove.build.instructions.flags import FlagError, FlagKind, parse_flags, written_by_name
from cove.db.database import Database

GO_STRING = r'(?:"(?:[^"\\\n]|\\.)*"|`[^`]*`)'
ERROR_CASE = r"dockerfile:\s*(" + GO_STRING + r"),\s*expectedError:\s*(" + GO_STRING + ")"
SOURCE_CONTENT = r"Path:\s*(" + GO_STRING + r"),\s*Data:\s*(" + GO_STRING + r"),\s*Expand:\s*(true|false)"
INLINE_FILE = r"Name:\s*(" + GO_STRING + r"),\s*Data:\s*(" + GO_STRING + r"),(?:\s*Chomp:\s*(true))?"
READ_BACK = (
    r'filepath\.Join\(destDir, "([^"]+)"\)\)[\s\S]*?require\.Equal\(t, (' + GO_STRING + r"), string\(dt\)\)"
)


def go_string(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    return str(ast.literal_eval(literal))  # Go's interpreted strings use C escapes, as Python's


def go_strings(text: str) -> list[str]:
    return [go_string(m) for m in re.findall(GO_STRING, text)]


def functions(source: str) -> dict[str, str]:
    """Each top-level func's name and body (up to the next top-level func)."""
    parts = re.split(r"^func (\w+)\(", source, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


@dataclass
class Table:
    name: str
    passed: int = 0
    failures: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)  # cove's explicit, explained differences

    def check(self, label: str, test: Callable[[], bool | None]) -> None:
        try:
            ok = test()
        except Exception as exc:  # a crash is a failure with its reason
            ok = False
            label += f" ({type(exc).__name__}: {exc})"
        if ok is None or ok:
            self.passed += 1
        else:
            self.failures.append(label)

    @property
    def total(self) -> int:
        return self.passed + len(self.failures) + len(self.differs)


def error_of(text: str) -> str:
    try:
        parse_instructions(parse_syntax(text))
    except DockerfileError as exc:
        return exc.reason
    return ""


def error_is(text: str, message: str) -> bool:
    return error_of(text) == message


def error_contains(text: str, part: str) -> bool:
    return part in error_of(text)


def parses_or_refuses(text: str) -> bool:
    """Either way is fine; anything but a DockerfileError is the failure (``Table.check``)."""
    error_of(text)
    return True


def hand_node(body: str, keyword: str) -> Node:
    values = [go_string(v) for v in re.findall(r"Value:\s*(" + GO_STRING + ")", body)]
    return Node(keyword, tuple(values), (), False, (), keyword, 1, 1)


# -- parse_test.go ---------------------------------------------------------------------------


def parse_test(source: str) -> Table:
    table = Table("instructions/parse_test.go")
    funcs = functions(source)
    for name, message in (
        ("TestCommandsExactlyOneArgument", "{} requires exactly one argument"),
        ("TestCommandsAtLeastOneArgument", "{} requires at least one argument"),
    ):
        for keyword in go_strings(funcs[name].split("for _, cmd")[0]):
            table.check(f"{name} {keyword}", functools.partial(error_is, keyword, message.format(keyword)))
    for keyword in go_strings(funcs["TestCommandsNoDestinationArgument"].split("for _, cmd")[0]):
        message = (
            f"{keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
        table.check(f"NoDestination {keyword}", functools.partial(error_is, keyword + " arg1", message))
    for name, message in (
        ("TestCommandsTooManyArguments", "Bad input to {}, too many arguments"),
        ("TestCommandsBlankNames", "{} names can not be blank"),
    ):
        head, _, body = funcs[name].partition("for _, cmd")
        for keyword in go_strings(head):

            def hand(k: str = keyword, b: str = body, m: str = message) -> bool:
                try:
                    from_node(hand_node(b.split("Value:", 1)[1], k))
                except DockerfileError as exc:
                    return exc.reason == m.format(k)
                return False

            table.check(f"{name} {keyword}", hand)
    body = funcs["TestHealthCheckCmd"]
    test = go_strings(body.split("expected :=")[1].split("\n")[0])

    def health() -> bool:
        x = from_node(hand_node(body.split("Value: command.Healthcheck")[1], "HEALTHCHECK"))
        return isinstance(x, Healthcheck) and list(x.test) == test

    table.check("TestHealthCheckCmd", health)
    body = funcs["TestParseOptInterval"]
    for value, verdict in re.findall(r'Value\s*[:=]\s*"([^"]+)"[\s\S]*?require\.(Error|NoError)', body):

        def interval(v: str = value, bad: bool = verdict == "Error") -> bool:
            return bool(error_of(f"HEALTHCHECK --interval={v} CMD true")) == bad

        table.check(f"TestParseOptInterval {value}", interval)
    body = funcs["TestNilLinter"]
    forms = [go_string(m) for m in re.findall(r"cmd \+ (" + GO_STRING + ")", body)]
    keywords = (
        "add arg cmd copy entrypoint env expose from healthcheck label maintainer onbuild run shell "
        "stopsignal user volume workdir"
    ).split()
    for keyword in keywords:
        for form in forms:
            text = f"FROM busybox\n{keyword}{form}"
            table.check(f"TestNilLinter {keyword}{form}", functools.partial(parses_or_refuses, text))
    table.differs.append(
        "TestCommentsDetection: cove keeps comment lines on the nodes and derives no doc comments "
        "(nothing in cove reads them)"
    )
    for case in re.findall(ERROR_CASE, funcs["TestErrorCases"]):
        text, part = go_string(case[0]), go_string(case[1])
        table.check(f"TestErrorCases {text!r}", functools.partial(error_contains, text, part))
    body = funcs["TestRunCmdFlagsUsed"]
    text = go_strings(body)[0]
    used = go_strings(body.split("[]string{")[1])

    def flags_used() -> bool:
        x = from_node(parse_syntax(text).nodes[0])
        return isinstance(x, Run) and sorted(written_by_name(x.flags)) == sorted(used)

    table.check("TestRunCmdFlagsUsed", flags_used)
    return table


# -- parse_heredoc_test.go -------------------------------------------------------------------


def first_instruction(text: str) -> Instruction:
    return from_node(parse_syntax(text).nodes[0])


def heredoc_test(source: str) -> Table:
    table = Table("instructions/parse_heredoc_test.go")
    funcs = functions(source)
    for case in re.findall(ERROR_CASE, funcs["TestErrorCasesHeredoc"]):
        text, part = go_string(case[0]), go_string(case[1])
        table.check(f"TestErrorCasesHeredoc {text!r}", functools.partial(error_contains, text, part))
    for block in re.split(r"\n\t\t\{\n\t\t\tdockerfile:", funcs["TestCopyHeredoc"])[1:]:
        text = go_string(re.match(r"\s*(" + GO_STRING + ")", block).group(1))  # type: ignore[union-attr]
        dest = go_string(re.search(r"DestPath:\s*(" + GO_STRING + ")", block).group(1))  # type: ignore[union-attr]
        paths_match = re.search(r"SourcePaths:\s*\[\]string\{([^}]*)\}", block)
        paths = go_strings(paths_match.group(1)) if paths_match else []
        contents = [
            (go_string(p), go_string(d), e == "true") for p, d, e in re.findall(SOURCE_CONTENT, block)
        ]

        def copy(t: str, d: str, p: list[str], c: list[tuple[str, str, bool]]) -> bool:
            x = first_instruction(t)
            got = [(h.name, h.content, h.expand) for h in x.heredocs] if isinstance(x, Copy) else None
            return isinstance(x, Copy) and x.dest == d and list(x.sources) == p and got == c

        table.check(f"TestCopyHeredoc {text!r}", functools.partial(copy, text, dest, paths, contents))
    for block in re.split(r"\n\t\t\{\n\t\t\tdockerfile:", funcs["TestRunHeredoc"])[1:]:
        text = go_string(re.match(r"\s*(" + GO_STRING + ")", block).group(1))  # type: ignore[union-attr]
        command = go_strings(re.search(r"command:\s*\[\]string\{([^}]*)\}", block).group(1))  # type: ignore[union-attr]
        shell = re.search(r"shell:\s*(true|false)", block).group(1) == "true"  # type: ignore[union-attr]
        files = [(go_string(n), go_string(d), bool(c)) for n, d, c in re.findall(INLINE_FILE, block)]
        chomped = [(n, re.sub(r"(?m)^\t+", "", d) if c else d, c) for n, d, c in files]

        def run(t: str, cmd: list[str], s: bool, f: list[tuple[str, str, bool]]) -> bool:
            x = first_instruction(t)
            got = [(h.name, h.content, h.chomp) for h in x.heredocs] if isinstance(x, Run) else None
            return isinstance(x, Run) and x.shell == s and list(x.command) == cmd and got == f

        # (cove's parser strips a <<- heredoc's tabs when it reads it: compared chomped)
        table.check(f"TestRunHeredoc {text!r}", functools.partial(run, text, command, shell, chomped))
    return table


# -- bflag_test.go ---------------------------------------------------------------------------


def bflag_test(source: str) -> Table:
    table = Table("instructions/bflag_test.go")
    kinds = {"AddBool": FlagKind.BOOL, "AddString": FlagKind.STRING, "AddStrings": FlagKind.STRINGS}
    for block in functions(source)["TestBuilderFlags"].split("// ---")[1:]:
        adds = re.findall(r"bf\.(AddBool|AddStrings|AddString)\((" + GO_STRING + ")", block)
        declared = {go_string(name): kinds[add] for add, name in adds}
        args_match = re.search(r"bf\.Args = \[\]string\{([^}]*)\}", block)
        if args_match is None:
            continue
        args = go_strings(args_match.group(1))
        fails = "supposed to fail" in block
        values = {}
        for value in re.findall(r"if flStr1\.Value != (" + GO_STRING + ")", block):
            values["str1"] = go_string(value)
        expected_value = re.search(r"expected = (" + GO_STRING + r")\n", block)
        if expected_value and "str1" in declared:
            values["str1"] = go_string(expected_value.group(1))
        used_match = re.search(r'expected = "([a-z0-9, ]+)"\n\tactual', block)

        def flags(
            d: dict[str, FlagKind], a: list[str], f: bool, v: dict[str, str], u: re.Match[str] | None
        ) -> bool:
            try:
                parsed = parse_flags(a, d)
            except FlagError:
                return f
            given = {k: val for k, val in v.items() if any(x.startswith(f"--{k}") for x in a)}
            if f or any(parsed.values.get(k) != val for k, val in given.items()):
                return False
            return u is None or sorted(parsed.values) == u.group(1).split(", ")

        table.check(
            f"TestBuilderFlags {args}", functools.partial(flags, declared, args, fails, values, used_match)
        )
    return table


# -- dockerfile_heredoc_test.go: what COPY heredocs write --------------------------------------


def heredoc_contents(source: str) -> Table:
    class Backend(CapturingBackend):
        def owner(self, layers: object, spec: str) -> tuple[int, int]:
            return (1000, 1000)

    table = Table("dockerfile_heredoc_test.go (COPY contents)")
    for name, body in functions(source).items():
        if not name.startswith("test"):
            continue
        dockerfiles = re.findall(r"`([^`]*FROM [^`]*)`", body)
        if not dockerfiles:
            continue
        text = dockerfiles[0]
        expected: dict[str, str] = {}
        after = body.split("contents :=", 1)
        mapping = re.search(r"map\[string\]string\{([\s\S]*?)\n\t*\}", after[1]) if len(after) == 2 else None
        if mapping:
            pairs = re.findall(r"(" + GO_STRING + r"):\s*(" + GO_STRING + ")", mapping.group(1))
            expected = {go_string(k): go_string(v) for k, v in pairs}
        for file, content in re.findall(READ_BACK, body):
            expected[file] = go_string(content)
        if not expected:
            continue
        stage = re.search(r"FROM \S+ (?:AS|as) (\w+)", text)
        files: dict[str, bytes] = {}
        failure = ""
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "image").mkdir()
            (root / "ctx").mkdir()
            db = Database(root / "cove.db")
            backend = Backend(db, root / "image")
            try:
                build(backend, Context(root / "ctx"), text, target=stage.group(1) if stage else None)
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
            finally:
                db.close()
            files = backend.files
        for file, content in expected.items():
            found = [data for path, data in files.items() if path == file or path.endswith("/" + file)]
            label = f"{name} {file}"
            if not found:
                table.differs.append(f"{label}: written by a RUN (needs a shell: see the integration tests)")
                continue
            label += f" [{failure}]" if failure else ""
            table.check(label, functools.partial(operator.eq, found[0].decode(), content))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildkit", default="/var/tmp/buildkit", help="a moby/buildkit checkout")
    parser.add_argument("-v", "--verbose", action="store_true", help="list failing cases")
    args = parser.parse_args(argv)
    base = Path(args.buildkit) / "frontend" / "dockerfile"
    tables = [
        parse_test((base / "instructions" / "parse_test.go").read_text()),
        heredoc_test((base / "instructions" / "parse_heredoc_test.go").read_text()),
        bflag_test((base / "instructions" / "bflag_test.go").read_text()),
        heredoc_contents((base / "dockerfile_heredoc_test.go").read_text()),
    ]
    failed = 0
    for table in tables:
        extra = f", {len(table.differs)} outside cove's reach or explained" if table.differs else ""
        print(f"{table.name}: {table.passed}/{table.passed + len(table.failures)} pass{extra}")
        failed += len(table.failures)
        if args.verbose:
            for label in table.failures:
                print(f"  FAIL {label}")
            for label in table.differs:
                print(f"  (differs) {label}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
