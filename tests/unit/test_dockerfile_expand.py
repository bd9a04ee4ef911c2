"""Dockerfile word splitting and variable expansion, case by case against Docker's rules."""

from __future__ import annotations

import pytest

from cove.build.expand import ExpansionError, expand

ENV = {"SET": "value", "EMPTY": "", "SPACED": "a b", "HOME": "/root"}

EXPANSIONS = [
    ("$SET", "value"),
    ("${SET}", "value"),
    ("pre${SET}post", "prevaluepost"),
    ("$UNSET", ""),
    ("$SET/x", "value/x"),
    ("${UNSET:-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${UNSET-default}", "default"),
    ("${SET:-default}", "value"),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-$HOME/bin}", "/root/bin"),  # the word is expanded too
    ("'$SET'", "$SET"),
    ('"$SET"', "value"),
    ("\\$SET", "$SET"),
    ('"\\$SET"', "$SET"),
    ('"a \\"quoted\\" word"', 'a "quoted" word'),
    ("a\\ b", "a b"),
    ('"it\'s"', "it's"),
    ("'say \"hi\"'", 'say "hi"'),
    ("$", "$"),
    ("100$", "100$"),
]


@pytest.mark.parametrize(("text", "expected"), EXPANSIONS)
def test_expansion(text: str, expected: str) -> None:
    assert expand(text, ENV) == expected


def test_the_backtick_escape() -> None:
    assert expand("c:\\dir`$SET", ENV, "`") == "c:\\dir$SET"
    assert expand('"`"x`""', ENV, "`") == '"x"'


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("${UNSET:?must be set}", "UNSET: must be set"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),  # BuildKit's words
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${}", "bad substitution"),
        ("${SET:%x}", "unsupported modifier"),  # "%" is supported, ":%" is not
        ("${SET", "missing"),
        ("'open", "matching single-quote"),
        ('"open', "matching double-quote"),
    ],
)
def test_expansion_errors(text: str, error: str) -> None:
    with pytest.raises(ExpansionError, match=error):
        expand(text, ENV)
    assert expand("${EMPTY?x}", ENV) == ""  # set, though empty: fine without the colon
