"""Env files: compose-go's dotenv tests as cove's own table.

Cases from compose-spec/compose-go (Apache-2.0) dotenv/parser_test.go, dotenv/godotenv_test.go
and dotenv/godotenv_var_expansion_test.go, commit e70e961c3a3acebf0800b882f1afb3dbf1fb74a2; its
fixtures are copied under dotenv_fixtures/. Each row names the Go test it comes from; a row
with ``differs`` is where cove's answer is not compose-go's, and says why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from cove.compose.dotenv import MAX_FILE, DotenvError, parse_dotenv, read_dotenv, read_dotenv_files
from cove.errors import InvalidArgument

FIXTURES = Path(__file__).parent / "dotenv_fixtures"


@dataclass(frozen=True)
class Line:
    test: str
    text: str
    key: str
    value: str


# parseAndCompare(t, text, key, value) and the like: the key's value after parsing the text
LINES = [
    Line("TestParsing", "FOO=bar", "FOO", "bar"),
    Line("TestParsing", "FOO =bar", "FOO", "bar"),
    Line("TestParsing", "FOO= bar", "FOO", "bar"),
    Line("TestParsing", 'FOO="bar"', "FOO", "bar"),
    Line("TestParsing", "FOO='bar'", "FOO", "bar"),
    Line("TestParsing", r'FOO="escaped\"bar"', "FOO", 'escaped"bar'),
    Line("TestParsing", r'FOO="\"quoted\""', "FOO", '"quoted"'),
    Line("TestParsing", "FOO=\"'d'\"", "FOO", "'d'"),
    Line("TestParsing", "OPTION_A: 1", "OPTION_A", "1"),
    Line("TestParsing", "OPTION_A: Foo=bar", "OPTION_A", "Foo=bar"),
    Line("TestParsing", "OPTION_A=1:B", "OPTION_A", "1:B"),
    Line("TestParsing", "export OPTION_A=2", "OPTION_A", "2"),
    Line("TestParsing", r"export OPTION_B='\n'", "OPTION_B", "\\n"),
    Line("TestParsing", "export exportFoo=2", "exportFoo", "2"),
    Line("TestParsing", "exportFOO=2", "exportFOO", "2"),
    Line("TestParsing", "export_FOO =2", "export_FOO", "2"),
    Line("TestParsing", "export.FOO= 2", "export.FOO", "2"),
    Line("TestParsing", "export\tOPTION_A=2", "OPTION_A", "2"),
    Line("TestParsing", "  export OPTION_A=2", "OPTION_A", "2"),
    Line("TestParsing", "\texport OPTION_A=2", "OPTION_A", "2"),
    Line("TestParsing", 'export OPTION_A="export A"', "OPTION_A", "export A"),
    Line("TestParsing", r'FOO="bar\nbaz"', "FOO", "bar\nbaz"),
    Line("TestParsing", r"FOO=a\tb", "FOO", r"a\tb"),
    Line("TestParsing", r'FOO="a\tb"', "FOO", "a\tb"),
    Line("TestParsing", r'KEY="Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\Z\0123Z"', "KEY", "Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\ZSZ"),
    Line("TestParsing", "FOO.BAR=foobar", "FOO.BAR", "foobar"),
    Line("TestParsing", "FOO=foobar=", "FOO", "foobar="),
    Line("TestParsing", "FOO=bar ", "FOO", "bar"),
    Line("TestParsing", "FOO=bar # this is foo", "FOO", "bar"),
    Line("TestParsing", "FOO=bar #this is foo", "FOO", "bar"),
    Line("TestParsing", "FOO=bar #", "FOO", "bar"),
    Line("TestParsing", "FOO=123#not-an-inline-comment", "FOO", "123#not-an-inline-comment"),
    Line("TestParsing", 'FOO="bar#baz"', "FOO", "bar#baz"),
    Line("TestParsing", 'FOO="bar#baz"#', "FOO", "bar#baz"),
    Line("TestParsing", 'FOO="bar#baz" # comment', "FOO", "bar#baz"),
    Line("TestParsing", "FOO='bar#baz' # comment", "FOO", "bar#baz"),
    Line("TestParsing", 'FOO="bar#baz#bang" # comment', "FOO", "bar#baz#bang"),
    Line("TestParsing", 'FOO="ba#r"', "FOO", "ba#r"),
    Line("TestParsing", "FOO='ba#r'", "FOO", "ba#r"),
    Line("TestParsing", r'FOO="bar\n\ b\az"', "FOO", "bar\n\\ b\az"),
    Line("TestParsing", r'FOO="bar\\\n\ b\az"', "FOO", "bar\\\n\\ b\az"),
    Line("TestParsing", r'FOO="bar\\r\ b\az"', "FOO", "bar\\r\\ b\az"),
    Line("TestParsing", r'FOO="bar\nbaz\\"', "FOO", "bar\nbaz\\"),
    Line("TestParsing", '="value"', "", "value"),
    Line("TestParsing", " KEY =value", "KEY", "value"),
    Line("TestParsing", "   KEY=value", "KEY", "value"),
    Line("TestParsing", "\tKEY=value", "KEY", "value"),
    Line("TestParsing", r'KEY="\0123"', "KEY", "S"),
    Line("TestParsing", r'KEY="\x07"', "KEY", r"\x07"),
    Line("TestParsing", r'KEY="\u12e4"', "KEY", r"\u12e4"),
    Line("TestParsing", r'KEY="\U00101234"', "KEY", r"\U00101234"),
    Line("TestParse", "ONE=1\nTWO='2'\nTHREE = \"3\"", "ONE", "1"),
    Line("TestParse", "ONE=1\nTWO='2'\nTHREE = \"3\"", "TWO", "2"),
    Line("TestParse", "ONE=1\nTWO='2'\nTHREE = \"3\"", "THREE", "3"),
    Line("TestExpanding", "FOO=test\nBAR=$FOO", "BAR", "test"),
    Line("TestExpanding", "FOO=test\nBAR=${FOO}bar", "BAR", "testbar"),
    Line("TestExpanding", "BAR=$FOO", "BAR", ""),
    Line("TestExpanding", 'FOO=test\nBAR="quote $FOO"', "BAR", "quote test"),
    Line("TestExpanding", "BAR='quote $FOO'", "BAR", "quote $FOO"),
    Line("TestExpanding", r'FOO="foo\$BAR"', "FOO", "foo$BAR"),
    Line("TestExpanding", r'FOO="foo\${BAR}"', "FOO", "foo${BAR}"),
    Line("TestExpanding", 'FOO=test\nBAR="foo\\${FOO} ${FOO}"', "BAR", "foo${FOO} test"),
    Line(
        "TestVariableStringValueSeparator",
        'TEST_URLS="stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443"',
        "TEST_URLS",
        "stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443",
    ),
    # godotenv_var_expansion_test.go: its envMap as keys above the value
    *(
        Line(test, 'EMPTY_VAR=\nTEST_VAR="Test Value"\n' + text, "RESULT", value)
        for test, text, value in [
            ("TestExpandIfEmptyOrUnset", "RESULT=${UNSET_VAR:-Default Value}", "Default Value"),
            ("TestExpandIfEmptyOrUnset", "RESULT=${EMPTY_VAR:-Default Value}", "Default Value"),
            ("TestExpandIfEmptyOrUnset", "RESULT=${TEST_VAR:-Default Value}", "Test Value"),
            ("TestExpandIfUnset", "RESULT=${UNSET_VAR-Default Value}", "Default Value"),
            ("TestExpandIfUnset", "RESULT=${EMPTY_VAR-Default Value}", ""),
            ("TestExpandIfUnset", "RESULT=${TEST_VAR-Default Value}", "Test Value"),
            ("TestErrorIfEmptyOrUnset", "RESULT=${TEST_VAR:?Default Value}", "Test Value"),
            ("TestErrorIfUnset", "RESULT=${EMPTY_VAR?Test error}", ""),
            ("TestErrorIfUnset", "RESULT=${TEST_VAR?Default Value}", "Test Value"),
        ]
    ),
    # cove's own, from the rules of parser.go
    Line("parser.go", "A=1\r\nB=2\r\n", "B", "2"),
    Line("parser.go", "A='x\r\ny'\r\n", "A", "x\r\ny"),
    Line("parser.go", "\ufeffA=1", "A", "1"),
    Line("parser.go", "A=\nB=2", "A", ""),
    Line("parser.go", "A=  \nB=2", "A", ""),
    Line("parser.go", "A=1\nA=2", "A", "2"),
    Line("parser.go", "A=a\tb #c", "A", "a\tb"),
    Line("parser.go", "A=b\t#c", "A", "b\t#c"),
    Line("parser.go", 'A="x" B=y', "B", "y"),
    Line("parser.go", "A='$HOME \\$x'", "A", "$HOME \\$x"),
    Line("parser.go", r'A="\c\q\0\012\0777"', "A", r"\c\q\0\012\0777"),
    Line("parser.go", r'A="\0101\0102"', "A", "AB"),
    Line("parser.go", "A=$$x", "A", "$x"),
    # escapes are read in double quotes only: unquoted, "\$" is a backslash and a variable
    Line("parser.go", r"A=\$bar", "A", "\\"),
    Line("parser.go", r'A="\$bar"', "A", "$bar"),
    Line("parser.go", "A=1\nB=${A:-no}${C:-yes}", "B", "1yes"),
    Line("parser.go", "KEY\n", "KEY", "from lookup"),
    Line("parser.go", "KEY  \r\n", "KEY", "from lookup"),
    Line("parser.go", "export KEY\n", "KEY", "from lookup"),
    Line("parser.go", "a-b.c[0]=1", "a-b.c[0]", "1"),
    Line("parser.go", "0=zero", "0", "zero"),
]


def _lookup(name: str) -> str | None:
    return {"KEY": "from lookup"}.get(name)


@pytest.mark.parametrize("case", LINES, ids=[f"{c.test}:{c.text!r}" for c in LINES])
def test_lines(case: Line) -> None:
    assert parse_dotenv(case.text, lookup=_lookup)[case.key] == case.value


@dataclass(frozen=True)
class Bad:
    test: str
    text: str
    error: str  # the whole message, with the default source ".env"
    differs: str = ""


BAD = [
    Bad(
        "TestParseVariable",
        "%!(EXTRA string)=foo",
        '.env:1: unexpected character "%" in variable name "%!(EXTRA string)=foo"',
    ),
    Bad("TestParsing", "lol$wut", '.env:1: unexpected character "$" in variable name "lol$wut"'),
    *(
        Bad("TestUnterminatedQuotes", text, f".env:1: unterminated quoted value {text[4:]}")
        for text in [
            'KEY="',
            'KEY="value',
            'KEY="value\\"',
            "KEY=\"value'",
            "KEY='",
            "KEY='value",
            "KEY='value\\'",
            "KEY='value\"",
        ]
    ),
    Bad(
        "TestErrorIfEmptyOrUnset",
        "RESULT=${UNSET_VAR:?Test error}",
        ".env:1: required variable UNSET_VAR is missing a value: Test error",
        differs="compose-go's message names no file and line",
    ),
    Bad(
        "TestErrorIfEmptyOrUnset",
        "EMPTY_VAR=\nRESULT=${EMPTY_VAR:?Test error}",
        ".env:2: required variable EMPTY_VAR is missing a value: Test error",
        differs="compose-go's message names no file and line",
    ),
    Bad(
        "TestErrorIfUnset",
        "RESULT=${UNSET_VAR?Test error}",
        ".env:1: required variable UNSET_VAR is missing a value: Test error",
        differs="compose-go's message names no file and line",
    ),
    Bad("parser.go", "A=1\n\n  B C=2", ".env:3: key cannot contain a space"),
    Bad("parser.go", "A='it''s'", '.env:1: unexpected character "\'" in variable name "\'s\'"'),
    Bad("parser.go", "A=1\nB C\nD=1", ".env:2: key cannot contain a space"),
    Bad(
        "parser.go",
        "A=1\nB C",
        ".env:2: key cannot contain a space",
        differs="compose-go reads a last line without a line end as a value of the empty key ({'': 'B C'})",
    ),
    Bad(
        "parser.go",
        "A\tB=1",
        ".env:1: key cannot contain a space",
        differs="compose-go looks only for a space, and takes the key 'A<TAB>B'",
    ),
    Bad(
        "parser.go",
        'A=1\nB="open\nC=2\n\n',
        '.env:2: unterminated quoted value "open',
        differs="compose-go names the file's last line, cove the line where the value starts",
    ),
    Bad("parser.go", 'A="${"', '.env:1: invalid interpolation format "${" (write a literal $ as $$)'),
    Bad("parser.go", "A=1\nB=${", '.env:2: invalid interpolation format "${" (write a literal $ as $$)'),
    Bad("parser.go", "A='x\ny'\nB=${X?}", ".env:3: required variable X is missing a value"),
    Bad("parser.go", "A=1\nB=é€\nC=x y\nD!=1", '.env:4: unexpected character "!" in variable name "D!=1"'),
]


@pytest.mark.parametrize("case", BAD, ids=[f"{c.test}:{c.text!r}" for c in BAD])
def test_bad(case: Bad) -> None:
    with pytest.raises(DotenvError) as caught:
        parse_dotenv(case.text)
    assert str(caught.value) == case.error
    assert isinstance(caught.value, InvalidArgument)


def test_the_source_names_the_file() -> None:
    with pytest.raises(DotenvError, match=r"^app/prod\.env:2: key cannot contain a space$"):
        parse_dotenv("A=1\nB C\n", source="app/prod.env")


def test_lines_to_ignore() -> None:
    # TestLinesToIgnore
    for text in ["\n", "\r\n", "\t\t ", "# Comment", "\t # comment", "", "\ufeff", "#a\n#b\n\n"]:
        assert parse_dotenv(text) == {}, text
    assert parse_dotenv("export OPTION_B='\\n'") == {"OPTION_B": "\\n"}


def test_a_key_alone_takes_the_lookup_or_is_absent() -> None:
    # TestInheritedEnvVariableNotFound / ...WithLookup
    asked: list[str] = []

    def lookup(name: str) -> str | None:
        asked.append(name)
        return None

    assert parse_dotenv("VARIABLE_NOT_FOUND\n", lookup=lookup) == {}
    assert asked == ["VARIABLE_NOT_FOUND"]
    assert parse_dotenv("A=1\nA\n") == {"A": "1"}
    assert parse_dotenv("A=1\nA\n", lookup={"A": "2"}.get) == {"A": "2"}


def test_a_key_alone_on_the_last_line() -> None:
    # differs: compose-go reads a last line without a line end as the value of the empty key
    # ({"": "KEY"}); cove reads it as the key alone, as it reads that line with a line end
    assert parse_dotenv("A=1\nKEY", lookup=_lookup) == {"A": "1", "KEY": "from lookup"}
    assert parse_dotenv("KEY") == {}


def test_expansion_takes_the_lookup_before_the_keys_above() -> None:
    # TestExpandingEnvironmentWithLookup
    assert parse_dotenv("TEST=$ME", lookup={"ME": "YES"}.get) == {"TEST": "YES"}
    # TestSubstitutionsWithEnvFilePrecedence: the lookup wins over a key above, for expansion
    text = (FIXTURES / "substitutions.env").read_text()
    assert parse_dotenv(text, lookup={"OPTION_A": "5"}.get) == {
        "OPTION_A": "1",
        "OPTION_B": "5",
        "OPTION_C": "5",
        "OPTION_D": "5_5",
        "OPTION_E": "",
    }
    # TestSubstitutionsWithEnvFileDefaultValuePrecedence / ...WithUnsetVar...
    text = (FIXTURES / "substitutions-default.env").read_text()
    expected = {"OPTION_A": "5", "OPTION_B": "5", "OPTION_C": "5", "OPTION_D": "5_5", "OPTION_E": ""}
    assert parse_dotenv(text, lookup={"OPTION_A": "5"}.get) == expected
    expected = {"OPTION_A": "1", "OPTION_B": "1", "OPTION_C": "1", "OPTION_D": "1_1", "OPTION_E": ""}
    assert parse_dotenv(text) == expected


def test_several_files_read_as_one(tmp_path: Path) -> None:
    # TestMultipleFiles: the lookup first, then the keys read so far (this file's, then earlier files')
    base = tmp_path / "base.env"
    base.write_text('ENV_HOSTNAME=localhost\nENV_MY_URL="http://${ENV_HOSTNAME}"\n')
    override = tmp_path / "override.env"
    override.write_text('ENV_HOSTNAME=dev.my-company.com\nENV_MY_URL="http://${ENV_HOSTNAME}"\n')
    assert read_dotenv_files([base, override]) == {
        "ENV_HOSTNAME": "dev.my-company.com",
        "ENV_MY_URL": "http://dev.my-company.com",
    }
    assert read_dotenv_files([base, override], lookup={"ENV_HOSTNAME": "host.local"}.get) == {
        "ENV_HOSTNAME": "dev.my-company.com",
        "ENV_MY_URL": "http://host.local",
    }
    later = tmp_path / "later.env"
    later.write_text("FROM_BASE=${ENV_HOSTNAME}\nENV_HOSTNAME\n")
    assert read_dotenv_files([base, later]) == {
        "ENV_HOSTNAME": "localhost",
        "ENV_MY_URL": "http://localhost",
        "FROM_BASE": "localhost",
    }
    missing = tmp_path / "missing.env"
    assert read_dotenv_files([missing, base], required=False)["ENV_HOSTNAME"] == "localhost"
    with pytest.raises(DotenvError, match=r"missing\.env: env file not found$"):
        read_dotenv_files([base, missing])


def test_parse_bytes() -> None:
    # TestParseBytes
    text = "\na=b\na[1]=c\na.propertyKey=d\nárvíztűrő-TÜKÖRFÚRÓGÉP=ÁRVÍZTŰRŐ-tükörfúrógép\n"
    assert parse_dotenv(text) == {
        "a": "b",
        "a[1]": "c",
        "a.propertyKey": "d",
        "árvíztűrő-TÜKÖRFÚRÓGÉP": "ÁRVÍZTŰRŐ-tükörfúrógép",
    }


def test_many_lines() -> None:
    # TestMemoryExplosion (its memory bound is Go's; here: every line is read, in linear time)
    text = "\n".join(f"KEY{i}=VALUE{i}" for i in range(100_000))
    parsed = parse_dotenv(text)
    assert len(parsed) == 100_000
    assert parsed["KEY99999"] == "VALUE99999"


PLAIN = {
    "OPTION_A": "1",
    "OPTION_B": "2",
    "OPTION_C": "3",
    "OPTION_D": "4",
    "OPTION_E": "5",
    # godotenv's Read() drops keys that start with a digit; compose-go's GetEnvFromFile and
    # env_file reading (what Compose uses) keep them, and so does cove
    "456": "ABC",
    "OPTION_F": "",
    "OPTION_G": "",
    "OPTION_H": "my string",
}
FILES = {
    "plain.env": PLAIN,  # TestReadPlainEnv, TestLoadPlainEnv
    "utf8-bom.env": PLAIN,  # TestUTF8BOM
    "exported.env": {"OPTION_A": "2", "OPTION_B": "\\n"},  # TestLoadExportedEnv
    "equals.env": {"OPTION_A": "postgres://localhost:5432/database?sslmode=disable"},  # TestLoadEqualsEnv
    "quoted.env": {  # TestLoadQuotedEnv
        "OPTION_A": "1",
        "OPTION_B": "2",
        "OPTION_C": "",
        "OPTION_D": "\\n",
        "OPTION_E": "1",
        "OPTION_F": "2",
        "OPTION_G": "",
        "OPTION_H": "\n",
        "OPTION_I": "echo 'asd'",
        "OPTION_J": "first line\nsecond line\nthird line\nand so on",
        "OPTION_K": "Let's go!",
        "OPTION_Z": "last value",
    },
    "unquoted.env": {  # TestLoadUnquotedEnv
        "OPTION_A": "some quoted phrase",
        "OPTION_B": "first one with an unquoted phrase",
        "OPTION_C": "then another one with an unquoted phrase",
        "OPTION_D": "then another one with an unquoted phrase special è char",
        "OPTION_E": "then another one quoted phrase",
    },
    "substitutions.env": {  # TestSubstitutions
        "OPTION_A": "1",
        "OPTION_B": "1",
        "OPTION_C": "1",
        "OPTION_D": "1_1",
        "OPTION_E": "",
    },
    "special.env": {  # TestDash
        "VAR.WITH.DOTS": "dots",
        "VAR_WITH_UNDERSCORES": "underscores",
        "VAR-WITH-DASHES": "dashes",
    },
    "inherited-multi-var.env": {  # TestInheritedEnvVariableSameSize
        "foo": "bar",
        "VAR_TO_BE_LOADED_FROM_OS_ENV": "SOME_RANDOM_VALUE",
        "bar": "baz",
    },
    "inherited-single-var.env": {"VAR_TO_BE_LOADED_FROM_OS_ENV": "SOME_RANDOM_VALUE"},
    "inherited-not-found.env": {},  # TestInheritedEnvVariableNotFound
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_fixture_files(name: str) -> None:
    lookup = {"VAR_TO_BE_LOADED_FROM_OS_ENV": "SOME_RANDOM_VALUE"}.get
    parsed = read_dotenv(FIXTURES / name, lookup=lookup)
    assert parsed == FILES[name]
    assert list(parsed) == list(FILES[name])  # in file order


def test_the_bom_fixture_has_its_bom() -> None:
    assert (FIXTURES / "utf8-bom.env").read_bytes().startswith(b"\xef\xbb\xbf")


def test_error_parsing() -> None:
    # TestErrorParsing
    path = FIXTURES / "invalid1.env"
    with pytest.raises(DotenvError, match=rf"^{path}:7: key cannot contain a space$"):
        read_dotenv(path)


def test_missing_files(tmp_path: Path) -> None:
    # TestLoadFileNotFound; a service's env_file with `required: false`
    missing = tmp_path / "nope.env"
    with pytest.raises(DotenvError, match=rf"^{missing}: env file not found$"):
        read_dotenv(missing)
    assert read_dotenv(missing, required=False) == {}


def test_a_directory_is_no_env_file(tmp_path: Path) -> None:
    # TestErrorReadDirectory, TestGetEnvFromFile
    (tmp_path / ".env").mkdir()
    for required in (True, False):
        with pytest.raises(DotenvError, match="is a directory"):
            read_dotenv(tmp_path / ".env", required=required)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "env"
    os.mkfifo(fifo)
    with pytest.raises(DotenvError, match="not a regular file"):
        read_dotenv(fifo)


def test_size_and_encoding_are_checked(tmp_path: Path) -> None:
    big = tmp_path / "big.env"
    big.write_bytes(b"A=" + b"x" * MAX_FILE + b"\n")
    with pytest.raises(DotenvError, match="at most"):
        read_dotenv(big)
    latin = tmp_path / "latin.env"
    latin.write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(DotenvError, match=r"latin\.env:2: not UTF-8 text$"):
        read_dotenv(latin)
    crlf = tmp_path / "crlf.env"
    crlf.write_bytes(b"\xef\xbb\xbfA=1\r\nB='x'\r\n# c\r\nC\r\n")
    assert read_dotenv(crlf, lookup={"C": "3"}.get) == {"A": "1", "B": "x", "C": "3"}


def test_a_long_quoted_value_reads_fast() -> None:
    value = ("x" * 1000 + "\\n") * 4000
    parsed = parse_dotenv(f"A=\"{value}\"\nB='{value}'\nC=1")
    assert parsed["A"] == ("x" * 1000 + "\n") * 4000
    assert parsed["B"] == value
    assert parsed["C"] == "1"


def test_expansion_is_bounded() -> None:
    # a value refers to a long one many times, line after line
    text = 'B="' + "b" * (1 << 20) + '"\n' + "".join(f"C{i}=$B$B$B$B\n" for i in range(10))
    with pytest.raises(DotenvError, match="in all"):
        parse_dotenv(text)
