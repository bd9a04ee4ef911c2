"""BuildKit's instruction-layer tables, as cove's own copies.

Cases from moby/buildkit frontend/dockerfile/instructions/parse_test.go, parse_heredoc_test.go
and bflag_test.go (Apache-2.0), commit 73ed682. The inputs and expected results are theirs;
where cove differs, the row says so and why. ``scripts/buildkit_instruction_tables.py`` checks
these against the Go files of a BuildKit checkout and prints the counts.
"""

from __future__ import annotations

import contextlib

import pytest

from cove.build.dockerfile import DockerfileError, Node, parse_syntax
from cove.build.instructions import (
    Arg,
    Copy,
    From,
    Healthcheck,
    HeredocFile,
    Instruction,
    Run,
    from_node,
    parse_instructions,
)
from cove.build.instructions.flags import FlagError, FlagKind, parse_flags, written_by_name

B, S, M = FlagKind.BOOL, FlagKind.STRING, FlagKind.STRINGS


def first(text: str) -> Instruction:
    return from_node(parse_syntax(text).nodes[0])


def error_of(text: str) -> str:
    with pytest.raises(DockerfileError) as caught:
        first(text)
    return caught.value.reason


def node(keyword: str, *args: str, json: bool = False) -> Node:
    return Node(keyword, args, (), json, (), f"{keyword} {' '.join(args)}", 1, 1)


# -- parse_test.go -----------------------------------------------------------------------------

