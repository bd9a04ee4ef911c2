"""cove's own cases for the shell lexer: its modes, BuildKit's corner cases, hostile input."""

from __future__ import annotations

import random
import re
import time

import pytest

from cove.build import shell_pattern
from cove.build.expand import MAX_NESTING, ExpansionError, ShellLex, expand_heredoc
from tests.unit.buildkit_shell_cases import HEREDOC_CONTENTS

ENV = {"A": "1", "S": "s p", "EMPTY": "", "안녕": "hi"}


def word(text: str, env: dict[str, str] | None = None, **modes: bool) -> str:
    return ShellLex(**modes).process_word(text, ENV if env is None else env).value


# -- the modes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "modes", "expected"),
    [
        ("a'b'\"c\"", {"raw_quotes": True}, "a'b'\"c\""),
        ("'$A'\"$A\"", {"raw_quotes": True}, "'$A'\"1\""),
        ("a\\ b\\", {"raw_escapes": True}, "a\\ b\\"),  # the escape and the last one stay
        ('"\\$A"', {"raw_escapes": True}, "\\$A"),
        ('"\\a"', {"raw_escapes": True}, "\\\\a"),  # BuildKit writes a literal escape twice
        ("${U:-\\x}", {"raw_escapes": True}, "x"),  # not inside ${...:-...}
        ("'$A' \"it's\"", {"skip_process_quotes": True}, "'1' \"it's\""),
        ("\\$A \\\\", {"skip_process_quotes": True}, "$A \\"),
        ("$U ${U} ${U:-x} ${U#y} ${U/a/b} $A", {"skip_unset_env": True}, "$U ${U} ${U:-x} ${U#y} ${U/a/b} 1"),
        ("${U//a/b}", {"skip_unset_env": True}, "${U/a/b}"),  # BuildKit drops the second slash
        ("${U:=x}", {"skip_unset_env": True}, "${U:=x}"),  # an error only when U is set
    ],
)
def test_modes(text: str, modes: dict[str, bool], expected: str) -> None:
    assert word(text, **modes) == expected


def test_the_heredoc_word_splitting_of_the_parser() -> None:
    lex = ShellLex(raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    assert lex.process_words("RUN cat <<  EOF >out", {}) == ["RUN", "cat", "<<  EOF", ">out"]
    assert lex.process_words("COPY <<'E O F' <<\"x\"y /d", {}) == ["COPY", "<<'E O F'", '<<"x"y', "/d"]


def test_the_backtick_escape() -> None:
    lex = ShellLex("`")
    assert lex.process_word('c:\\dir`$A `"x', ENV).value == 'c:\\dir$A "x'
    assert lex.process_word('"`"`$A``"', ENV).value == '"$A`'
    assert lex.process_word("${U:-a`}b}", ENV).value == "a}b"
    assert lex.process_word("${X#s\\*}", {"X": "s*p"}).value == "p"  # the pattern reads backslashes
    with pytest.raises(ExpansionError, match="invalid escape character"):
        ShellLex("x")


# -- BuildKit's reading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1x", "x"),
        ("$10x", "x"),
        ("$$ $! $- $? $# $* $@ $0", "       "),
        ("${@:-x}${*:+y}${#:-z}", "xz"),
        ("$@@@", "@@"),
        ("$안녕!", "hi!"),
        ("${안녕}", "hi"),
        ("\ufeff$A", "1"),  # Go's scanner drops a byte-order mark at the start
        ("a\ufeff$A", "a\ufeff1"),
        ("$A<<$A", "1<<1"),
        ("${EMPTY:-a}${EMPTY-b}${EMPTY:+c}${EMPTY+d}", "ad"),
    ],
)
def test_buildkit_reading(text: str, expected: str) -> None:
    assert word(text) == expected


def test_names_matched_and_unmatched() -> None:
    result = ShellLex().process_word("${A:-$B}$1${C#$A}", ENV)
    assert result.matched == {"A"} and result.unmatched == {"B", "1", "C"}
    assert ShellLex().process_word("${/a/b}", {}).unmatched == {""}


def test_words_split_after_expansion() -> None:
    lex = ShellLex()
    assert lex.process_words("x$S \"$S\" '$S' a\\ b", ENV) == ["xs", "p", "s p", "$S", "a b"]
    assert lex.process_words("  ", ENV) == []
    # A reference with a nested word empties the word being built: BuildKit's answer.
    assert lex.process_words("a${U:-b}c d", ENV) == ["bc", "d"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("${A", "missing '}'"),
        ("${A:-x", "missing '}'"),
        ("${A/x", "missing '/' in ${}"),
        ("${A/x/y", "missing '}'"),
        ("${A:-'x}", "matching single-quote"),
        ('a"b', "matching double-quote"),
        ('"a\\', "matching double-quote"),
        ("${}", "bad substitution"),
        ("${:-x}", "bad substitution"),
        ("${{A}", "bad substitution"),
        ("${A=x}", "unsupported modifier (=)"),
        ("${A:=x}", "unsupported modifier (:=)"),
        ("${A:#x}", "unsupported modifier (:#)"),
        ("${A:/x/y}", "unsupported modifier (:/)"),
        ("${.}", "unsupported modifier (.)"),
        ("${A#\\x}", "invalid escape"),
    ],
)
def test_errors(text: str, error: str) -> None:
    with pytest.raises(ExpansionError) as caught:
        word(text)
    assert error in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${A?}", "A: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${U?needs $A}", "U: needs 1"),
        ("${A", "syntax error: missing '}' in \"${A\""),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    """The Dockerfile's own message alone; any other error names the word."""
    with pytest.raises(ExpansionError) as caught:
        word(text, {"EMPTY": "", "A": "1"} if text != "${A?}" else {})
    assert str(caught.value) == message


