"""BuildKit's shell-lexer tables as cove reads them: its two data files and lex_test.go's Go tables.

Cases from moby/buildkit frontend/dockerfile/shell/{envVarTest,wordsTest,lex_test.go}
(Apache-2.0), commit 73ed682. The data files are copied under buildkit_data/shell/; the Go
tables are written out here as Python. scripts/buildkit_shell_tables.py runs the same cases
against a BuildKit checkout's own files (and checks each Go case is still in lex_test.go).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "buildkit_data" / "shell"

# TestShellParser4EnvVars's environment
ENV_VAR_TEST_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@dataclass(frozen=True)
class EnvVarRow:
    line: int
    platform: str  # "A" all, "U" Unix, "W" Windows
    source: str
    expected: str  # "error" for an error


@dataclass(frozen=True)
class WordsRow:
    line: int
    source: str
    env: tuple[str, ...]  # the ENV lines above it, "KEY=VALUE"
    expected: tuple[str, ...]  # ("error",) for an error


def env_var_rows(text: str) -> list[EnvVarRow]:
    """envVarTest: ``platform | source | expected``, comments and blank lines skipped."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        platform, source, expected = line.strip().split("|")
        rows.append(EnvVarRow(number, platform.strip(), source.strip(), expected.strip()))
    return rows


def words_rows(text: str) -> list[WordsRow]:
    """wordsTest: ``source | word,word``; ``ENV k=v`` lines add to the environment below them."""
    rows = []
    env: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            env.append(line[3:].lstrip(" "))
            continue
        source, expected = line.split("|")
        rows.append(WordsRow(number, source.strip(), tuple(env), tuple(expected.lstrip(" ").split(","))))
    return rows


def env_from_entries(entries: tuple[str, ...] | list[str]) -> dict[str, str]:
    """BuildKit's EnvsFromSlice: ``KEY=VALUE`` (``KEY`` alone is set and empty), the last one wins."""
    env: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        env[key] = value
    return env


@dataclass(frozen=True)
class MatchCase:
    """One row of lex_test.go's TestProcessWithMatches (or a test like it)."""

    input: str
    env: dict[str, str]
    expected: str = ""
    error: bool = False
    matched: frozenset[str] = field(default_factory=frozenset)
    unmatched: frozenset[str] = field(default_factory=frozenset)


def _m(*names: str) -> frozenset[str]:
    return frozenset(names)


_FB = {"FOO": "xxx", "BAR": ""}

