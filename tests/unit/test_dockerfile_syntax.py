"""The Dockerfile parser's syntax tree: cove's own cases for BuildKit's rules (beyond its tables).

Each case is text in, BuildKit's dump (or a node's fields, or one error line) out; the dumps are
what BuildKit's parser prints for the same text.
"""

from __future__ import annotations

import time

import pytest

from cove.build.dockerfile import (
    MAX_DOCKERFILE_BYTES,
    DockerfileError,
    Heredoc,
    dump,
    dump_all,
    heredocs_in_line,
    parse_syntax,
)
from cove.build.instructions import Copy, HeredocFile, parse_instructions


def dumps(text: str | bytes) -> list[str]:
    return [dump(node) for node in parse_syntax(text).nodes]


DUMPS: list[tuple[str, str | bytes, list[str]]] = [
    (
        "a tab after the keyword",
        'FROM\tubuntu\nCMD\t["a", "b"]\nRUN\t\techo',
        [
            '(from "ubuntu")',
            '(cmd "a" "b")',
            '(run "echo")',
        ],
    ),
    (
        "continuation lines joined as written",
        "RUN echo good\\\nbye\\\n  frog\n",
        [
            '(run "echo goodbye  frog")',
        ],
    ),
    (
        "an escaped backslash ends the line",
        "RUN echo a\\\\\nRUN echo b\n",
        [
            '(run "echo a\\\\\\\\")',
            '(run "echo b")',
        ],
    ),
    (
        "three backslashes neither (BuildKit's rule)",
        "RUN echo a\\\\\\\nRUN echo b\n",
        [
            '(run "echo a\\\\\\\\\\\\")',
            '(run "echo b")',
        ],
    ),
    ("a backtick escape", "# escape=`\nRUN dir c:\\ `\n  d:\\\n", ['(run "dir c:\\\\   d:\\\\")']),
    ("quotes keep their blanks across a line", 'RUN echo "a \\\n   b"\n', ['(run "echo \\"a    b\\"")']),
    (
        "CRLF line endings",
        "FROM a\r\nRUN echo hi \\\r\n  there\r\n",
        ['(from "a")', '(run "echo hi   there")'],
    ),
    ("a byte-order mark", b"\xef\xbb\xbfFROM scratch\n", ['(from "scratch")']),
    ("a byte-order mark before a directive", "\ufeff# escape=`\nRUN a `\nb\n", ['(run "a b")']),
    ("a comment and an empty line inside", "RUN a \\\n# note\n\n  b\n", ['(run "a   b")']),
    ("a continuation at the end of the file", "RUN a \\", ['(run "a")']),
    (
        "the old LABEL and ENV forms",
        "LABEL key some value\nENV K  v  w\n",
        [
            '(label "key" "some value" "")',
            '(env "K" "v  w" "")',
        ],
    ),
    (
        "name=value pairs keep their quotes",
        'ENV a="x y" b=z\\ w\n',
        [
            '(env "a" "\\"x y\\"" "=" "b" "z\\\\ w" "=")',
        ],
    ),
    (
        "ARG with several names and quoted values",
        'ARG a b=c\nARG abc="123 456"\n',
        [
            '(arg "a" "b=c")',
            '(arg "abc=\\"123 456\\"")',
        ],
    ),
    (
        "a lone -- ends the flags and goes",
        "COPY -- foo /tmp/\nCOPY --from=a -- --b /c\nCOPY --from=a --\n",
        [
            '(copy "foo" "/tmp/")',
            '(copy ["--from=a"] "--b" "/c")',
            '(copy ["--from=a"])',
        ],
    ),
    (
        "flags lose their quotes",
        'RUN --mount="type=cache,target=/a b" true\n',
        [
            '(run ["--mount=type=cache,target=/a b"] "true")',
        ],
    ),
    ("NaN is no JSON", 'CMD ["a", NaN]\n', ['(cmd "[\\"a\\", NaN]")']),
    ("a number out of range is no JSON (Go)", 'CMD ["a", 1e999]\n', ['(cmd "[\\"a\\", 1e999]")']),
    (
        "not quite JSON: the shell form",
        'CMD ["a" "b"]\nVOLUME [/a]\n',
        [
            '(cmd "[\\"a\\" \\"b\\"]")',
            '(volume "[/a]")',
        ],
    ),
    (
        "HEALTHCHECK's type and command",
        'HEALTHCHECK --retries=3 CMD ["true"]\nHEALTHCHECK NONE\n',
        [
            '(healthcheck ["--retries=3"] "CMD" "true")',
            '(healthcheck "NONE")',
        ],
    ),
    (
        "ONBUILD holds its instruction",
        "ONBUILD --x RUN --mount=a echo hi\nONBUILD\n",
        [
            '(onbuild ["--x"] (run ["--mount=a"] "echo hi"))',
            "(onbuild)",
        ],
    ),
    ("an unknown instruction keeps an empty argument", "FOO bar\n", ['(foo "")']),
    (
        "control characters quoted as Go does",
        'CMD ["\\u0007\\u00a0\\u2028"]\n',
        ['(cmd "\\a\\u00a0\\u2028")'],
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), DUMPS, ids=[d[0] for d in DUMPS])
def test_dumps(name: str, text: str | bytes, expected: list[str]) -> None:
    assert dumps(text) == expected


