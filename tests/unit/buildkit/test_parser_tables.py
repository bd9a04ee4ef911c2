"""BuildKit's Dockerfile parser tables, run against cove's parser.

Cases from moby/buildkit frontend/dockerfile/parser/{testfiles, testfiles-negative, testfile-line,
json_test.go, parser_heredoc_test.go, parser_test.go, line_parsers_test.go, directives_test.go}
(Apache-2.0), commit 73ed682: the files are copied beside this one (see PROVENANCE.md), the Go
tests' table-like cases are written out below. The comparisons are parser_checks.py's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cove.build.dockerfile import (
    DockerfileError,
    name_values,
    parse_syntax,
    parse_words,
)
from tests.unit.buildkit import parser_checks as checks

HERE = Path(__file__).parent
TESTFILES = sorted(d for d in (HERE / "parser_testfiles").iterdir() if d.is_dir())
NEGATIVE = sorted(d for d in (HERE / "parser_testfiles_negative").iterdir() if d.is_dir())
GO: dict[str, Any] = json.loads((HERE / "parser_go_tables.json").read_text())


def test_the_copies_are_all_there() -> None:
    # The counts of BuildKit's tables at that commit: a lost file would otherwise shrink a table.
    assert (len(TESTFILES), len(NEGATIVE)) == (33, 4)
    assert (len(GO["json_valid"]), len(GO["json_invalid"]), len(GO["heredoc_expected"])) == (8, 8, 27)
    assert sum(len(v) for v in GO["heredoc_words"].values()) == 20
    assert len(GO["heredoc_lines"]) == 10


@pytest.mark.parametrize("case", TESTFILES, ids=[d.name for d in TESTFILES])
def test_testfiles_dump_as_buildkit_does(case: Path) -> None:
    result = (case / "result").read_text()
    assert checks.whole_file((case / "Dockerfile").read_bytes(), result) is None
    assert (
        checks.per_instruction((case / "Dockerfile").read_bytes(), result) == (len(result.splitlines()),) * 2
    )


NEGATIVE_ERRORS = {
    "empty_dockerfile": "file with no instructions",
    "only_comments": "file with no instructions",
    "env_no_value": "line 3: ENV must have two arguments",
    "shykes-nested-json": "line 1: when using JSON array syntax, arrays must be comprised of strings only",
}


@pytest.mark.parametrize("case", NEGATIVE, ids=[d.name for d in NEGATIVE])
def test_testfiles_negative_are_refused(case: Path) -> None:
    assert checks.negative((case / "Dockerfile").read_bytes()) is None
    with pytest.raises(DockerfileError) as caught:
        parse_syntax((case / "Dockerfile").read_bytes())
    assert caught.value.message == NEGATIVE_ERRORS[case.name]


@pytest.mark.parametrize(("text", "expected"), list(GO["json_valid"].items()))
def test_json_arrays_of_strings(text: str, expected: list[str]) -> None:
    assert checks.json_valid(text, expected) is None


@pytest.mark.parametrize("text", GO["json_invalid"])
def test_json_arrays_of_other_things_are_errors(text: str) -> None:
    assert checks.json_invalid(text) is None


def test_heredocs_extracted() -> None:
    answers = checks.heredocs_of_nodes(GO["heredoc_dockerfile"], GO["heredoc_expected"])
    assert [a for a in answers if a is not None] == []
    assert len(answers) == 27


def test_no_heredocs_in_the_json_form() -> None:
    dockerfile = GO["heredoc_json_dockerfile"]
    answers = checks.heredocs_of_nodes(dockerfile, [None] * GO["heredoc_json_count"])
    assert answers == [None, None, None]


@pytest.mark.parametrize(
    ("kind", "word"), [(kind, word) for kind, words in GO["heredoc_words"].items() for word in words]
)
def test_one_word_as_a_heredoc(kind: str, word: str) -> None:
    assert checks.heredoc_word(word, kind) is None


# TestHeredocsFromLine only checks the names a line yields against the first of the row's, so
# a row yielding none passes whatever it lists. BuildKit's real answer for "RUN <<- EOF" is no
# heredoc: the shell lexer keeps blanks after "<<" in its word, not after "<<-", so "<<-" and
# "EOF" are two words and neither names one. cove's table says so; the script counts by the
# Go test's own check.
REAL_NAMES = {"RUN <<- EOF": []}


@pytest.mark.parametrize("row", GO["heredoc_lines"], ids=[r["line"] for r in GO["heredoc_lines"]])
def test_heredoc_names_in_a_line(row: dict[str, Any]) -> None:
    assert checks.heredoc_names_in_line(row["line"], row["names"], exact=False) is None
    names = REAL_NAMES.get(row["line"], row["names"])
    assert checks.heredoc_names_in_line(row["line"], names, exact=True) is None


# -- parser_test.go ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("foo", ["foo"]),
        ("foo bar", ["foo", "bar"]),
        ("foo\\ bar", ["foo\\ bar"]),
        ("foo=bar", ["foo=bar"]),
        ("foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]),
        ('foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']),
        ("àöû", ["àöû"]),
        ('föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']),
    ],
)
def test_parse_words(text: str, words: list[str]) -> None:
    assert parse_words(text, "\\") == words


def test_line_numbers() -> None:
    syntax = parse_syntax((HERE / "parser_testfile_line" / "Dockerfile").read_bytes())
    assert [(n.line, n.end_line) for n in syntax.nodes] == [(5, 5), (11, 12), (17, 31)]


EMPTY_CONTINUATIONS = """
FROM alpine:3.6

RUN valid \\
    continuation

RUN something \\

    following \\

    more

RUN another \\

    thing

RUN non-indented \\
# this is a comment
   after-comment

RUN indented \\
    # this is an indented comment
    comment
\t"""


def test_empty_continuation_lines_warn() -> None:
    warnings = parse_syntax(EMPTY_CONTINUATIONS).warnings
    assert len(warnings) == 2
    assert "Empty continuation line found in" in warnings[0].message
    assert "RUN something     following     more" in warnings[0].message
    assert "RUN another     thing" in warnings[1].message
    # Where BuildKit places them: the instruction's last line.
    assert [w.line for w in warnings] == [11, 15]


def test_a_line_over_64_kib_is_refused() -> None:
    text = f"\n\t\tFROM image\n\t\tLABEL test={'a' * 65536}\n"
    with pytest.raises(DockerfileError) as caught:
        parse_syntax(text)
    assert caught.value.message == "line 3: dockerfile line greater than max allowed size of 65535"


# -- line_parsers_test.go ---------------------------------------------------------------------


def test_name_value_old_form() -> None:
    assert name_values("foo bar", "LABEL", "\\") == ("foo", "bar", "")


def test_name_value_new_form() -> None:
    assert name_values("foo=bar thing=star", "LABEL", "\\") == ("foo", "bar", "=", "thing", "star", "=")


def test_name_without_value() -> None:
    with pytest.raises(DockerfileError, match="ENV must have two arguments"):
        name_values("foo", "ENV", "\\")


# -- directives_test.go (TestDirectives: the parser's part) -------------------------------------


@pytest.mark.parametrize("first", ["#escape=\\", "# EScape=\\"])
def test_directives_stop_at_the_first_other_line(first: str) -> None:
    syntax = parse_syntax(f"{first}\n# key = FOO bar\n\n# smth\nFROM scratch\n")
    assert syntax.directives == {"escape": "\\"}
    # After "# key = ..." (no directive) a directive is a comment.
    later = parse_syntax("# key = FOO bar\n# escape=`\nFROM scratch\n")
    assert later.directives == {} and later.escape == "\\"
