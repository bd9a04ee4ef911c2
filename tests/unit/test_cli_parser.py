"""cove.cli.parser: argparse that fails like Docker's CLI, Go-style booleans, filters; and
the subparsers stand-in of cove.cli.main that builds only the commands (and aliases) a run needs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import pytest

from cove.cli.main import _Only, _SkippedParser, build_parser
from cove.cli.parser import CoveArgumentParser, GoBool, UsageError, command_line, go_bool, parse_filters


def run_like_parser(command_line: Callable[[], Sequence[str]] = command_line) -> CoveArgumentParser:
    """A small parser shaped like ``cove run``: options, a GoBool, IMAGE and a command."""
    p = CoveArgumentParser(prog="cove run", command_line=command_line)
    p.add_argument("--sig-proxy", action=GoBool, default=True)
    p.add_argument("--rm", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--name")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


# --- go_bool ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["true", "TRUE", "True", "1", "t", "T"])
def test_go_bool_true(text: str) -> None:
    assert go_bool(text) is True


@pytest.mark.parametrize("text", ["false", "FALSE", "False", "0", "f", "F"])
def test_go_bool_false(text: str) -> None:
    assert go_bool(text) is False


@pytest.mark.parametrize(
    "text", ["", "maybe", "2", "on", "off", "truee", " true", "-1", "yes", "no", "tRUE", "fALSE"]
)
def test_go_bool_rejects_other_words(text: str) -> None:
    """Go's strconv.ParseBool knows no yes/no and no mixed case: ``--sig-proxy=yes`` is an
    error in Docker."""
    with pytest.raises(argparse.ArgumentTypeError, match="invalid boolean value"):
        go_bool(text)


# --- GoBool ----------------------------------------------------------------------------------


def test_gobool_default_when_absent() -> None:
    args = run_like_parser().parse_args(["alpine"])
    assert args.sig_proxy is True
    p = CoveArgumentParser(prog="x")
    p.add_argument("--human", action=GoBool, default=False)
    assert p.parse_args([]).human is False


def test_gobool_default_is_true_when_not_given() -> None:
    p = CoveArgumentParser(prog="x")
    p.add_argument("--flag", action=GoBool)
    assert p.parse_args([]).flag is True


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--sig-proxy", "alpine"], True),
        (["--sig-proxy=true", "alpine"], True),
        (["--sig-proxy=1", "alpine"], True),
        (["--sig-proxy=t", "alpine"], True),
        (["--sig-proxy=false", "alpine"], False),
        (["--sig-proxy=FALSE", "alpine"], False),
        (["--sig-proxy=0", "alpine"], False),
        (["--sig-proxy=f", "alpine"], False),
    ],
)
def test_gobool_values(argv: list[str], expected: bool) -> None:
    args = run_like_parser().parse_args(argv)
    assert args.sig_proxy is expected
    assert args.image == "alpine"


def test_gobool_never_eats_the_next_word() -> None:
    """``run --sig-proxy busybox``: busybox is the image, not the flag's value."""
    args = run_like_parser().parse_args(["--sig-proxy", "busybox", "echo", "hi"])
    assert args.sig_proxy is True
    assert args.image == "busybox"
    assert args.command == ["echo", "hi"]


def test_gobool_bare_flag_does_not_take_false_as_its_value() -> None:
    """As Go's flag package: ``--flag false`` sets the flag and leaves "false" as an argument."""
    args = run_like_parser().parse_args(["--sig-proxy", "false"])
    assert args.sig_proxy is True
    assert args.image == "false"


def test_gobool_after_an_option_with_a_value() -> None:
    args = run_like_parser().parse_args(["-e", "A=1", "--sig-proxy", "--name", "web", "alpine"])
    assert args.env == ["A=1"]
    assert args.sig_proxy is True
    assert args.name == "web"
    assert args.image == "alpine"


def test_flags_after_the_image_belong_to_the_command() -> None:
    args = run_like_parser().parse_args(["alpine", "--sig-proxy", "--rm"])
    assert args.command == ["--sig-proxy", "--rm"]
    assert args.sig_proxy is True
    assert args.rm is False


def test_gobool_rewrite_stops_at_double_dash() -> None:
    p = CoveArgumentParser(prog="x")
    p.add_argument("--flag", action=GoBool, default=False)
    p.add_argument("rest", nargs="*")
    args = p.parse_args(["--flag", "--", "--flag"])
    assert args.flag is True
    assert args.rest == ["--flag"]