def test_an_error_shows_a_long_word_shortened() -> None:
    with pytest.raises(ExpansionError) as caught:
        word("'" + "x" * 10_000)
    assert len(str(caught.value)) < 250 and "\n" not in str(caught.value)


# -- patterns ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("${X#*}", "a\nb", "a\nb"),
        ("${X##*}", "a\nb", "\nb"),  # Go's "." stops at a newline
        ("${X%%*}", "a\nb", "a\n"),
        ("${X#?}", "\nb", "\nb"),
        ("${X#[a]}", "[a]b", "b"),  # no bracket classes in BuildKit: "[" is literal
        ("${X#[a]}", "ab", "ab"),
        ("${X#??}", "abc", "c"),
        ("${X%?}", "abc", "ab"),
        ("${X#*b}", "abab", "ab"),
        ("${X##*b}", "abab", ""),
        ("${X%b*}", "abab", "aba"),
        ("${X%%b*}", "abab", "a"),
        ('${X##"*"}', "abc", ""),  # the quotes go before the pattern is read
        ('${X#"#"}', "##b", "##b"),  # the word "#" reads as "##" and an empty pattern
        ("${X#a\\}}", "a}b", "b"),
        ("${X/b*/-}", "abcb\nb", "a-\nb"),
        ("${X//b?/-}", "abcbdb", "a--b"),
        ("${X//*/z}", "ab", "z"),  # no second, empty match at the end (Go's rule)
        ("${X///-}", "ab", "-a-b-"),
        ("${X/#/-}", "a#b", "a-b"),  # no anchors: "#" is literal
        ("${X//b/<\\$0>}", "abc", "a<\\b>c"),  # Go's template: $0 is the match
        ("${X/b/<\\$0>}", "abc", "a<\\$0>c"),  # one replacement: as written
        ("${X//b*/\\$$}", "ab", "a\\$"),
        ("${X%🚀*}", "🖖🚀👽🚀x", "🖖🚀👽"),
    ],
)
def test_patterns(text: str, value: str, expected: str) -> None:
    assert word(text, {"X": value}) == expected


def test_a_hostile_pattern_stays_fast() -> None:
    hostile = "${X#*a*a*a*a*a*a*a*a*a*a*b}"
    start = time.monotonic()
    assert word(hostile, {"X": "a" * 2000}) == "a" * 2000
    assert word("${X//*a*a*a*a*b/z}", {"X": "a" * 2000}) == "a" * 2000
    with pytest.raises(ExpansionError, match="too costly"):
        word(hostile, {"X": "a" * 200_000})
    assert time.monotonic() - start < 5


def test_patterns_are_bounded() -> None:
    with pytest.raises(ExpansionError, match="longer than"):
        word("${X#" + "?" * (shell_pattern.MAX_PATTERN + 1) + "}", {"X": "a"})
    nested = "${U:-" * (MAX_NESTING + 1) + "}" * (MAX_NESTING + 1)
    with pytest.raises(ExpansionError, match="nested more than"):
        word(nested)
    assert word("${U:-" * MAX_NESTING + "x" + "}" * MAX_NESTING) == "x"


# -- heredoc content -----------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "content", "env", "expected"), HEREDOC_CONTENTS, ids=lambda v: str(v)[:40])
def test_heredoc_contents(case: str, content: str, env: dict[str, str], expected: str) -> None:
    assert expand_heredoc(content, env) == expected


def test_heredoc_content_keeps_quotes_and_expands_dollars() -> None:
    content = '{"key": "value"}\nit\'s $A ${U:-x} \\$A <<EOF\n'
    assert expand_heredoc(content, ENV) == '{"key": "value"}\nit\'s 1 x $A <<EOF\n'
    with pytest.raises(ExpansionError, match="U: is not allowed to be unset"):
        expand_heredoc("${U?}\n", ENV)


def _python_regex(toks: list[tuple[str, str]], greedy: bool) -> str:
    """The regex BuildKit builds, in Python's syntax (a backtracking engine: the reference)."""
    star = "[^\n]*" if greedy else "[^\n]*?"
    parts = {"*": star, "?": "[^\n]"}
    return "".join(parts.get(kind) or re.escape(char) for kind, char in toks)


def test_matching_agrees_with_a_backtracking_engine() -> None:
    """Leftmost-first answers, as Go's regexp (and Python's re) give them, on many small cases."""
    rng = random.Random(13)
    for _ in range(3000):
        pattern = "".join(rng.choice("ab*?\n") for _ in range(rng.randint(0, 6)))
        value = "".join(rng.choice("abb\n") for _ in range(rng.randint(0, 9)))
        toks = shell_pattern.tokens(pattern)
        greedy = rng.random() < 0.5
        budget = shell_pattern.Budget()
        anchored = re.match(_python_regex(toks, greedy), value)
        found = shell_pattern.find(toks, value, 0, greedy=greedy, anchored=True, budget=budget)
        assert found == (anchored.span() if anchored else None), (pattern, value, greedy)
        start = rng.randint(0, len(value))
        search = re.compile(_python_regex(toks, True)).search(value, start)
        found = shell_pattern.find(toks, value, start, greedy=True, anchored=False, budget=budget)
        assert found == (search.span() if search else None), (pattern, value, start)
