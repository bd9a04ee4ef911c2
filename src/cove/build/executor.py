"""Running a build plan: each stage's instructions in order, independent stages side by side.

Every instruction is a step with a cache key (``build.cache``). Metadata instructions
change the stage's config; RUN runs a command on the stage's layers, COPY and ADD write a
layer; each step's outcome (its history entry and layer) is recorded under its key, so a
rebuild with nothing changed reuses every step and yields the very same image.
``run_step`` and ``copy_step`` prepare the layer steps; this module keys, looks up, makes
and records them.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cove.build.backend import BaseImage, BuildBackend, Layer, RunFailed
from cove.build.cache import step_key
from cove.build.cachestore import CachedStep
from cove.build.context import Context
from cove.build.copy_step import prepare_copy
from cove.build.dockerfile import DockerfileError, parse_syntax
from cove.build.instructions import LAYER_INSTRUCTIONS, Add, Copy, Instruction, Run, parse_instructions
from cove.build.metadata import StageState, apply
from cove.build.run_step import prepare_run
from cove.build.stages import BuildPlan, Stage
from cove.build.steps import BuildOptions, StageWork, digest_of
from cove.errors import CoveError
from cove.oci.digest import chain_ids
from cove.oci.timestamps import format_rfc3339

__all__ = ["BuildEvent", "BuildOptions", "BuiltImage", "Executor", "Report"]


@dataclass(frozen=True)
class BuildEvent:
    step: int  # the step's number in the progress output (#N)
    name: str  # "[stage 2/5] RUN make"
    kind: str  # start, cached, note, output, done, error
    text: str = ""
    elapsed: float = 0.0


Report = Callable[[BuildEvent], None]


@dataclass
class StageResult:
    image: BaseImage  # config and layers at the end of the stage
    key: str  # the cache key of its last step


@dataclass(frozen=True)
class BuiltImage:
    config: dict[str, Any]
    layers: tuple[Layer, ...]
    cached_steps: int
    steps: int


def _now() -> str:
    return format_rfc3339(time.time())


def empty_config(platform: str) -> dict[str, Any]:
    os_name, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    config: dict[str, Any] = {"architecture": arch, "os": os_name}
    if variant:
        config["variant"] = variant
    config.update({"config": {}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []})
    return config


class Executor:
    def __init__(
        self,
        backend: BuildBackend,
        plan: BuildPlan,
        context: Context,
        options: BuildOptions,
        *,
        escape: str = "\\",
        report: Report | None = None,
        first_step: int = 1,
    ) -> None:
        self.backend = backend
        self.plan = plan
        self.context = context
        self.options = options
        self.escape = escape
        self.report: Report = report or (lambda event: None)
        self.results: dict[int, Future[StageResult]] = {}
        self.failed = threading.Event()
        self.cached_steps = 0
        self.steps = 0
        self._lock = threading.Lock()
        self._numbers: dict[tuple[int, int], int] = {}  # (stage, instruction index or -1) -> #N
        number = first_step
        for index in plan.needed:
            stage = plan.stages[index]
            self._numbers[(index, -1)] = number
            number += 1
            for i, x in enumerate(stage.instructions):
                if isinstance(x, LAYER_INSTRUCTIONS):
                    self._numbers[(index, i)] = number
                    number += 1
        self.next_step = number  # for what the caller reports after the build

    # -- the plan ------------------------------------------------------------------------

    def build(self) -> BuiltImage:
        needed = self.plan.needed
        with ThreadPoolExecutor(max_workers=max(1, len(needed)), thread_name_prefix="stage") as pool:
            for index in needed:  # each after what it needs, so waiting never deadlocks
                self.results[index] = pool.submit(self._run_stage, index)
            errors: list[BaseException] = []
            for index in needed:
                try:
                    self.results[index].result()
                except BaseException as exc:
                    self.failed.set()
                    errors.append(exc)
            if errors:
                # The first real failure, not the "stopped because another stage failed" ones.
                raise next((e for e in errors if not isinstance(e, _Stopped)), errors[0])
        final = self.results[self.plan.target].result()
        config = copy.deepcopy(final.image.config)
        if self.options.labels:
            labels = dict(config["config"].get("Labels") or {})
            labels.update(self.options.labels)
            config["config"]["Labels"] = labels
        return BuiltImage(config, final.image.layers, self.cached_steps, self.steps)

    def _stage_result(self, index: int) -> StageResult:
        return self.results[index].result()

    # -- one stage -----------------------------------------------------------------------

    def _run_stage(self, index: int) -> StageResult:
        stage = self.plan.stages[index]
        for dep in stage.depends_on:
            if dep >= 0:
                try:
                    self._stage_result(dep)
                except BaseException:
                    raise _Stopped() from None
        platform = stage.platform or self.options.platform
        label = stage.name or f"stage-{index}"
        layer_steps = 1 + sum(1 for x in stage.instructions if isinstance(x, LAYER_INSTRUCTIONS))
        number = self._numbers[(index, -1)]
        name = f"[{label} 1/{layer_steps}] FROM {self._from_text(stage)}"
        started = time.monotonic()
        self.report(BuildEvent(number, name, "start"))
        try:
            base, key = self._base(stage, platform)
        except CoveError as exc:
            self.report(BuildEvent(number, name, "error", exc.message))
            raise DockerfileError(stage.line, exc.message, hint=exc.hint, end_line=stage.end_line) from None
        self.report(BuildEvent(number, name, "done", elapsed=time.monotonic() - started))
        config = copy.deepcopy(base.config)
        config.setdefault("config", {})
        work = StageWork(
            stage=stage,
            label=label,
            config=config,
            meta=StageState.from_base(config["config"]),
            layers=list(base.layers),
            history=list(config.get("history") or []),
            key=key,
            platform=platform,
        )
        triggers = [t for t in work.meta.config.pop("OnBuild", None) or []]
        instructions = [*self._triggers(triggers, stage), *stage.instructions]
        position = 1
        for i, x in enumerate(instructions):
            if self.failed.is_set():
                raise _Stopped()
            own = i - len(triggers)
            if isinstance(x, LAYER_INSTRUCTIONS) and own >= 0:
                position += 1
                step_name = f"[{label} {position}/{layer_steps}] {self._shown(x)}"
                self._layer_step(work, x, self._numbers[(index, own)], step_name)
            elif isinstance(x, LAYER_INSTRUCTIONS):
                self._layer_step(
                    work, x, self._numbers[(index, -1)], f"[{label} 1/{layer_steps}] ONBUILD {x.original}"
                )
            else:
                self._metadata_step(work, x)
        config = work.config
        config["config"] = work.meta.config
        config["rootfs"] = {"type": "layers", "diff_ids": [str(layer.diff_id) for layer in work.layers]}
        config["history"] = work.history
        created = next((h.get("created") for h in reversed(work.history) if h.get("created")), None)
        config["created"] = created or _now()
        if work.meta.author:
            config["author"] = work.meta.author
        return StageResult(BaseImage(base.id, config, tuple(work.layers)), work.key)

    @staticmethod
    def _from_text(stage: Stage) -> str:
        if stage.base.startswith("stage:"):
            return f"stage {stage.base[6:]}"
        return stage.base

    @staticmethod
    def _shown(x: Instruction) -> str:
        text = " ".join(x.original.split())
        return text if len(text) <= 200 else text[:197] + "..."

    def _triggers(self, triggers: list[str], stage: Stage) -> list[Instruction]:
        """The base image's ONBUILD triggers, as instructions of this stage (at its FROM line)."""
        if not triggers:
            return []
        try:
            found = parse_instructions(parse_syntax("\n".join(triggers) + "\n"))
        except DockerfileError as exc:
            raise DockerfileError(
                stage.line,
                f"the base image's ONBUILD trigger is invalid: {exc.message}",
                end_line=stage.end_line,
            ) from None
        for x in found:
            if x.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                raise DockerfileError(
                    stage.line,
                    f"the base image's ONBUILD trigger is invalid: {x.keyword} isn't allowed as an "
                    "ONBUILD trigger",
                    end_line=stage.end_line,
                )
        return [dataclasses.replace(x, line=stage.line, end_line=stage.end_line) for x in found]

    def _base(self, stage: Stage, platform: str) -> tuple[BaseImage, str]:
        if stage.base == "scratch":
            return BaseImage("", empty_config(platform), ()), f"scratch:{platform}"
        if stage.base.startswith("stage:"):
            result = self._stage_result(int(stage.base[6:]))
            return result.image, result.key
        image = self.backend.base_image(stage.base, platform, self.options.pull)
        return image, image.id

    # -- metadata ------------------------------------------------------------------------

    def _metadata_step(self, work: StageWork, x: Instruction) -> None:
        text = apply(
            work.meta,
            x,
            escape=self.escape,
            build_args=self.options.build_args,
            global_args=self.plan.global_args,
        )
        if x.keyword == "SHELL":
            work.meta.config["Shell"] = list(work.meta.shell)
        inputs = digest_of([work.meta.config, work.meta.shell, work.meta.args, work.meta.author])
        key = step_key(work.key, x.keyword, text, platform=work.platform, sources=inputs)
        cached = None if self.options.no_cache else self.backend.cache.get(key)
        if cached is not None:
            entry = cached.history
        else:
            entry = {"created": _now(), "created_by": text, "empty_layer": True}
            if not work.changed_setting and self.backend.cache.siblings(work.key, x.keyword + " " + text):
                work.changed_setting = text  # built before, with other values (a build arg...)
            self._record(key, work.key, x.keyword + " " + text, inputs, entry, None, work.layers)
        work.history.append(entry)
        work.key = key

    # -- RUN, COPY, ADD --------------------------------------------------------------------

    def _layer_step(self, work: StageWork, x: Run | Copy | Add, number: int, name: str) -> None:
        started = time.monotonic()
        with self._lock:
            self.steps += 1
        self.report(BuildEvent(number, name, "start"))
        try:
            with ExitStack() as cleanup:
                if isinstance(x, Run):
                    prepared = prepare_run(self, work, x, cleanup)
                else:
                    prepared = prepare_copy(self, work, x, cleanup)
                key = step_key(
                    work.key,
                    x.keyword,
                    prepared.arguments,
                    flags=prepared.flags,
                    platform=work.platform,
                    build_args=prepared.build_args,
                    sources=prepared.inputs,
                )
                step_id = digest_of([x.keyword, prepared.arguments, prepared.flags, work.platform])
                cached, reason = self._lookup(work, key, step_id, x.keyword)
                if cached is not None:
                    self._use(work, cached, key)
                    with self._lock:
                        self.cached_steps += 1
                    self.report(BuildEvent(number, name, "cached"))
                    return
                self.report(BuildEvent(number, name, "note", f"cache miss: {reason}"))
                work.rebuilt = True
                layer = prepared.make(
                    lambda line: self.report(
                        BuildEvent(number, name, "output", line, time.monotonic() - started)
                    )
                )
            entry: dict[str, Any] = {"created": _now(), "created_by": prepared.history}
            if layer is None:
                entry["empty_layer"] = True
            self._record(key, work.key, step_id, prepared.inputs_shown, entry, layer, work.layers)
            work.history.append(entry)
            if layer is not None:
                work.layers.append(layer)
            work.key = key
        except RunFailed as exc:
            self.report(BuildEvent(number, name, "error", exc.message, time.monotonic() - started))
            raise DockerfileError(x.line, f"{self._shown(x)}: {exc.message}", end_line=x.end_line) from None
        except DockerfileError as exc:
            self.report(BuildEvent(number, name, "error", exc.message, time.monotonic() - started))
            raise
        except CoveError as exc:
            self.report(BuildEvent(number, name, "error", exc.message, time.monotonic() - started))
            raise DockerfileError(x.line, exc.message, hint=exc.hint, end_line=x.end_line) from None
        self.report(BuildEvent(number, name, "done", elapsed=time.monotonic() - started))

    def _lookup(self, work: StageWork, key: str, step_id: str, keyword: str) -> tuple[CachedStep | None, str]:
        """The cached result of a step, or None and why there is none."""
        if self.options.no_cache:
            return None, "--no-cache"
        cached = self.backend.cache.get(key)
        if cached is not None:
            layers = [*work.layers, *self._layer_of(cached)]
            if self.backend.layers_present(layers):
                return cached, ""
            return None, "its cached result was removed"
        if work.rebuilt:
            return None, "an earlier step was rebuilt"
        if work.changed_setting:
            return None, f"a setting before it changed ({work.changed_setting})"
        if self.backend.cache.siblings(work.key, step_id):
            if keyword == "RUN":
                return None, "the build args or mounted files it uses changed"
            return None, "the files it copies changed"
        return None, "not built before"

    @staticmethod
    def _layer_of(cached: CachedStep) -> list[Layer]:
        if cached.layer is None or cached.diff_id is None:
            return []
        return [Layer(cached.layer, cached.diff_id)]

    def _use(self, work: StageWork, cached: CachedStep, key: str) -> None:
        work.history.append(cached.history)
        work.layers.extend(self._layer_of(cached))
        work.key = key
        self.backend.cache.touch([key])

    def _record(
        self,
        key: str,
        parent: str,
        step: str,
        inputs: str,
        entry: dict[str, Any],
        layer: Layer | None,
        layers: list[Layer],
    ) -> None:
        chain = None
        if layer is not None:
            chain = str(chain_ids([*(lay.diff_id for lay in layers), layer.diff_id])[-1])
        now = time.time()
        self.backend.cache.put(
            CachedStep(
                key=key,
                parent=parent,
                step=step,
                inputs=inputs,
                history=entry,
                layer=layer.descriptor if layer else None,
                diff_id=layer.diff_id if layer else None,
                chain_id=chain,
                size=layer.descriptor.size if layer else 0,
                created=now,
                last_used=now,
            )
        )

    # -- RUN -------------------------------------------------------------------------------

    def files_of(self, work: StageWork, x: Instruction, origin: str, cleanup: ExitStack) -> tuple[Path, str]:
        """The files of a stage (by name or index) or an image, and what identifies them."""
        layers, identity = self._origin(work, origin)
        root = cleanup.enter_context(self.backend.rootfs(layers))
        return root, identity

    def origin_identity(self, work: StageWork, origin: str) -> str:
        """What identifies a stage's or an image's files, without mounting them."""
        return self._origin(work, origin)[1]

    def _origin(self, work: StageWork, origin: str) -> tuple[tuple[Layer, ...], str]:
        index = self._stage_index(origin)
        if index is not None:
            result = self._stage_result(index)
            return result.image.layers, result.key
        image = self.backend.base_image(origin, work.platform, self.options.pull)
        return image.layers, image.id

    def _stage_index(self, origin: str) -> int | None:
        for stage in self.plan.stages:
            if stage.name == origin.lower():
                return stage.index
        if origin.isdigit() and int(origin) < len(self.plan.stages):
            return int(origin)
        return None

    # -- COPY and ADD ----------------------------------------------------------------------


class _Stopped(CoveError):
    """A stage gave up because another one failed."""

    def __init__(self) -> None:
        super().__init__("stopped: another stage failed")
