"""Metadata instructions with Docker's semantics, from the examples in Docker's reference."""

from __future__ import annotations

from typing import Any

import pytest

from cove.build.dockerfile import DockerfileError, parse_syntax
from cove.build.instructions import parse_instructions
from cove.build.metadata import StageState, apply


def build(
    text: str, base: dict[str, Any] | None = None, build_args: dict[str, str] | None = None
) -> StageState:
    state = StageState.from_base(base or {})
    for x in parse_instructions(parse_syntax("FROM scratch\n" + text))[1:]:
        apply(state, x, build_args=build_args or {}, global_args={"GLOBAL": "g"})
    return state


def test_env_pairs_see_the_environment_before_them() -> None:
    state = build("ENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\nENV OLD legacy form\n")
    assert state.config["Env"] == ["abc=bye", "def=hello", "ghi=bye", "OLD=legacy form"]


def test_env_wins_over_arg_and_arg_defaults() -> None:
    text = (
        "ARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nARG LATE=$CONT_IMG_VER-x\nUSER $LATE\n"
    )
    assert build(text).config["Env"] == ["CONT_IMG_VER=v1.0.0"]
    assert build(text).config["User"] == "v1.0.0-x"
    given = build(text, build_args={"CONT_IMG_VER": "v2"})
    assert given.config["Env"] == ["CONT_IMG_VER=v2"] and given.args["CONT_IMG_VER"] == "v2"
    assert build("ARG GLOBAL\nLABEL g=$GLOBAL\n").config["Labels"] == {"g": "g"}  # re-declared
    assert build("LABEL g=$GLOBAL\n").config["Labels"] == {"g": ""}  # not re-declared: unseen


def test_cmd_entrypoint_and_shell() -> None:
    inherited = {"Cmd": ["sh"], "Entrypoint": None}
    state = build('ENTRYPOINT ["/app"]\n', base=inherited)
    assert state.config["Entrypoint"] == ["/app"] and state.config["Cmd"] is None  # inherited CMD reset
    state = build('CMD ["--help"]\nENTRYPOINT ["/app"]\n', base=inherited)
    assert state.config["Cmd"] == ["--help"]  # set in this stage: kept
    state = build('SHELL ["/bin/bash", "-ec"]\nCMD echo $HOME\n')
    assert state.config["Cmd"] == ["/bin/bash", "-ec", "echo $HOME"]  # the shell expands it, not us


def test_workdir_user_expose_volume_stopsignal_labels() -> None:
    state = build(
        "WORKDIR /a\nWORKDIR b\nWORKDIR c\nENV DIR=/srv\nWORKDIR $DIR/app\nUSER 1000:1000\n"
        'EXPOSE 80 53/udp 8000-8001\nVOLUME /data\nVOLUME ["/json", "/with space"]\nSTOPSIGNAL SIGTERM\n'
        'LABEL "com.example.vendor"="ACME" version=1.0 description="multi word"\nMAINTAINER someone\n'
        "ONBUILD RUN echo child\n"
    )
    c = state.config
    assert c["WorkingDir"] == "/srv/app"
    assert build("WORKDIR /a\nWORKDIR b\nWORKDIR c\n").config["WorkingDir"] == "/a/b/c"
    assert c["User"] == "1000:1000" and c["StopSignal"] == "SIGTERM"
    assert set(c["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert set(c["Volumes"]) == {"/data", "/with space", "/json"}
    assert c["Labels"] == {"com.example.vendor": "ACME", "version": "1.0", "description": "multi word"}
    assert c["OnBuild"] == ["RUN echo child"] and state.author == "someone"


def test_healthcheck_and_history_text() -> None:
    state = StageState.from_base({})
    [_, x] = parse_instructions(
        parse_syntax('FROM scratch\nHEALTHCHECK --interval=5s --retries=3 CMD ["true"]\n')
    )
    assert apply(state, x) == 'HEALTHCHECK --interval=5s --retries=3 CMD ["true"]'
    assert state.config["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Retries": 3}
    assert build("HEALTHCHECK NONE\n").config["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("EXPOSE 99999\n", "line 2: 'EXPOSE 99999': invalid port range"),
        ("ENV A=${B:?required}\n", "line 2: B: required"),
        ("HEALTHCHECK --interval=soon CMD true\n", "line 2: "),
    ],
)
def test_errors_name_the_line(text: str, error: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        build(text)
    assert caught.value.message.startswith(error), caught.value.message


def test_history_text_of_quoted_flags() -> None:
    state = StageState.from_base({})
    [_, x] = parse_instructions(parse_syntax('FROM scratch\nHEALTHCHECK --interval="5s" CMD true\n'))
    assert apply(state, x) == "HEALTHCHECK --interval=5s CMD true"  # (the flag once, its quotes gone)