EXACTLY_ONE = ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"]
AT_LEAST_ONE = ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME"]
NO_DESTINATION = ["ADD", "COPY"]
TOO_MANY = ["ENV", "LABEL"]
BLANK_NAMES = ["ENV", "LABEL"]
ERROR_CASES = [  # TestErrorCases: (name, dockerfile, the error contains)
    ("copyEmptyWhitespace", "COPY\t\n\t\tquux \\\n      bar", "COPY requires at least two arguments"),
    ("ONBUILD forbidden FROM", "ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
    ("MAINTAINER unknown flag", "MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
    (
        "Chaining ONBUILD",
        "ONBUILD ONBUILD RUN touch foobar",
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    ),
    ("Invalid instruction", "FOO bar", "unknown instruction: FOO"),
    ("Invalid instruction", "foo bar", "unknown instruction: foo"),
]
OPT_INTERVALS = [("50ns", "cannot be less than 1ms"), ("0ms", None), ("1ms", None)]  # TestParseOptInterval
NIL_LINTER_FORMS = [" foo=bar", " a", " a b", " a b c", " 0 0"]  # TestNilLinter, for every instruction
ALL_INSTRUCTIONS = (
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL "
    "STOPSIGNAL USER VOLUME WORKDIR"
).split()


@pytest.mark.parametrize("keyword", EXACTLY_ONE)
def test_commands_exactly_one_argument(keyword: str) -> None:
    assert error_of(keyword) == f"{keyword} requires exactly one argument"


@pytest.mark.parametrize("keyword", AT_LEAST_ONE)
def test_commands_at_least_one_argument(keyword: str) -> None:
    assert error_of(keyword) == f"{keyword} requires at least one argument"


@pytest.mark.parametrize("keyword", NO_DESTINATION)
def test_commands_no_destination_argument(keyword: str) -> None:
    assert error_of(f"{keyword} arg1") == (
        f"{keyword} requires at least two arguments, but only one was provided. "
        "Destination could not be determined"
    )


@pytest.mark.parametrize("keyword", TOO_MANY)
def test_commands_too_many_arguments(keyword: str) -> None:
    # A node made by hand: four arguments where ENV/LABEL take (key, value, delimiter) triples.
    with pytest.raises(DockerfileError, match=f"Bad input to {keyword}, too many arguments"):
        from_node(node(keyword, "arg1", "arg2", "arg3", ""))


@pytest.mark.parametrize("keyword", BLANK_NAMES)
def test_commands_blank_names(keyword: str) -> None:
    with pytest.raises(DockerfileError, match=f"{keyword} names can not be blank"):
        from_node(node(keyword, "", "arg2", "="))


def test_health_check_cmd() -> None:
    check = from_node(node("HEALTHCHECK", "CMD", "hello", "world"))
    assert isinstance(check, Healthcheck) and check.test == ("CMD-SHELL", "hello world")


@pytest.mark.parametrize(("interval", "error"), OPT_INTERVALS)
def test_parse_opt_interval(interval: str, error: str | None) -> None:
    text = f"HEALTHCHECK --interval={interval} CMD true"
    if error is None:
        check = first(text)
        assert isinstance(check, Healthcheck) and check.interval == (1_000_000 if interval == "1ms" else 0)
    else:
        assert error in error_of(text)


@pytest.mark.parametrize("keyword", ALL_INSTRUCTIONS)
def test_nil_linter(keyword: str) -> None:
    """Any short form of any instruction parses or is refused with a DockerfileError; nothing else."""
    for form in NIL_LINTER_FORMS:
        with contextlib.suppress(DockerfileError):
            parse_instructions(parse_syntax(f"FROM busybox\n{keyword}{form}"))


def test_comments_detection() -> None:
    """BuildKit derives doc comments ("# foo sets foo") for ARG and FROM from the comment lines
    before them, for its outline and linter. Cove differs: it keeps the comment lines on the
    parser's nodes and derives nothing from them, since nothing in cove reads doc comments.
    The instructions themselves are as in BuildKit's test."""
    text = (
        "# foo sets foo\nARG foo=bar\n\n# base defines first stage\nFROM busybox AS base\n"
        "# this is irrelevant\nARG foo\n# bar defines bar\n# baz is something else\nARG bar baz=123\n"
    )
    syntax = parse_syntax(text)
    meta, stage, foo, bar = parse_instructions(syntax)
    assert isinstance(meta, Arg) and meta.args[0].name == "foo"
    assert isinstance(stage, From) and stage.name == "base"
    assert isinstance(foo, Arg) and foo.args[0].name == "foo"
    assert isinstance(bar, Arg) and [a.name for a in bar.args] == ["bar", "baz"]
    assert syntax.nodes[0].comments == ("foo sets foo",)
    assert syntax.nodes[3].comments == ("bar defines bar", "baz is something else")


@pytest.mark.parametrize(("name", "text", "error"), ERROR_CASES)
def test_error_cases(name: str, text: str, error: str) -> None:
    assert error in error_of(text), name


def test_run_cmd_flags_used() -> None:
    run = first("RUN --mount=type=tmpfs,target=/foo/ echo hello")
    assert isinstance(run, Run)
    assert list(written_by_name(run.flags)) == ["mount"]
    assert run.mounts[0].type == "tmpfs" and run.mounts[0].target == "/foo/"


# -- parse_heredoc_test.go ---------------------------------------------------------------------

HEREDOC_ERRORS = [("COPY /foo <<EOF\nEOF", "COPY cannot accept a heredoc as a destination")]
COPY_HEREDOCS: list[tuple[str, str, list[str], list[HeredocFile]]] = [  # (dockerfile, dest, paths, contents)
    ("COPY /foo /bar", "/bar", ["/foo"], []),
    ("COPY <<EOF /bar\nEOF", "/bar", [], [HeredocFile("EOF", "", True)]),
    ("COPY <<EOF /bar\nTESTING\nEOF", "/bar", [], [HeredocFile("EOF", "TESTING\n", True)]),
    ("COPY <<-EOF /bar\n\tTESTING\nEOF", "/bar", [], [HeredocFile("EOF", "TESTING\n", True, chomp=True)]),
    ("COPY <<'EOF' /bar\nTESTING\nEOF", "/bar", [], [HeredocFile("EOF", "TESTING\n", False)]),
    (
        "COPY <<EOF1 <<EOF2 /bar\nthis is the first file\nEOF1\nthis is the second file\nEOF2",
        "/bar",
        [],
        [
            HeredocFile("EOF1", "this is the first file\n", True),
            HeredocFile("EOF2", "this is the second file\n", True),
        ],
    ),
    (
        "COPY <<EOF foo.txt /bar\nthis is inline\nEOF",
        "/bar",
        ["foo.txt"],
        [HeredocFile("EOF", "this is inline\n", True)],
    ),
    ('COPY <<EOF /quotes\n"quotes"\nEOF', "/quotes", [], [HeredocFile("EOF", '"quotes"\n', True)]),
]
# (dockerfile, shell form, command, heredoc files as (name, content, chomp))
RUN_HEREDOCS: list[tuple[str, bool, list[str], list[tuple[str, str, bool]]]] = [
    ('RUN ["ls", "/"]', False, ["ls", "/"], []),
    ('RUN ["<<EOF"]', False, ["<<EOF"], []),
    ("RUN ls /", True, ["ls /"], []),
    ("RUN <<EOF\nls /\nwhoami\nEOF", True, ["<<EOF"], [("EOF", "ls /\nwhoami\n", False)]),
    (
        'RUN <<\'EOF\' | python\nprint("hello")\nprint("world")\nEOF',
        True,
        ["<<'EOF' | python"],
        [("EOF", 'print("hello")\nprint("world")\n', False)],
    ),
    # BuildKit keeps "\techo test\n" with Chomp set and strips the tabs when it runs the
    # script; cove's parser strips them when it reads the heredoc (the shared syntax tree's
    # rule), so the content is already "echo test\n": the script that runs is the same.
    ("RUN <<-EOF\n\techo test\nEOF", True, ["<<-EOF"], [("EOF", "echo test\n", True)]),
]


@pytest.mark.parametrize(("text", "error"), HEREDOC_ERRORS)
def test_error_cases_heredoc(text: str, error: str) -> None:
    assert error in error_of(text)


@pytest.mark.parametrize(("text", "dest", "paths", "contents"), COPY_HEREDOCS)
def test_copy_heredoc(text: str, dest: str, paths: list[str], contents: list[HeredocFile]) -> None:
    copy = first(text)
    assert isinstance(copy, Copy)
    assert (copy.dest, list(copy.sources), list(copy.heredocs)) == (dest, paths, contents)


@pytest.mark.parametrize(("text", "shell", "command", "files"), RUN_HEREDOCS)
def test_run_heredoc(text: str, shell: bool, command: list[str], files: list[tuple[str, str, bool]]) -> None:
    run = first(text)
    assert isinstance(run, Run)
    assert run.shell == shell and list(run.command) == command
    assert [(h.name, h.content, h.chomp) for h in run.heredocs] == files


# -- bflag_test.go -----------------------------------------------------------------------------

# (flags declared, args, error expected, values expected after parsing). BuildKit declares
# defaults with its flags ("HI" for str1); cove's parser returns what was given and each
# instruction applies its own default, so a default shows here as "not given".
BFLAG_CASES: list[tuple[dict[str, FlagKind], list[str], bool, dict[str, object]]] = [
    ({}, [], False, {}),
    ({}, ["--"], False, {}),
    ({"str1": S, "bool1": B}, [], False, {}),
    ({"str1": S, "bool1": B}, [], False, {}),  # with str1 defaulting to HI: still not given
    ({"str1": S}, ["--str1"], True, {}),
    ({"str1": S}, ["--str1="], False, {"str1": ""}),
    ({"str1": S}, ["--str1=BYE"], False, {"str1": "BYE"}),
    ({"bool1": B}, ["--bool1"], False, {"bool1": True}),
    ({"bool1": B}, ["--bool1=true"], False, {"bool1": True}),
    ({"bool1": B}, ["--bool1=false"], False, {"bool1": False}),
    ({"bool1": B}, ["--bool1=false1"], True, {}),
    ({"bool1": B}, ["--bool2"], True, {}),
    ({"str1": S, "bool1": B}, ["--bool1", "--str1=BYE"], False, {"str1": "BYE", "bool1": True}),
    (
        {
            "bool1": B,
            "bool2": B,
            "bool3": B,
            "bool4": B,
            "bool5": B,
            "str1": S,
            "str2": S,
            "str3": S,
            "str4": S,
        },
        ["--bool2=false", "--bool3", "--bool4=true", "--bool5", "--str2= ", "--str3=def3", "--str4=my-val"],
        False,
        {
            "bool2": False,
            "bool3": True,
            "bool4": True,
            "bool5": True,
            "str2": " ",
            "str3": "def3",
            "str4": "my-val",
        },
    ),
]


@pytest.mark.parametrize(("declared", "args", "fails", "values"), BFLAG_CASES)
def test_builder_flags(
    declared: dict[str, FlagKind], args: list[str], fails: bool, values: dict[str, object]
) -> None:
    if fails:
        with pytest.raises(FlagError):
            parse_flags(args, declared)
        return
    parsed = parse_flags(args, declared)
    assert dict(parsed.values) == values  # (BuildKit's Used(): exactly these names)


def test_builder_flags_cove_rules() -> None:
    """What BuildKit's other rules give, checked here as cove has them."""
    assert parse_flags(["--x=1", "--x=2"], {"x": M}).strings("x") == ("1", "2")
    with pytest.raises(FlagError, match="duplicate flag specified: --x"):
        parse_flags(["--x=1", "--x=2"], {"x": S})
    with pytest.raises(FlagError, match="missing a value on flag: --b"):
        parse_flags(["--b="], {"b": B})
    with pytest.raises(FlagError, match="arg should start with -- : -x"):
        parse_flags(["-x"], {"x": S})
    assert parse_flags(["--", "--ignored"], {}).values == {}
