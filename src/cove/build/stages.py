"""Build stages: what each FROM starts, which stages a target needs, and the build args.

- ARGs before the first FROM are global: they (and ``--build-arg``) expand FROM lines; a
  stage sees one only after re-declaring it (``ARG NAME``).
- The platform args (TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT, BUILDPLATFORM,
  BUILDOS, BUILDARCH, BUILDVARIANT) are predefined in the global scope; the proxy args
  (HTTP_PROXY ...) may be given without being declared.
- A stage's base is ``scratch``, an earlier stage (by name or index) or an image. Its
  dependencies are that stage and every stage that ``COPY --from`` or ``RUN
  --mount=from=`` names (by name any stage of the file, a later one too, as BuildKit; by
  index an earlier one); ``--target`` builds the target and, transitively, what it needs.
  Stages that need each other are refused before anything runs: a build never waits on itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cove.build.dockerfile import DockerfileError
from cove.build.expand import ExpansionError, expand
from cove.build.instructions import Arg, Copy, From, Instruction, Run, require_stages
from cove.oci.platform import Platform

PROXY_ARGS = frozenset(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for name in (base, base.lower())
)


@dataclass
class Stage:
    index: int
    name: str | None  # the AS name, lower case
    base: str  # "scratch", an image reference, or "stage:N" for an earlier stage
    platform: str | None  # --platform, expanded
    line: int
    end_line: int
    instructions: list[Instruction] = field(default_factory=list)
    depends_on: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class BuildPlan:
    stages: list[Stage]
    target: int  # the stage whose result is the image
    needed: list[int]  # stages to build, in an order where each comes after what it needs
    global_args: dict[str, str]  # declared before the first FROM, with their values
    unused_build_args: list[str]  # given with --build-arg but declared nowhere


def platform_args(target: Platform, build: Platform) -> dict[str, str]:
    def parts(prefix: str, p: Platform) -> dict[str, str]:
        return {
            f"{prefix}PLATFORM": str(p),
            f"{prefix}OS": p.os,
            f"{prefix}ARCH": p.architecture,
            f"{prefix}VARIANT": p.variant,
        }

    return {**parts("TARGET", target), **parts("BUILD", build)}


def plan(
    instructions: Sequence[Instruction],
    build_args: Mapping[str, str],
    *,
    target: str | None = None,
    target_platform: Platform,
    build_platform: Platform,
    escape: str = "\\",
) -> BuildPlan:
    require_stages(instructions)
    predefined = platform_args(target_platform, build_platform)
    scope: dict[str, str] = dict(predefined)
    global_args: dict[str, str] = {}
    declared: set[str] = set()
    stages: list[Stage] = []
    by_name: dict[str, int] = {}
    refs: list[tuple[Stage, str, Instruction]] = []
    for instruction in instructions:
        if isinstance(instruction, Arg) and not stages:
            for arg in instruction.args:
                declared.add(arg.name)
                default = arg.default
                value = build_args.get(
                    arg.name, _expand(default, scope, escape, instruction) if default is not None else None
                )
                if value is not None:
                    scope[arg.name] = value
                    global_args[arg.name] = value
            continue
        if isinstance(instruction, From):
            stages.append(_stage(instruction, len(stages), scope, escape, by_name))
            continue
        stage = stages[-1]
        stage.instructions.append(instruction)
        if isinstance(instruction, Arg):
            declared.update(arg.name for arg in instruction.args)
        refs += [(stage, ref, instruction) for ref in _stage_refs(instruction)]
    # A --from names any stage of the file, a later one too (as BuildKit resolves it, once every
    # stage is known); a FROM only an earlier one (a later stage's name there is an image).
    for stage, ref, instruction in refs:
        stage.depends_on.add(_resolve_ref(ref, by_name, stage.index, instruction))
    _refuse_cycles(stages)
    if target is None:
        target_index = len(stages) - 1
    elif target.lower() in by_name:
        target_index = by_name[target.lower()]
    else:
        names = ", ".join(sorted(by_name)) or "none"
        raise DockerfileError(0, f"target stage {target!r} could not be found", hint=f"stages: {names}")
    needed = _needed(stages, target_index)
    unused = sorted(
        k for k in build_args if k not in declared and k not in PROXY_ARGS and k not in predefined
    )
    return BuildPlan(stages, target_index, needed, global_args, unused)


def _expand(text: str, scope: Mapping[str, str], escape: str, instruction: Instruction) -> str:
    try:
        return expand(text, scope, escape)
    except ExpansionError as exc:
        raise DockerfileError(instruction.line, exc.message, end_line=instruction.end_line) from None


def _stage(
    instruction: From, index: int, scope: Mapping[str, str], escape: str, by_name: dict[str, int]
) -> Stage:
    base = _expand(instruction.image, scope, escape, instruction)
    if not base:
        raise DockerfileError(
            instruction.line,
            f"FROM names no image: {instruction.image!r} expands to nothing",
            end_line=instruction.end_line,
        )
    name = instruction.name  # checked as written, as BuildKit does: no variables in it
    if name is not None and name in by_name:
        raise DockerfileError(
            instruction.line, f"duplicate stage name {name!r}", end_line=instruction.end_line
        )
    depends: set[int] = set()
    if base.lower() in by_name:  # an earlier stage; a later one's name would be an image
        depends.add(by_name[base.lower()])
        base = f"stage:{by_name[base.lower()]}"
    platform = instruction.platform
    stage = Stage(
        index=index,
        name=name,
        base=base,
        platform=_expand(platform, scope, escape, instruction) if platform else None,
        line=instruction.line,
        end_line=instruction.end_line,
        depends_on=depends,
    )
    if name:
        by_name[name] = index
    return stage


def _stage_refs(instruction: Instruction) -> list[str]:
    if isinstance(instruction, Copy):
        return [instruction.from_] if instruction.from_ else []
    if isinstance(instruction, Run):
        return [mount.from_ for mount in instruction.mounts if mount.from_]
    return []


def _resolve_ref(ref: str, by_name: Mapping[str, int], current: int, instruction: Instruction) -> int:
    """A --from in stage ``current``: any stage's name, an earlier stage's index, or an image (-1)."""
    if ref.lower() in by_name:
        return by_name[ref.lower()]
    if ref.isdigit():
        index = int(ref)
        if index >= current:
            raise DockerfileError(
                instruction.line,
                f"--from={ref} names a stage that does not come before",
                end_line=instruction.end_line,
            )
        return index
    return -1  # an image, pulled like a base


def _refuse_cycles(stages: list[Stage]) -> None:
    """A stage that needs itself, directly or through others, could only wait on itself: refuse
    it, naming the first such stage in the file and the loop (BuildKit's "circular dependency
    detected on stage")."""
    for stage in stages:
        loop = _path_back(stages, stage.index)
        if loop is not None:
            shown = " -> ".join(_label(stages[i]) for i in [stage.index, *loop])
            raise DockerfileError(
                stage.line,
                f"circular dependency detected on stage: {_label(stage)}",
                hint=f"the stages need each other: {shown}",
                end_line=stage.end_line,
            )


def _path_back(stages: list[Stage], start: int) -> list[int] | None:
    """The stages from ``start`` back to itself along what each needs, or None (breadth first,
    iterative: a file may have many stages)."""
    came_from: dict[int, int] = {}
    frontier = [start]
    while frontier:
        following = []
        for index in frontier:
            for dep in sorted(stages[index].depends_on):
                if dep < 0:
                    continue
                if dep == start:  # back: the way here, after start, then start again
                    way = [index]
                    while way[-1] != start:
                        way.append(came_from[way[-1]])
                    return [*way[::-1][1:], start]
                if dep not in came_from:
                    came_from[dep] = index
                    following.append(dep)
        frontier = following
    return None


def _label(stage: Stage) -> str:
    return stage.name or str(stage.index)


def _needed(stages: list[Stage], target: int) -> list[int]:
    order: list[int] = []
    seen: set[int] = set()

    def visit(index: int) -> None:
        if index in seen or index < 0:
            return
        seen.add(index)
        for dep in sorted(stages[index].depends_on):
            visit(dep)
        order.append(index)

    visit(target)
    return order
