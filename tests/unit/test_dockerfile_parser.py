"""Golden cases for the Dockerfile parser: text in, instructions (or one error line) out."""

from __future__ import annotations

import pytest

from cove.build.dockerfile import DockerfileError, Heredoc, parse


def summary(text: str) -> list[tuple[object, ...]]:
    """(line, keyword, flags, rest or exec args, heredocs) of each instruction."""
    return [
        (x.line, x.keyword, x.flags, x.json_args if x.json_args is not None else x.rest, x.heredocs)
        for x in parse(text).instructions
    ]


GOLDEN: list[tuple[str, str, list[tuple[object, ...]]]] = [
    (
        "forms and case",
        'from busybox AS base\nrun echo "a  b"\nCmd ["sh", "-c", "echo hi"]\nentrypoint [not json\n',
        [
            (1, "FROM", {}, "busybox AS base", []),
            (2, "RUN", {}, 'echo "a  b"', []),
            (3, "CMD", {}, ["sh", "-c", "echo hi"], []),
            (4, "ENTRYPOINT", {}, "[not json", []),  # not JSON: the shell form, as BuildKit does
        ],
    ),
    (
        "continuations across comments and empty lines (joined as written, BuildKit's rule)",
        "FROM scratch\nRUN apt-get update && \\\n# a comment inside\n    apt-get install -y \\\n\n    curl\n",
        [
            (1, "FROM", {}, "scratch", []),
            (2, "RUN", {}, "apt-get update &&     apt-get install -y     curl", []),
        ],
    ),
    (
        "escape directive",
        "# escape=`\nFROM scratch\nRUN dir c:\\ `\n  /b\n",
        [(2, "FROM", {}, "scratch", []), (3, "RUN", {}, "dir c:\\   /b", [])],
    ),
    (
        "flags",
        "FROM --platform=linux/amd64 alpine AS build\n"
        "RUN --mount=type=cache,target=/root/.cache --network=none make\n"
        "COPY --from=build --chown=1:1 --link /out /out\n"
        'HEALTHCHECK --interval=5s --retries=3 CMD ["true"]\n',
        [
            (1, "FROM", {"platform": ["linux/amd64"]}, "alpine AS build", []),
            (2, "RUN", {"mount": ["type=cache,target=/root/.cache"], "network": ["none"]}, "make", []),
            (3, "COPY", {"from": ["build"], "chown": ["1:1"], "link": ["true"]}, "/out /out", []),
            (4, "HEALTHCHECK", {"interval": ["5s"], "retries": ["3"]}, 'CMD ["true"]', []),
        ],
    ),
    (
        "heredocs",
        "FROM busybox\nRUN <<EOF\necho $HOME\nEOF\nCOPY <<-'END' /etc/motd\n\twelcome\n\tEND\n"
        'RUN <<A cat > /a && <<"B" cat > /b\none\nA\ntwo $X\nB\nRUN echo after\n',
        [
            (1, "FROM", {}, "busybox", []),
            (2, "RUN", {}, "<<EOF", [Heredoc("EOF", "echo $HOME\n", expand=True)]),
            (5, "COPY", {}, "<<-'END' /etc/motd", [Heredoc("END", "welcome\n", expand=False, chomp=True)]),
            (
                8,
                "RUN",
                {},
                '<<A cat > /a && <<"B" cat > /b',
                [Heredoc("A", "one\n", expand=True), Heredoc("B", "two $X\n", expand=False)],
            ),
            (13, "RUN", {}, "echo after", []),
        ],
    ),
    (
        "ARG before FROM, ONBUILD, SHELL",
        'ARG BASE=busybox\nFROM $BASE\nONBUILD RUN echo child\nSHELL ["/bin/sh", "-ec"]\n',
        [
            (1, "ARG", {}, "BASE=busybox", []),
            (2, "FROM", {}, "$BASE", []),
            (3, "ONBUILD", {}, "RUN echo child", []),
            (4, "SHELL", {}, ["/bin/sh", "-ec"], []),
        ],
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(name: str, text: str, expected: list[tuple[object, ...]]) -> None:
    assert summary(text) == expected


def test_directives() -> None:
    parsed = parse("# syntax=docker/dockerfile:1\n# escape=\\\nFROM scratch\n")
    assert parsed.syntax == "docker/dockerfile:1" and parsed.escape == "\\"
    # After anything else, a directive is a comment.
    late = parse("FROM scratch\n# escape=`\nRUN echo \\\n  done\n")
    assert late.escape == "\\" and late.instructions[1].rest == "echo   done"
    assert parse("FROM scratch\r\nRUN true\r\n").instructions[1].rest == "true"


ERRORS = [
    ("FROM scratch\nFOO bar\n", "line 2: unknown instruction: FOO"),
    ("FROM scratch\n\n\n\n\n\nCOPY onlyone\n", "line 7: COPY needs at least two arguments"),
    ("FROM scratch\nRUN <<EOF\necho\n", "line 2: unterminated heredoc EOF"),
    ("FROM scratch\nRUN --mount=type=cache --bogus=1 true\n", "line 2: unknown flag for RUN: --bogus"),
    ("FROM scratch\nSHELL /bin/bash -c\n", "line 2: SHELL needs the JSON form"),
    ("RUN true\n", "line 1: the first instruction must be FROM"),
    ("ARG X\nARG Y\n", "line 2: the first instruction must be FROM"),
    ("# escape=x\nFROM scratch\n", "line 1: invalid escape token"),
    ("# escape=\\\n# escape=`\nFROM scratch\n", "line 2: only one escape parser directive"),
    ("# just a comment\n\n", "file with no instructions"),
    ("FROM a b\n", "line 1: FROM takes an image"),
    ("FROM scratch\nUSER a b\n", "line 2: USER takes exactly one argument"),
    ("FROM scratch\nONBUILD FROM x\n", "line 2: FROM is not allowed as an ONBUILD trigger"),
    ("FROM scratch\nHEALTHCHECK NONE x\n", "line 2: HEALTHCHECK NONE takes no other arguments"),
    ("FROM scratch\nLABEL justakey\n", "line 2: LABEL must have two arguments"),
    ("FROM scratch\nENV KEY\n", "line 2: ENV must have two arguments"),
    ("FROM scratch\nWORKDIR\n", "line 2: WORKDIR needs an argument"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse(text)
    assert caught.value.message.startswith(message), caught.value.message