# TestProcessWithMatches, in the Go file's order
PROCESS_WITH_MATCHES = [
    MatchCase("x", {"DUMMY": "dummy"}, "x"),
    MatchCase("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", unmatched=_m("UNUSED")),
    MatchCase("x ${FOO}", {"FOO": "y"}, "x y", matched=_m("FOO")),
    MatchCase(
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", _FB, "xxx  ccc", matched=_m("FOO", "BAR"), unmatched=_m("BAZ")
    ),
    MatchCase(
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        _FB,
        "xxx bbb ccc",
        matched=_m("FOO", "BAR"),
        unmatched=_m("BAZ"),
    ),
    MatchCase("${FOO:-}", _FB, "xxx", matched=_m("FOO")),
    MatchCase("${FOO:-}", {}, "", unmatched=_m("FOO")),
    MatchCase(
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", _FB, "aaa bbb ", matched=_m("FOO", "BAR"), unmatched=_m("BAZ")
    ),
    MatchCase(
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", _FB, "aaa  ", matched=_m("FOO", "BAR"), unmatched=_m("BAZ")
    ),
    MatchCase("${FOO?aaa}", _FB, "xxx", matched=_m("FOO")),
    MatchCase("${BAR?bbb}", _FB, "", matched=_m("BAR")),
    MatchCase("${BAZ?ccc}", _FB, error=True, unmatched=_m("BAZ")),
    MatchCase("${FOO:?aaa}", _FB, "xxx", matched=_m("FOO")),
    MatchCase("${BAR:?bbb}", _FB, error=True),
    MatchCase("${BAZ:?ccc}", _FB, error=True, unmatched=_m("BAZ")),
    MatchCase("${BAZ:?}", _FB, error=True, unmatched=_m("BAZ")),
    MatchCase("${FOO=aaa}", _FB, error=True),
    MatchCase("${FOO=:aaa}", _FB, error=True),
    MatchCase("${FOO=}", {}, error=True),
    MatchCase("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", matched=_m("FOO")),
    MatchCase("${FOO%%\\**}", {"FOO": "xx**"}, "xx", matched=_m("FOO")),
    MatchCase("${FOO#*x*y}", {"FOO": "xxyy"}, "y", matched=_m("FOO")),
    MatchCase("${FOO#*}", {"FOO": "xxyy"}, "xxyy", matched=_m("FOO")),
    MatchCase("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", matched=_m("FOO", "BAR")),
    MatchCase("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", matched=_m("FOO", "BAR")),
    MatchCase("${FOO#}", {"FOO": "xxyy"}, "xxyy", matched=_m("FOO")),
    MatchCase("${FOO##*x}", {"FOO": "xxyy"}, "yy", matched=_m("FOO")),
    MatchCase("${FOO##}", {"FOO": "xxyy"}, "xxyy", matched=_m("FOO")),
    MatchCase("${FOO#?\\?}", {"FOO": "???y"}, "?y", matched=_m("FOO")),
    MatchCase(
        "${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", matched=_m("FOO"), unmatched=_m("ABC")
    ),
    MatchCase("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", matched=_m("FOO")),
    MatchCase("${FOO%}", {"FOO": "xxyy"}, "xxyy", matched=_m("FOO")),
    MatchCase("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", matched=_m("FOO", "BAR")),
    MatchCase("${FOO:#}", {}, error=True),
    MatchCase("${FOO:##}", {}, error=True),
    MatchCase("${FOO:%}", {}, error=True),
    MatchCase("${FOO:%%}", {}, error=True),
    MatchCase(
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
        "/foo.*/*.txt - /foo..*.txt",
        matched=_m("FOO", "NEEDLE"),
    ),
    MatchCase(
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
        "/tmp/bar.txt - /bar.txt",
        matched=_m("FOO", "NEEDLE"),
    ),
    MatchCase(
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
        "/foo/b/c.txt - /foo/c.txt",
        matched=_m("FOO", "NEEDLE", "REPLACEMENT"),
    ),
    MatchCase(
        "${FOO/$NEEDLE/$REPLACEMENT}",
        {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
        "https://google.de",
        matched=_m("FOO", "NEEDLE", "REPLACEMENT"),
    ),
    MatchCase("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", matched=_m("FOO")),
    MatchCase("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", matched=_m("FOO", "BAR")),
    MatchCase("${FOO//ww}", {"FOO": "xxyy"}, error=True),
    MatchCase("${FOO//}", {"FOO": "xxyy"}, error=True),
    MatchCase("${FOO///}", {"FOO": "xxyy"}, "xxyy", matched=_m("FOO")),
    MatchCase("${FOO///}", {}, "", unmatched=_m("FOO")),
]

# TestProcessWithMatchesPlatform: BuildKit's release file names
_RELEASE = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz"
PROCESS_WITH_MATCHES_PLATFORM = [
    (_RELEASE, {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
     "something-v1.2.3.linux-arm-v7.tar.gz"),
    (_RELEASE, {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64", "TARGETVARIANT": ""},
     "something-v1.2.3.linux-arm64.tar.gz"),
    (_RELEASE, {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64"},
     "something-v1.2.3.linux-arm64.tar.gz"),
]  # fmt: skip

# TestShellParserMandatoryEnvVars: (word, env entries, expected value or None, error text)
MANDATORY_ENV_VARS = [
    ("${VAR:?message here$ARG}", ("VAR=plain", "ARG=x"), "plain", ""),
    ("${VAR:?message here$ARG}", ("VAR=", "ARG=x"), None, "message herex"),
    ("${VAR:?message here$ARG}", ("ARG=x",), None, "message herex"),
    ("${VAR?message here$ARG}", ("VAR=plain", "ARG=x"), "plain", ""),
    ("${VAR?message here$ARG}", ("VAR=", "ARG=x"), "", ""),
    ("${VAR?message here$ARG}", ("ARG=x",), None, "message herex"),
]

# TestGetEnv: (env entries, name, value); cove's env is a mapping, so each row is the
# lookup of $name in the mapping BuildKit's EnvsFromSlice would build
GET_ENV = [
    ((), "foo", ""),
    (("foo",), "foo", ""),
    (("foo=",), "foo", ""),
    (("foo=bar",), "foo", "bar"),
    (("foo=bar", "car=hat"), "foo", "bar"),
    (("foo=bar", "car=hat"), "car", "hat"),
    (("foo=bar", "car=hat", "car=bike"), "car", "bike"),
]

# TestConvertShellPatternToRegex: the pattern and its tokens (kind, char): kind "*" is
# BuildKit's ".*", "?" its ".", "" a literal character (its regex escapes it)
PATTERN_TO_REGEX = {
    "*": (("*", ""),),
    "?": (("?", ""),),
    "\\*": (("", "*"),),
    "(()[]{\\}^$.\\*\\?|\\\\": tuple(("", char) for char in "(()[]{}^$.*?|\\"),
}
PATTERN_INVALID = ("\\", "\\x", "\\\\\\")

# TestReversePattern: pattern -> BuildKit's reversal
REVERSE_PATTERN = {
    "a\\*c": "c\\*a",
    "\\\\\\ab": "b\\a\\\\",
    "ab\\": "\\ba",
    "👽\\🚀🖖": "🖖\\🚀👽",
    "\\\\b": "b\\\\",
}


def go_literal(text: str) -> str:
    """``text`` as a Go double-quoted string literal (to find a case in lex_test.go)."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


# Expected file contents of unquoted COPY heredocs (<<EOF), from moby/buildkit
# frontend/dockerfile/dockerfile_heredoc_test.go (Apache-2.0), commit 73ed682:
# (test, content as written, the ARGs in scope, the file BuildKit writes)
HEREDOC_CONTENTS = [
    ("testCopyHeredocSpecialSymbols quotefile", '"quotes in file"\n', {}, '"quotes in file"\n'),
    ("testCopyHeredocSpecialSymbols slashfile1", "\\\n", {}, "\n"),
    ("testCopyHeredocSpecialSymbols slashfile2", "\\\\\n", {}, "\\\n"),
    ("testCopyHeredocSpecialSymbols slashfile3", "\\$\n", {}, "$\n"),
    ("testHeredocVarSubstitution c1", "Hello ${name}!\n", {"name": "world"}, "Hello world!\n"),
    ("testHeredocVarSubstitution q1", "Hello '${name}'!\n", {"name": "world"}, "Hello 'world'!\n"),
    ("testHeredocVarSubstitution q2", 'Hello "${name}"!\n', {"name": "world"}, 'Hello "world"!\n'),
]
