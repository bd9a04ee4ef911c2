"""cove's shell lexer against BuildKit's own tables (cove's copies: see buildkit_shell_cases.py)."""

from __future__ import annotations

import pytest

from cove.build import shell_pattern
from cove.build.expand import ExpansionError, ShellLex
from tests.unit.buildkit_shell_cases import (
    DATA,
    ENV_VAR_TEST_ENV,
    GET_ENV,
    MANDATORY_ENV_VARS,
    PATTERN_INVALID,
    PATTERN_TO_REGEX,
    PROCESS_WITH_MATCHES,
    PROCESS_WITH_MATCHES_PLATFORM,
    REVERSE_PATTERN,
    EnvVarRow,
    MatchCase,
    WordsRow,
    env_from_entries,
    env_var_rows,
    words_rows,
)

ENV_VAR_ROWS = env_var_rows((DATA / "envVarTest").read_text(encoding="utf-8"))
WORDS_ROWS = words_rows((DATA / "wordsTest").read_text(encoding="utf-8"))

# cove builds Linux images only: BuildKit runs these rows on Windows alone, where variable
# names are case-insensitive ($pwd is $PWD). Each has a "U" twin with the same source, run below.
WINDOWS_ONLY = {"he$pwd.": "he/home.", "안녕$pwd.": "안녕/home."}


def _row_id(row: EnvVarRow | WordsRow) -> str:
    return f"line{row.line}:{row.source}"


@pytest.mark.parametrize("row", [r for r in ENV_VAR_ROWS if r.platform != "W"], ids=_row_id)
def test_env_var_test(row: EnvVarRow) -> None:
    lex = ShellLex("\\")
    if row.expected == "error":
        with pytest.raises(ExpansionError):
            lex.process_word(row.source, ENV_VAR_TEST_ENV)
    else:
        assert lex.process_word(row.source, ENV_VAR_TEST_ENV).value == row.expected


def test_env_var_test_windows_rows_are_the_case_insensitive_names() -> None:
    windows = {row.source: row.expected for row in ENV_VAR_ROWS if row.platform == "W"}
    assert windows == WINDOWS_ONLY
    unix = {row.source: row.expected for row in ENV_VAR_ROWS if row.platform == "U"}
    assert set(unix) == set(windows)  # the Linux answer of each is tested
    assert len(ENV_VAR_ROWS) == 230 and sum(r.platform == "A" for r in ENV_VAR_ROWS) == 226


@pytest.mark.parametrize("row", WORDS_ROWS, ids=_row_id)
def test_words_test(row: WordsRow) -> None:
    # BuildKit's loop means to run the file a second time with RawQuotes and SkipUnsetEnv, but
    # its scanner is spent by then: only this, the first mode, is ever checked.
    lex = ShellLex("\\")
    try:
        words = lex.process_words(row.source, env_from_entries(row.env))
    except ExpansionError:
        words = ["error"]
    assert tuple(words) == row.expected


def test_the_tables_are_all_here() -> None:
    assert len(WORDS_ROWS) == 24
    assert len(PROCESS_WITH_MATCHES) == 47


@pytest.mark.parametrize("case", PROCESS_WITH_MATCHES, ids=lambda c: f"{c.input}|{sorted(c.env.items())}")
def test_process_with_matches(case: MatchCase) -> None:
    lex = ShellLex("\\")
    if case.error:
        with pytest.raises(ExpansionError):
            lex.process_word(case.input, case.env)
        return
    result = lex.process_word(case.input, case.env)
    assert (result.value, result.matched, result.unmatched) == (case.expected, case.matched, case.unmatched)


@pytest.mark.parametrize(("word", "env", "expected"), PROCESS_WITH_MATCHES_PLATFORM)
def test_process_with_matches_platform(word: str, env: dict[str, str], expected: str) -> None:
    assert ShellLex().process_word(word, env).value == expected


@pytest.mark.parametrize(("word", "entries", "expected", "error"), MANDATORY_ENV_VARS)
def test_mandatory_env_vars(word: str, entries: tuple[str, ...], expected: str | None, error: str) -> None:
    env = env_from_entries(entries)
    if expected is None:
        with pytest.raises(ExpansionError, match=error):
            ShellLex().process_word(word, env)
    else:
        assert ShellLex().process_word(word, env).value == expected


@pytest.mark.parametrize(("entries", "name", "value"), GET_ENV)
def test_get_env(entries: tuple[str, ...], name: str, value: str) -> None:
    result = ShellLex().process_word(f"${{{name}}}", env_from_entries(entries))
    assert result.value == value
    assert (name in result.matched) == bool(entries)  # "foo" alone is set, to the empty string


@pytest.mark.parametrize(("pattern", "expected"), PATTERN_TO_REGEX.items())
def test_pattern_to_regex(pattern: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert tuple(shell_pattern.tokens(pattern)) == expected


@pytest.mark.parametrize("pattern", PATTERN_INVALID)
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(shell_pattern.PatternError, match="invalid escape"):
        shell_pattern.tokens(pattern)


@pytest.mark.parametrize(("pattern", "reversed_pattern"), REVERSE_PATTERN.items())
def test_reverse_pattern(pattern: str, reversed_pattern: str) -> None:
    """cove reverses tokens, not text: either both read, the one the other backwards, or both fail."""
    try:
        forward = shell_pattern.tokens(pattern)
    except shell_pattern.PatternError:
        with pytest.raises(shell_pattern.PatternError):
            shell_pattern.tokens(reversed_pattern)
        return
    assert forward[::-1] == shell_pattern.tokens(reversed_pattern)


def test_reverse_string() -> None:
    # TestReverseString: by characters, not bytes (% reverses the value to match a suffix)
    assert ShellLex().process_word("${X%🚀}", {"X": "🖖🚀👽🚀"}).value == "🖖🚀👽"
    assert ShellLex().process_word("${X%%🚀*}", {"X": "🖖🚀👽🚀"}).value == "🖖"
