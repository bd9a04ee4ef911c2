"""Golden cases for the Dockerfile front end: text in, the syntax tree and the typed
instructions (or one error line) out."""

from __future__ import annotations

import pytest

from cove.build.dockerfile import DockerfileError, Heredoc, parse_syntax
from cove.build.instructions import Instruction, parse_instructions, require_stages
from cove.build.instructions.flags import written_by_name


def parse(text: str) -> list[Instruction]:
    instructions = parse_instructions(parse_syntax(text))
    require_stages(instructions)
    return instructions


def summary(text: str) -> list[tuple[object, ...]]:
    """(line, keyword, flags, the arguments as written or the exec form's, heredocs) of each node."""
    syntax = parse_syntax(text)
    return [
        (
            x.line,
            x.keyword,
            written_by_name(x.flags),
            list(node.args) if node.json else x.written_arguments(),
            list(node.heredocs),
        )
        for node, x in zip(syntax.nodes, parse_instructions(syntax), strict=True)
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
            (
                4,
                "HEALTHCHECK",
                {"interval": ["5s"], "retries": ["3"]},
                ["CMD", "true"],
                [],
            ),  # (its JSON form)
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
    parsed = parse_syntax("# syntax=docker/dockerfile:1\n# escape=\\\nFROM scratch\n")
    assert parsed.directives["syntax"] == "docker/dockerfile:1" and parsed.escape == "\\"
    # After anything else, a directive is a comment.
    late = parse_syntax("FROM scratch\n# escape=`\nRUN echo \\\n  done\n")
    assert late.escape == "\\" and summary("FROM scratch\n# escape=`\nRUN echo \\\n  done\n")[1][3] == (
        "echo   done"
    )
    assert summary("FROM scratch\r\nRUN true\r\n")[1][3] == "true"


ERRORS = [
    ("FROM scratch\nFOO bar\n", "line 2: unknown instruction: FOO"),
    ("FROM scratch\n\n\n\n\n\nCOPY onlyone\n", "line 7: COPY requires at least two arguments"),
    ("FROM scratch\nRUN <<EOF\necho\n", "line 2: unterminated heredoc EOF"),
    ("FROM scratch\nRUN --mount=type=cache --bogus=1 true\n", "line 2: unknown flag: --bogus"),
    ("FROM scratch\nSHELL /bin/bash -c\n", "line 2: SHELL requires the arguments to be in JSON form"),
    ("RUN true\n", "line 1: no build stage in current context"),
    ("ARG X\nARG Y\n", "line 2: no build stage in current context"),
    ("# escape=x\nFROM scratch\n", "line 1: invalid escape token"),
    ("# escape=\\\n# escape=`\nFROM scratch\n", "line 2: only one escape parser directive"),
    ("# just a comment\n\n", "file with no instructions"),
    ("FROM a b\n", "line 1: FROM requires either one or three arguments"),
    ("FROM scratch\nUSER\n", "line 2: USER requires exactly one argument"),
    ("FROM scratch\nONBUILD FROM x\n", "line 2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM scratch\nHEALTHCHECK NONE x\n", "line 2: HEALTHCHECK NONE takes no arguments"),
    ("FROM scratch\nLABEL justakey\n", "line 2: LABEL must have two arguments"),
    ("FROM scratch\nENV KEY\n", "line 2: ENV must have two arguments"),
    ("FROM scratch\nWORKDIR\n", "line 2: WORKDIR requires exactly one argument"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse(text)
    assert caught.value.message.startswith(message), caught.value.message
