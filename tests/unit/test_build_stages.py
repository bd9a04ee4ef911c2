"""Build stages: global ARGs, FROM expansion, stage references and what a target needs."""

from __future__ import annotations

import pytest

from cove.build.dockerfile import DockerfileError, parse_syntax
from cove.build.instructions import parse_instructions
from cove.build.stages import BuildPlan, plan
from cove.oci.platform import Platform

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")

MULTI = """\
ARG BASE=busybox
ARG TAG
FROM ${BASE}:${TAG:-latest} AS deps
RUN echo deps
FROM deps AS build
ARG BASE
COPY --from=deps /a /b
FROM --platform=$BUILDPLATFORM busybox AS tools
FROM scratch AS docs
FROM busybox AS final
COPY --from=build /b /c
RUN --mount=type=cache,target=/x --mount=type=bind,from=tools,target=/t true
COPY --from=alpine:3 /etc/os-release /
"""


def make(text: str, args: dict[str, str] | None = None, target: str | None = None) -> BuildPlan:
    return plan(
        parse_instructions(parse_syntax(text)),
        args or {},
        target=target,
        target_platform=ARM64,
        build_platform=AMD64,
    )


def test_stages_and_what_the_target_needs() -> None:
    p = make(MULTI, {"TAG": "1.36"})
    assert [(s.name, s.base) for s in p.stages] == [
        ("deps", "busybox:1.36"), ("build", "stage:0"), ("tools", "busybox"), ("docs", "scratch"),
        ("final", "busybox"),
    ]  # fmt: skip
    assert p.stages[2].platform == "linux/amd64"  # $BUILDPLATFORM
    assert p.target == 4
    assert p.needed == [0, 1, 2, 4]  # docs is not needed: skipped
    assert p.global_args == {"BASE": "busybox", "TAG": "1.36"}
    assert make(MULTI, target="build").needed == [0, 1]
    assert make(MULTI).stages[0].base == "busybox:latest"
    assert make(MULTI, {"BASE": "debian"}).stages[0].base == "debian:latest"


def test_unused_build_args_are_reported() -> None:
    p = make(MULTI, {"NOPE": "1", "HTTP_PROXY": "http://p", "TAG": "x"})
    assert p.unused_build_args == ["NOPE"]


@pytest.mark.parametrize(
    ("text", "args", "target", "error"),
    [
        (MULTI, {}, "missing", "target stage 'missing' could not be found"),
        ("FROM a AS x\nFROM b AS X\n", {}, None, "line 2: duplicate stage name 'x'"),
        ("FROM a AS 1x\n", {}, None, "line 1: invalid name for build stage: '1x'"),
        ("ARG IMG\nFROM $IMG\n", {}, None, "line 2: FROM names no image"),
        (
            "FROM a\nCOPY --from=1 /a /b\n",
            {},
            None,
            "line 2: --from=1 names a stage that does not come before",
        ),
        ("ARG V\nFROM ${V:?required}\n", {}, None, "line 2: V: required"),
    ],
)
def test_errors(text: str, args: dict[str, str], target: str | None, error: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        make(text, args, target)
    assert caught.value.message.startswith(error), caught.value.message


def test_a_later_stage_name_is_an_image() -> None:
    p = make("FROM later AS first\nFROM busybox AS later\n")
    assert p.stages[0].base == "later" and p.stages[0].depends_on == set()


def test_a_copy_from_may_name_a_later_stage() -> None:
    """As BuildKit resolves --from once every stage is known: `a` needs `b`, built first."""
    text = "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\n"
    p = make(text, target="a")
    assert p.stages[0].depends_on == {1} and p.needed == [1, 0]
    mounted = make("FROM scratch AS a\nRUN --mount=from=b,target=/m true\nFROM scratch AS b\n", target="a")
    assert mounted.stages[0].depends_on == {1}


@pytest.mark.parametrize(
    ("text", "stage", "loop"),
    [
        ("FROM busybox AS stage0\nCOPY --from=stage0 f1 /sub/\n", "stage0", "stage0 -> stage0"),
        (
            "FROM busybox AS stage0\nCOPY --from=stage2 f1 /sub/\nFROM busybox AS stage1\n"
            "COPY --from=stage0 f2 /sub/\nFROM busybox AS stage2\nCOPY --from=stage1 f2 /sub/\n",
            "stage0",
            "stage0 -> stage2 -> stage1 -> stage0",
        ),
        ("FROM scratch AS a\nRUN --mount=from=a,target=/m true\n", "a", "a -> a"),
        # (a loop among stages the target does not need is refused too, as BuildKit does)
        (
            "FROM scratch AS x\nCOPY --from=y / /\nFROM scratch AS y\nCOPY --from=x / /\nFROM scratch\n",
            "x",
            "x -> y -> x",
        ),
    ],
)
def test_stages_that_need_each_other_are_refused(text: str, stage: str, loop: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        make(text)
    assert caught.value.message == f"line 1: circular dependency detected on stage: {stage}"
    assert caught.value.hint == f"the stages need each other: {loop}"
