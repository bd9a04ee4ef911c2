#!/usr/bin/env python3
"""Run BuildKit's shell-lexer tables from a BuildKit checkout against cove's expander.

    .venv/bin/python scripts/buildkit_shell_tables.py --buildkit /var/tmp/buildkit [--old main]

envVarTest and wordsTest are read from the checkout itself. lex_test.go's Go tables are cove's
Python copy (tests/unit/buildkit_shell_cases.py); the script checks that every case's input is
still in the checkout's lex_test.go and counts the Go file's cases, so a changed table shows.
``--old REF`` also runs the tables that map onto the old interface (``expand`` and
``split_words``) on src/cove/build/expand.py as it is at git REF, for comparison.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.unit import buildkit_shell_cases as cases  # noqa: E402

from cove.build import expand, shell_pattern  # noqa: E402

SHELL_DIR = Path("frontend/dockerfile/shell")

Word = Callable[[str, Mapping[str, str]], str]
Words = Callable[[str, Mapping[str, str]], list[str]]


class Expander:
    """One expander under test: a word's value and its words; names where it reports them."""

    def __init__(self, label: str, module: types.ModuleType) -> None:
        self.label = label
        self.module = module
        self.error: type[Exception] = module.ExpansionError
        lex = getattr(module, "ShellLex", None)
        self.lex = lex() if lex else None

    def value(self, text: str, env: Mapping[str, str]) -> str:
        if self.lex is not None:
            return str(self.lex.process_word(text, env).value)
        return str(self.module.expand(text, env))

    def words(self, text: str, env: Mapping[str, str]) -> list[str]:
        if self.lex is not None:
            return list(self.lex.process_words(text, env))
        return list(self.module.split_words(text, env))  # the old one splits before expanding

    def names(self, text: str, env: Mapping[str, str]) -> tuple[frozenset[str], frozenset[str]] | None:
        if self.lex is None:
            return None
        result = self.lex.process_word(text, env)
        return frozenset(result.matched), frozenset(result.unmatched)


def _old_module(ref: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:src/cove/build/expand.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"expand_at_{ref}")
    exec(
        compile(source, f"{ref}:src/cove/build/expand.py", "exec"), module.__dict__
    )  # cove's own file, at a ref
    return module


def _outcome(expander: Expander, run: Callable[[], object]) -> object:
    try:
        return run()
    except expander.error:
        return "error"


def env_var_test(expander: Expander, text: str) -> tuple[int, int, int]:
    """Linux rows passed, Linux rows, Windows rows (not run: cove builds Linux images)."""
    rows = cases.env_var_rows(text)
    linux = [row for row in rows if row.platform != "W"]
    passed = 0
    for row in linux:
        got = _outcome(expander, lambda row=row: expander.value(row.source, cases.ENV_VAR_TEST_ENV))
        passed += got == row.expected
    return passed, len(linux), len(rows) - len(linux)


def words_test(expander: Expander, text: str) -> tuple[int, int]:
    rows = cases.words_rows(text)
    passed = 0
    for row in rows:
        env = cases.env_from_entries(row.env)
        got = _outcome(expander, lambda row=row, env=env: tuple(expander.words(row.source, env)))
        passed += got == row.expected or (got == "error" and row.expected == ("error",))
    return passed, len(rows)


def process_with_matches(expander: Expander) -> tuple[int, int, int]:
    """Cases whose value (or error) is right; of those, the ones whose names are right too."""
    values = names = 0
    for case in cases.PROCESS_WITH_MATCHES:
        got = _outcome(expander, lambda case=case: expander.value(case.input, case.env))
        if case.error:
            values += got == "error"
            names += got == "error"
            continue
        if got != case.expected:
            continue
        values += 1
        found = expander.names(case.input, case.env)
        names += found == (case.matched, case.unmatched)
    return values, names, len(cases.PROCESS_WITH_MATCHES)