@pytest.mark.parametrize("value", ["maybe", "yess", "2", ""])
def test_gobool_rejects_bad_values_as_usage_error(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        run_like_parser().parse_args([f"--sig-proxy={value}", "alpine"])
    assert "--sig-proxy" in caught.value.message
    assert "invalid boolean value" in caught.value.message
    assert caught.value.prog == "cove run"


def test_gobool_short_option() -> None:
    p = CoveArgumentParser(prog="x")
    p.add_argument("-H", "--human", action=GoBool, default=True)
    p.add_argument("image")
    assert p.parse_args(["-H", "img"]).human is True
    assert p.parse_args(["--human=false", "img"]).human is False
    assert p.parse_args(["-H=false", "img"]).human is False


def test_gobool_ignores_nargs_const_and_type_passed_by_the_caller() -> None:
    p = CoveArgumentParser(prog="x")
    p.add_argument("--flag", action=GoBool, nargs=1, const="x", type=int, default=False)
    assert p.parse_args(["--flag"]).flag is True
    assert p.parse_args(["--flag=false"]).flag is False


def test_parse_args_none_reads_the_command_line() -> None:
    """``parse_args()`` without a list reads the command line; a bare GoBool there must not
    eat the next word either (the top-level parser is called this way when no list is given)."""
    args = run_like_parser(lambda: ["--sig-proxy", "busybox"]).parse_args()
    assert args.sig_proxy is True
    assert args.image == "busybox"


def test_the_command_line_is_sys_argv_after_the_program_name() -> None:
    assert CoveArgumentParser().command_line is command_line
    assert command_line() == sys.argv[1:]


def test_parser_without_gobool_passes_args_unchanged() -> None:
    p = CoveArgumentParser(prog="x")
    p.add_argument("--name")
    p.add_argument("rest", nargs="*")
    assert p.parse_args(["--name", "a", "b", "--", "-c"]).rest == ["b", "-c"]


# --- usage errors ----------------------------------------------------------------------------


def test_unknown_flag_raises_usage_error_instead_of_exiting() -> None:
    with pytest.raises(UsageError) as caught:
        run_like_parser().parse_args(["--bogus", "alpine"])
    assert "--bogus" in caught.value.message
    assert caught.value.prog == "cove run"
    assert str(caught.value) == caught.value.message


def test_missing_positional_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="required: image"):
        run_like_parser().parse_args([])


def test_bad_type_is_a_usage_error() -> None:
    p = CoveArgumentParser(prog="cove stop")
    p.add_argument("-t", "--time", type=int)
    with pytest.raises(UsageError, match="invalid int value: 'soon'"):
        p.parse_args(["-t", "soon"])


def test_bad_choice_is_a_usage_error() -> None:
    p = CoveArgumentParser(prog="cove run")
    p.add_argument("--pull", choices=("missing", "always", "never"))
    with pytest.raises(UsageError, match="invalid choice: 'sometimes'"):
        p.parse_args(["--pull", "sometimes"])


def test_long_options_are_not_abbreviated() -> None:
    """Docker (pflag) has no prefix matching: ``--mem`` is not ``--memory``."""
    p = CoveArgumentParser(prog="cove run")
    p.add_argument("--memory")
    with pytest.raises(UsageError, match="--mem"):
        p.parse_args(["--mem", "1g"])
    assert p.parse_args(["--memory", "1g"]).memory == "1g"


def test_description_keeps_its_line_breaks() -> None:
    p = CoveArgumentParser(prog="cove", description="first line\n  indented second line")
    assert "first line\n  indented second line" in p.format_help()


def test_subparsers_raise_usage_error_with_their_own_prog() -> None:
    p = CoveArgumentParser(prog="cove")
    sub = p.add_subparsers(parser_class=CoveArgumentParser)
    stop = sub.add_parser("stop")
    stop.add_argument("containers", nargs="+")
    with pytest.raises(UsageError) as caught:
        p.parse_args(["stop"])
    assert caught.value.prog == "cove stop"
    assert "containers" in caught.value.message