def test_nodes_carry_lines_original_and_comments() -> None:
    syntax = parse_syntax(
        "# syntax=x\n# one\n#\n# two\n\nFROM a\nRUN echo \\\n  hi\nCOPY <<EOF /x\nbody\nEOF\n"
    )
    assert syntax.directives == {"syntax": "x"}
    from_, run, copy = syntax.nodes
    assert from_.comments == ("two",)  # "#" alone starts the comments afresh; a directive is none
    assert (run.line, run.end_line, run.original, run.comments) == (7, 8, "RUN echo   hi", ())
    assert (copy.line, copy.end_line) == (9, 11)
    assert syntax.source[6:8] == ("RUN echo \\", "  hi")


DIRECTIVES = [
    ("# Escape=`\nFROM a\n", {"escape": "`"}, "`"),
    ("#escape = ` \n# SYNTAX=docker/dockerfile:1 // x\n# check=skip=all\n", None, "`"),
    ("FROM a\n# escape=`\n", {}, "\\"),  # after an instruction: a comment
    ("\n# escape=`\nFROM a\n", {}, "\\"),  # after an empty line too
    ("# hello\n# escape=`\nFROM a\n", {}, "\\"),  # and after another comment
    ("# escape=\nFROM a\n", {}, "\\"),  # no value: no directive
    ("# un_known=1\n# escape=`\nFROM a\n", {}, "\\"),
]


@pytest.mark.parametrize(("text", "found", "escape"), DIRECTIVES)
def test_directives(text: str, found: dict[str, str] | None, escape: str) -> None:
    if "FROM" not in text:
        text += "FROM a\n"
    syntax = parse_syntax(text)
    if found is None:
        found = {"escape": "`", "syntax": "docker/dockerfile:1 // x", "check": "skip=all"}
    assert (dict(syntax.directives), syntax.escape) == (found, escape)


def test_an_empty_continuation_line_warns_once_per_instruction() -> None:
    (warning,) = parse_syntax("FROM a\nRUN a \\\n\n b \\\n\n c\n").warnings
    assert (warning.line, warning.message) == (6, "Empty continuation line found in: RUN a  b  c")


def test_heredocs() -> None:
    text = (
        "FROM a\n"
        "RUN 3<<EOF cat <&3 && <<-'END' cat\n"
        "x $A\n"
        "EOF\n"
        "\tindented\n"
        "\tEND\n"
        "COPY <<eo'f' <<file.txt /dest/\n"
        "one\n"
        "eof\n"
        "two\r\n"
        "file.txt\r\n"
        "RUN << EOF\n"
        "EOF\n"
    )
    run, copy, spaced = parse_syntax(text).nodes[1:]
    assert run.heredocs == (
        Heredoc("EOF", "x $A\n", expand=True, fd=3),
        Heredoc("END", "indented\n", expand=False, chomp=True),
    )
    assert (run.line, run.end_line) == (2, 6)
    # The body lines are kept as written, their CRLF too (BuildKit's).
    assert copy.heredocs == (
        Heredoc("eof", "one\n", expand=False),
        Heredoc("file.txt", "two\r\n", expand=True),
    )
    assert spaced.heredocs == (Heredoc("EOF", "", expand=True),)


@pytest.mark.parametrize(
    "line",
    [
        'RUN ["<<EOF"]',  # the exec form takes none
        "RUN '<<EOF'",
        'RUN "<<EOF"',
        "RUN <<<EOF",
        "RUN cat<<EOF",  # not a word of its own
        "RUN <<- EOF",  # "<<-" and "EOF" are two words to BuildKit's lexer: no heredoc
        "RUN <<EOF 'open",  # a line the lexer cannot split names none
        "USER <<EOF",
        "ONBUILD ONBUILD RUN <<EOF",
    ],
)
def test_not_heredocs(line: str) -> None:
    (_, node, after) = parse_syntax(f"FROM a\n{line}\nEOF\n").nodes
    assert node.heredocs == () and after.keyword == "EOF"


def test_an_onbuild_trigger_takes_heredocs_on_the_onbuild_node() -> None:
    (node,) = parse_syntax("ONBUILD RUN <<EOF\necho hi\nEOF\n").nodes
    assert node.heredocs == (Heredoc("EOF", "echo hi\n", expand=True),)
    assert node.trigger is not None and (node.trigger.keyword, node.trigger.line, node.trigger.end_line) == (
        "RUN",
        1,
        3,
    )