def small_tables(expander: Expander) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    platform = [
        _outcome(expander, lambda w=w, e=e: expander.value(w, e)) == want
        for w, e, want in cases.PROCESS_WITH_MATCHES_PLATFORM
    ]
    out["TestProcessWithMatchesPlatform"] = (sum(platform), len(platform))
    mandatory = []
    for text, entries, want, _ in cases.MANDATORY_ENV_VARS:
        env = cases.env_from_entries(entries)
        got = _outcome(expander, lambda text=text, env=env: expander.value(text, env))
        mandatory.append(got == ("error" if want is None else want))
    out["TestShellParserMandatoryEnvVars"] = (sum(mandatory), len(mandatory))
    get_env = [
        _outcome(expander, lambda e=e, n=n: expander.value(f"${{{n}}}", cases.env_from_entries(e))) == v
        for e, n, v in cases.GET_ENV
    ]
    out["TestGetEnv"] = (sum(get_env), len(get_env))
    return out


def pattern_tables() -> dict[str, tuple[int, int]]:
    def tokens(pattern: str) -> object:
        try:
            return tuple(shell_pattern.tokens(pattern))
        except shell_pattern.PatternError:
            return "error"

    regex = [tokens(p) == want for p, want in cases.PATTERN_TO_REGEX.items()]
    regex += [tokens(p) == "error" for p in cases.PATTERN_INVALID]
    reverse = []
    for pattern, backwards in cases.REVERSE_PATTERN.items():
        forward, other = tokens(pattern), tokens(backwards)
        if forward == "error" or other == "error":
            reverse.append(forward == other)
        else:
            assert isinstance(forward, tuple)
            reverse.append(forward[::-1] == other)
    return {
        "TestConvertShellPatternToRegex": (sum(regex), len(regex)),
        "TestReversePattern": (sum(reverse), len(reverse)),
    }


def check_go_file(go: str) -> list[str]:
    """Problems: a case of cove's copy missing from lex_test.go, or a count that differs."""
    problems = []
    inputs = [case.input for case in cases.PROCESS_WITH_MATCHES]
    inputs += [w for w, _, _ in cases.PROCESS_WITH_MATCHES_PLATFORM]
    inputs += [w for w, _, _, _ in cases.MANDATORY_ENV_VARS]
    inputs += [entry for entries, _, _ in cases.GET_ENV for entry in entries]
    inputs += list(cases.PATTERN_TO_REGEX) + list(cases.PATTERN_INVALID) + list(cases.REVERSE_PATTERN)
    for text in inputs:
        if cases.go_literal(text) not in go:
            problems.append(f"lex_test.go no longer has the case {cases.go_literal(text)}")
    body = go.split("func TestProcessWithMatches(", 1)[-1].split("\nfunc ", 1)[0]
    if body.count("input:") != len(cases.PROCESS_WITH_MATCHES):
        go_count, ours = body.count("input:"), len(cases.PROCESS_WITH_MATCHES)
        problems.append(f"TestProcessWithMatches has {go_count} cases, cove's copy {ours}")
    return problems


def report(expander: Expander, shell: Path) -> None:
    print(f"== {expander.label}")
    passed, linux, windows = env_var_test(expander, (shell / "envVarTest").read_text(encoding="utf-8"))
    print(f"envVarTest (Linux rows)            {passed}/{linux}   ({windows} Windows rows not run)")
    passed, total = words_test(expander, (shell / "wordsTest").read_text(encoding="utf-8"))
    print(f"wordsTest                          {passed}/{total}")
    values, names, total = process_with_matches(expander)
    shown = f"{names}/{total} with names" if expander.lex is not None else "names: not reported"
    print(f"TestProcessWithMatches             {values}/{total} values, {shown}")
    for name, (passed, total) in small_tables(expander).items():
        print(f"{name:<34} {passed}/{total}")
    if expander.lex is not None:
        for name, (passed, total) in pattern_tables().items():
            print(f"{name:<34} {passed}/{total}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildkit", type=Path, required=True, help="a moby/buildkit checkout")
    parser.add_argument("--old", metavar="REF", help="also run expand.py as it is at this git ref")
    args = parser.parse_args()
    shell = args.buildkit / SHELL_DIR
    problems = check_go_file((shell / "lex_test.go").read_text(encoding="utf-8"))
    for problem in problems:
        print(f"warning: {problem}")
    if not problems:
        print("lex_test.go: every case of cove's copy is there, and no more")
    report(Expander("cove (this tree)", expand), shell)
    if args.old:
        report(Expander(f"cove at {args.old}", _old_module(args.old)), shell)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