def test_gobool_in_a_subparser_does_not_eat_the_image() -> None:
    p = CoveArgumentParser(prog="cove")
    sub = p.add_subparsers(dest="cmd", parser_class=CoveArgumentParser)
    run = sub.add_parser("run")
    run.add_argument("--sig-proxy", action=GoBool, default=True)
    run.add_argument("image")
    args = p.parse_args(["run", "--sig-proxy", "busybox"])
    assert args.cmd == "run"
    assert args.sig_proxy is True
    assert args.image == "busybox"


# --- parse_filters ---------------------------------------------------------------------------


def test_parse_filters_none_and_empty() -> None:
    assert parse_filters(None) == {}
    assert parse_filters([]) == {}


def test_parse_filters_groups_repeated_keys() -> None:
    assert parse_filters(["label=a", "dangling=true", "label=b=c", "Name=x", " id =y"]) == {
        "label": ["a", "b=c"],
        "dangling": ["true"],
        "name": ["x"],
        "id": ["y"],
    }


def test_parse_filters_empty_value_is_kept() -> None:
    assert parse_filters(["label="]) == {"label": [""]}


@pytest.mark.parametrize("item", ["dangling", "=true", ""])
def test_parse_filters_rejects_items_without_key_or_equals(item: str) -> None:
    with pytest.raises(UsageError, match="bad format of filter"):
        parse_filters([item])


# --- subparsers that build only what a run needs (cove.cli.main) -----------------------------


def _subparsers() -> tuple[CoveArgumentParser, argparse._SubParsersAction]:  # type: ignore[type-arg]
    p = CoveArgumentParser(prog="cove volume")
    return p, p.add_subparsers(dest="cmd", parser_class=CoveArgumentParser)


def test_only_builds_a_wanted_command() -> None:
    p, action = _subparsers()
    built = _Only(action, {"ls"}).add_parser("ls", aliases=["list"])
    assert isinstance(built, CoveArgumentParser)
    assert p.parse_args(["ls"]).cmd == "ls"


def test_only_builds_a_command_wanted_by_its_alias() -> None:
    p, action = _subparsers()
    built = _Only(action, {"list"}).add_parser("ls", aliases=["list"])
    assert isinstance(built, CoveArgumentParser)
    built.set_defaults(which="ls")
    assert p.parse_args(["list"]).which == "ls"
    assert p.parse_args(["ls"]).which == "ls"


def test_only_skips_commands_not_wanted() -> None:
    p, action = _subparsers()
    only = _Only(action, {"rm"})
    skipped = only.add_parser("ls", aliases=["list"])
    assert isinstance(skipped, _SkippedParser)
    skipped.add_argument("-q", action="store_true")  # accepted and ignored
    skipped.set_defaults(handler=None)
    only.add_parser("rm", aliases=["remove"])
    assert p.parse_args(["remove"]).cmd == "remove"
    with pytest.raises(UsageError, match="invalid choice: 'ls'"):
        p.parse_args(["ls"])


def test_only_none_builds_everything() -> None:
    p, action = _subparsers()
    only = _Only(action, None)
    only.add_parser("ls", aliases=["list"])
    only.add_parser("rm")
    assert p.parse_args(["list"]).cmd == "list"
    assert p.parse_args(["rm"]).cmd == "rm"


@pytest.mark.parametrize(
    ("argv", "same_as"),
    [
        (["volume", "list"], ["volume", "ls"]),
        (["volume", "remove", "v1"], ["volume", "rm", "v1"]),
        (["container", "list"], ["container", "ls"]),
        (["container", "ps"], ["container", "ls"]),
        (["container", "ls"], ["ps"]),
        (["container", "remove", "c1"], ["rm", "c1"]),
        (["image", "list"], ["image", "ls"]),
        (["image", "remove", "alpine"], ["rmi", "alpine"]),
    ],
)
def test_aliases_reach_the_same_handler(argv: list[str], same_as: list[str]) -> None:
    """Each command line is parsed by the parser built for it alone, as ``cove`` does."""
    args = build_parser(argv).parse_args(argv)
    expected = build_parser(same_as).parse_args(same_as)
    assert args.handler is expected.handler


def test_build_parser_for_one_command_still_reports_usage_errors() -> None:
    with pytest.raises(UsageError) as caught:
        build_parser(["run"]).parse_args(["run"])
    assert caught.value.prog == "cove run"
    assert "IMAGE" in caught.value.message