def test_heredoc_names_take_the_line_as_the_shell_lexer_splits_it() -> None:
    names = [(d.name, d.expand) for d in heredocs_in_line("RUN <<'one two' <<EO\"F\" <<eo\\'f <<$X")]
    assert names == [("one two", False), ("EOF", False), ("eo'f", True), ("$X", True)]


ERRORS: list[tuple[str | bytes, str, int]] = [
    ("", "file with no instructions", 0),
    ("# only\n\n# comments\n", "file with no instructions", 0),
    (
        'FROM a\nCMD ["a", \\\n  42]\n',
        "line 2: when using JSON array syntax, arrays must be comprised of strings only",
        3,
    ),
    (
        "FROM a\nCMD [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" + "[" * 20000 + "]\n",
        "line 2: when using JSON array",
        2,
    ),
    (
        "FROM a\nLABEL a=b c\n",
        'line 2: Syntax error - can\'t find = in "c". Must be of the form: name=value',
        2,
    ),
    ("FROM a\nRUN <<EOF\necho\n", "line 2: unterminated heredoc EOF", 3),
    ("# escape=`\n# Escape=\\\nFROM a\n", "line 2: only one escape parser directive can be used", 2),
    ("# escape=x\nFROM a\n", "line 1: invalid escape token 'x' does not match ` or \\", 1),
    (b"FROM a\nRUN echo \xff\n", "line 2: the Dockerfile is not valid UTF-8", 2),
    ("ONBUILD " * 20 + "RUN x\n", "line 1: ONBUILD triggers nested too deeply", 1),
]


@pytest.mark.parametrize(("text", "message", "end_line"), ERRORS)
def test_errors(text: str | bytes, message: str, end_line: int) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse_syntax(text)
    assert caught.value.message.startswith(message), caught.value.message
    assert caught.value.end_line == end_line


def test_size_bounds() -> None:
    with pytest.raises(DockerfileError, match="more than the"):
        parse_syntax(b"#" * (MAX_DOCKERFILE_BYTES + 1))
    wide = "é" * 40000  # 80000 bytes in UTF-8: the bound is in bytes, as BuildKit's
    with pytest.raises(
        DockerfileError, match="line 2: dockerfile line greater than max allowed size of 65535"
    ):
        parse_syntax(f"FROM a\nRUN {wide}\n")
    assert dumps(f"FROM a\nRUN {'x' * 65531}") == ['(from "a")', f'(run "{"x" * 65531}")']


def test_whole_file_dump() -> None:
    assert dump_all(parse_syntax("FROM a\nRUN b\n")) == '(from "a")\n(run "b")'


def test_the_typed_view_for_the_build() -> None:
    """What the build reads of these nodes (the typed instructions; the old flat view is gone)."""
    copy, heredoc, onbuild = parse_instructions(
        parse_syntax(
            "FROM a\nCOPY -- x /y\nCOPY --from=a --chown=1 <<EOF /z\nhi\nEOF\nONBUILD RUN echo \\\n hi\n"
        )
    )[1:]
    assert isinstance(copy, Copy) and isinstance(heredoc, Copy)
    assert (copy.sources, copy.dest, copy.flags) == (("x",), "/y", ())
    assert (heredoc.written_arguments(), heredoc.from_, heredoc.chown) == ("<<EOF /z", "a", "1")
    assert heredoc.heredocs == (HeredocFile("EOF", "hi\n", expand=True),)
    assert (onbuild.written_arguments(), onbuild.line, onbuild.end_line) == ("RUN echo  hi", 6, 7)


def test_work_grows_with_the_file_not_its_square() -> None:
    # 200,000 comment lines before an instruction: collecting them once copied the list per line.
    started = time.monotonic()
    (node,) = parse_syntax("# c\n" * 200_000 + "FROM a\n").nodes
    assert len(node.comments) == 200_000
    assert time.monotonic() - started < 5


def test_an_integer_beyond_float64_is_no_json_either() -> None:
    # Go decodes JSON numbers as float64: a 400-digit integer does not fit, so it is no JSON there.
    assert dumps('CMD ["a", 1' + "0" * 400 + "]\n") == ['(cmd "[\\"a\\", 1' + "0" * 400 + ']")']


def test_flags_are_split_on_characters() -> None:
    # Deliberately not BuildKit's: it tests each byte for a blank, so the 0xA0 byte of "à"
    # (C3 A0 in UTF-8) ends its flag mid-character. cove keeps the character whole.
    assert dumps("RUN --mount=à true\n") == ['(run ["--mount=à"] "true")']
