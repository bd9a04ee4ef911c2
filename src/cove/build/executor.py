"""Running a build plan: each stage's instructions in order, independent stages side by side.

Every instruction is a step with a cache key (``build.cache``). Metadata instructions
change the stage's config; RUN runs a command on the stage's layers, COPY and ADD write a
layer; each step's outcome (its history entry and layer) is recorded under its key, so a
rebuild with nothing changed reuses every step and yields the very same image.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import posixpath
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove.build import copy as copying
from cove.build.backend import BaseImage, BuildBackend, Layer, RunFailed, RunMount, RunRequest
from cove.build.cache import step_key
from cove.build.cachestore import CachedStep
from cove.build.context import Context
from cove.build.dockerfile import DockerfileError, Instruction, parse
from cove.build.dockerignore import Matcher
from cove.build.dockerignore import parse as parse_ignore
from cove.build.expand import ExpansionError, expand, split_words
from cove.build.metadata import StageState, apply
from cove.build.stages import PROXY_ARGS, BuildPlan, Stage
from cove.errors import CoveError
from cove.oci.digest import chain_ids
from cove.oci.timestamps import format_rfc3339

LAYER_STEPS = ("RUN", "COPY", "ADD")


@dataclass(frozen=True)
class BuildOptions:
    build_args: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = "default"
    secrets: Mapping[str, Path] = field(default_factory=dict)
    platform: str = "linux/amd64"  # the target platform
    build_platform: str = "linux/amd64"  # where RUN commands execute


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


@dataclass
class _Stage:
    """One stage at work: its state as the steps go by."""

    stage: Stage
    label: str
    config: dict[str, Any]
    meta: StageState
    layers: list[Layer]
    history: list[dict[str, Any]]
    key: str
    platform: str
    rebuilt: bool = False  # a step of this stage missed the cache: the later ones will too
    changed_setting: str = ""  # the first metadata step that was new (a build arg's value...)


def _now() -> str:
    return format_rfc3339(time.time())


def _digest(value: object) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


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
                if x.keyword in LAYER_STEPS:
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
        layer_steps = 1 + sum(1 for x in stage.instructions if x.keyword in LAYER_STEPS)
        number = self._numbers[(index, -1)]
        name = f"[{label} 1/{layer_steps}] FROM {self._from_text(stage)}"
        started = time.monotonic()
        self.report(BuildEvent(number, name, "start"))
        try:
            base, key = self._base(stage, platform)
        except CoveError as exc:
            self.report(BuildEvent(number, name, "error", exc.message))
            raise DockerfileError(stage.line, exc.message, hint=exc.hint) from None
        self.report(BuildEvent(number, name, "done", elapsed=time.monotonic() - started))
        config = copy.deepcopy(base.config)
        config.setdefault("config", {})
        work = _Stage(
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
        instructions = [*self._triggers(triggers, stage.line), *stage.instructions]
        position = 1
        for i, x in enumerate(instructions):
            if self.failed.is_set():
                raise _Stopped()
            own = i - len(triggers)
            if x.keyword in LAYER_STEPS and own >= 0:
                position += 1
                step_name = f"[{label} {position}/{layer_steps}] {self._shown(x)}"
                self._layer_step(work, x, self._numbers[(index, own)], step_name)
            elif x.keyword in LAYER_STEPS:
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
        text = x.original or f"{x.keyword} {x.rest}"
        text = " ".join(text.split())
        return text if len(text) <= 200 else text[:197] + "..."

    def _triggers(self, triggers: list[str], line: int) -> list[Instruction]:
        if not triggers:
            return []
        try:
            # The parser wants a FROM first: the triggers follow a stand-in one.
            return parse("FROM scratch\n" + "\n".join(triggers) + "\n").instructions[1:]
        except DockerfileError as exc:
            raise DockerfileError(
                line, f"the base image's ONBUILD trigger is invalid: {exc.message}"
            ) from None

    def _base(self, stage: Stage, platform: str) -> tuple[BaseImage, str]:
        if stage.base == "scratch":
            return BaseImage("", empty_config(platform), ()), f"scratch:{platform}"
        if stage.base.startswith("stage:"):
            result = self._stage_result(int(stage.base[6:]))
            return result.image, result.key
        image = self.backend.base_image(stage.base, platform, self.options.pull)
        return image, image.id

    # -- metadata ------------------------------------------------------------------------

    def _metadata_step(self, work: _Stage, x: Instruction) -> None:
        text = apply(
            work.meta,
            x,
            escape=self.escape,
            build_args=self.options.build_args,
            global_args=self.plan.global_args,
        )
        if x.keyword == "SHELL":
            work.meta.config["Shell"] = list(work.meta.shell)
        inputs = _digest([work.meta.config, work.meta.shell, work.meta.args, work.meta.author])
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

    def _layer_step(self, work: _Stage, x: Instruction, number: int, name: str) -> None:
        started = time.monotonic()
        with self._lock:
            self.steps += 1
        self.report(BuildEvent(number, name, "start"))
        try:
            with ExitStack() as cleanup:
                if x.keyword == "RUN":
                    prepared = self._prepare_run(work, x, cleanup)
                else:
                    prepared = self._prepare_copy(work, x, cleanup)
                key = step_key(
                    work.key,
                    x.keyword,
                    prepared.arguments,
                    flags=prepared.flags,
                    platform=work.platform,
                    build_args=prepared.build_args,
                    sources=prepared.inputs,
                )
                step_id = _digest([x.keyword, prepared.arguments, prepared.flags, work.platform])
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
            raise DockerfileError(x.line, f"{self._shown(x)}: {exc.message}") from None
        except DockerfileError as exc:
            self.report(BuildEvent(number, name, "error", exc.message, time.monotonic() - started))
            raise
        except CoveError as exc:
            self.report(BuildEvent(number, name, "error", exc.message, time.monotonic() - started))
            raise DockerfileError(x.line, exc.message, hint=exc.hint) from None
        self.report(BuildEvent(number, name, "done", elapsed=time.monotonic() - started))

    def _lookup(self, work: _Stage, key: str, step_id: str, keyword: str) -> tuple[CachedStep | None, str]:
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

    def _use(self, work: _Stage, cached: CachedStep, key: str) -> None:
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

    def _prepare_run(self, work: _Stage, x: Instruction, cleanup: ExitStack) -> _Prepared:
        build, _, _ = self.options.build_platform.partition("/")
        if _arch(work.platform) != _arch(self.options.build_platform) or not work.platform.startswith(build):
            raise DockerfileError(
                x.line,
                f"RUN needs {work.platform} binaries to run on this {self.options.build_platform} host, "
                "and cove does not emulate other platforms",
                hint="build for the host's platform, or keep RUN out of stages for other platforms",
            )
        if x.json_args is not None:
            argv = list(x.json_args)
            shown = json.dumps(argv)
        else:
            argv = work.meta.shell_form(self._script(x))
            shown = " ".join(argv)
        scope = work.meta.scope()
        env_names = {e.split("=", 1)[0] for e in work.meta.config.get("Env") or []}
        # Build args reach the command's environment (ENV of the same name wins); the proxy
        # args do too when given, without being declared and without entering the cache key.
        proxies = {k: v for k, v in self.options.build_args.items() if k in PROXY_ARGS}
        extra = {**proxies, **work.meta.args}
        env = list(work.meta.config.get("Env") or []) + [
            f"{k}={v}" for k, v in extra.items() if k not in env_names
        ]
        network = self._flag(x, "network", scope) or self.options.network
        if network not in ("default", "none", "host"):
            raise DockerfileError(x.line, f"RUN --network={network} is not one of default, none, host")
        mounts: list[RunMount] = []
        mount_inputs: list[str] = []
        for spec in x.flags.get("mount", []):
            mount, inputs = self._mount(work, x, expand(spec, scope, self.escape), cleanup)
            if mount is not None:
                mounts.append(mount)
            mount_inputs.append(inputs)
        flags = {k: [expand(v, scope, self.escape) for v in vs] for k, vs in x.flags.items()}
        request = RunRequest(
            argv=argv,
            env=env,
            user=str(work.meta.config.get("User") or ""),
            workdir=str(work.meta.config.get("WorkingDir") or "/"),
            network=network,
            mounts=mounts,
        )
        layers = list(work.layers)

        def make(output: Callable[[str], None]) -> Layer | None:
            lines = _LineSplitter(output)
            try:
                return self.backend.run(layers, request, lines.feed)
            finally:
                lines.flush()

        args_shown = " ".join(f"{k}={v}" for k, v in sorted(work.meta.args.items()))
        history = (
            f"RUN {'|' + str(len(work.meta.args)) + ' ' + args_shown + ' ' if work.meta.args else ''}{shown}"
        )
        return _Prepared(
            arguments=json.dumps(argv),
            flags=flags,
            build_args=dict(work.meta.args),
            inputs=_digest(mount_inputs) if mount_inputs else "",
            inputs_shown=_digest([work.meta.args, mount_inputs]),
            history=history,
            make=make,
        )

    def _script(self, x: Instruction) -> str:
        if not x.heredocs:
            return x.rest
        rest = x.rest.strip()
        if len(x.heredocs) == 1 and rest.lstrip("<-").strip("'\"") == x.heredocs[0].name:
            return x.heredocs[0].content  # RUN <<EOF: the heredoc is the script
        # RUN python3 <<EOF ...: the shell reads the heredocs itself
        return rest + "\n" + "".join(f"{h.content}{h.name}\n" for h in x.heredocs)

    @staticmethod
    def _flag(x: Instruction, name: str, scope: Mapping[str, str]) -> str:
        values = x.flags.get(name)
        return expand(values[-1], scope) if values else ""

    def _mount(
        self, work: _Stage, x: Instruction, spec: str, cleanup: ExitStack
    ) -> tuple[RunMount | None, str]:
        options: dict[str, str] = {}
        for part in spec.split(","):
            key, eq, value = part.partition("=")
            options[key.strip().lower()] = value.strip() if eq else "true"
        kind = options.pop("type", "bind")
        target = options.pop("target", options.pop("dst", options.pop("destination", "")))
        readonly = options.pop("readonly", options.pop("ro", "false")).lower() in ("true", "1", "")
        if kind == "secret":
            secret_id = options.get("id") or posixpath.basename(target)
            if not secret_id:
                raise DockerfileError(x.line, "RUN --mount=type=secret needs an id= or a target=")
            path = self.options.secrets.get(secret_id)
            if path is None:
                if options.get("required", "false").lower() in ("true", "1"):
                    raise DockerfileError(
                        x.line,
                        f"secret {secret_id} is required but was not given",
                        hint=f"--secret id={secret_id},src=FILE",
                    )
                return None, f"secret {secret_id} absent"
            return RunMount(
                "secret", target or f"/run/secrets/{secret_id}", str(path), True
            ), f"secret {secret_id}"
        if kind == "ssh":
            raise DockerfileError(
                x.line, "RUN --mount=type=ssh is not supported by cove", hint="use a secret mount"
            )
        if not target:
            raise DockerfileError(x.line, f"RUN --mount=type={kind} needs a target=")
        if not target.startswith("/"):
            target = posixpath.join(str(work.meta.config.get("WorkingDir") or "/"), target)
        if kind == "tmpfs":
            size = options.get("size")
            return RunMount("tmpfs", target, options=(f"size={size}",) if size else ()), f"tmpfs {target}"
        if kind == "cache":
            cache_id = options.get("id") or target
            sharing = options.get("sharing", "shared")
            if sharing not in ("shared", "private", "locked"):
                raise DockerfileError(
                    x.line, f"cache mount sharing={sharing} is not shared, private or locked"
                )
            return RunMount("cache", target, cache_id, readonly, (f"sharing={sharing}",)), f"cache {target}"
        if kind == "bind":
            source = options.get("source", options.get("src", ""))
            rw = options.get("rw", options.get("readwrite", "false")).lower() in ("true", "1")
            origin = options.get("from")
            if origin:
                root, inputs = self._from_root(work, x, origin, cleanup)
                host = _inside(root, source)
            else:
                sources = self.context.sources(source or ".")
                inputs = self.context.digest(sources)
                host = _inside(self.context.root, source)
            if rw:
                # Writes to a rw bind are thrown away after the step (BuildKit's rule): give a copy.
                scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-bind-")))
                copy_target = scratch / "src"
                _copy_any(host, copy_target)
                host = copy_target
            return RunMount("bind", target, str(host), not rw), f"bind {target} {inputs}"
        raise DockerfileError(x.line, f"unknown mount type {kind!r}: use bind, cache, tmpfs or secret")

    def _from_root(self, work: _Stage, x: Instruction, origin: str, cleanup: ExitStack) -> tuple[Path, str]:
        """The files of a stage (by name or index) or an image, and what identifies them."""
        index = self._stage_index(origin)
        if index is not None:
            result = self._stage_result(index)
            layers, identity = result.image.layers, result.key
        else:
            image = self.backend.base_image(origin, work.platform, self.options.pull)
            layers, identity = image.layers, image.id
        root = cleanup.enter_context(self.backend.rootfs(layers))
        return root, identity

    def _stage_index(self, origin: str) -> int | None:
        for stage in self.plan.stages:
            if stage.name == origin.lower():
                return stage.index
        if origin.isdigit() and int(origin) < len(self.plan.stages):
            return int(origin)
        return None

    # -- COPY and ADD ----------------------------------------------------------------------

    def _prepare_copy(self, work: _Stage, x: Instruction, cleanup: ExitStack) -> _Prepared:
        scope = work.meta.scope()
        try:
            if x.json_args is not None:
                words = [expand(w, scope, self.escape) for w in x.json_args]
            else:
                words = split_words(x.rest, scope, self.escape)
        except ExpansionError as exc:
            raise DockerfileError(x.line, exc.message) from None
        if len(words) < 2:
            raise DockerfileError(x.line, f"{x.keyword} needs at least two arguments: SOURCE... DEST")
        *raw_sources, dest = words
        flags = {k: [expand(v, scope, self.escape) for v in vs] for k, vs in x.flags.items()}
        unknown = set(flags) - {"from", "chown", "chmod", "link", "exclude", "checksum", "parents"}
        if x.keyword == "COPY":
            unknown |= set(flags) & {"checksum"}
        if unknown:
            raise DockerfileError(x.line, f"{x.keyword} does not take --{sorted(unknown)[0]}")
        options = self._copy_options(work, flags)
        workdir = str(work.meta.config.get("WorkingDir") or "/")
        origin = flags.get("from", [""])[-1]
        context = self.context
        identity = ""
        if origin:
            if x.keyword == "ADD":
                raise DockerfileError(x.line, "ADD does not take --from; use COPY --from")
            root, identity = self._from_root(work, x, origin, cleanup)
            context = Context(root, Matcher([]))
        if x.heredocs:
            context, raw_sources = self._heredoc_context(x, raw_sources, scope, cleanup)
            identity = _digest([h.content for h in x.heredocs])
        urls = [source for source in raw_sources if x.keyword == "ADD" and _is_url(source)]
        inputs: list[str] = [identity]
        if urls:
            if len(urls) != len(raw_sources):
                raise DockerfileError(
                    x.line, "ADD takes either URLs or local files, not both in one instruction"
                )
            downloads = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-add-")))
            names = []
            for url in urls:
                name, digest = self._fetch(x, url, downloads, flags.get("checksum", [""])[-1])
                names.append(name)
                inputs.append(f"{url} {digest}")
            context = Context(downloads, Matcher([]))
            sources = names
        else:
            if flags.get("checksum"):
                raise DockerfileError(x.line, "ADD --checksum is only for URL sources")
            sources = []
            for pattern in raw_sources:
                if _is_git(pattern):
                    raise DockerfileError(
                        x.line, f"ADD of a Git repository ({pattern}) is not supported by cove"
                    )
                try:
                    sources.extend(context.sources(pattern))
                except CoveError as exc:
                    raise DockerfileError(
                        x.line, exc.message.replace("COPY", x.keyword), hint=exc.hint
                    ) from None
            excludes = flags.get("exclude", [])
            if excludes:
                context, sources = _excluding(context, sources, excludes)
            if origin:
                inputs.append(_digest(sources))
            elif not x.heredocs:
                inputs.append(context.digest(sources))
        archives: list[tuple[Path, str]] = []
        if x.keyword == "ADD" and not urls:
            target = dest if dest.startswith("/") else posixpath.join(workdir, dest)
            for source in list(sources):
                path = _inside(context.root, source)
                if path.is_file() and not path.is_symlink() and copying.is_archive(path):
                    archives.append((path, posixpath.normpath(target)))
                    sources.remove(source)
        placements = copying.destinations(context, sources, dest, workdir) if sources else []
        layers = list(work.layers)

        def make(output: Callable[[str], None]) -> Layer | None:
            # Directories the image has already keep their owner and mode: only missing
            # parents are made.
            with self.backend.rootfs(layers) as base:

                def exists(path: str) -> os.stat_result | None:
                    try:
                        found = os.lstat(_inside(base, path))
                    except OSError:
                        return None
                    return found if stat.S_ISDIR(found.st_mode) else None

                return self.backend.add_layer(
                    layers,
                    lambda out, into: copying.write_layer(
                        context, placements, options, out, archives, existing=exists, mirror=into
                    ),
                    mirror=not archives,
                )

        shown_flags = " ".join(f"--{k}={v}" for k, vs in flags.items() for v in vs)
        return _Prepared(
            arguments=json.dumps(words),
            flags={**flags, "owner": [f"{options.uid}:{options.gid}"]},
            build_args={},
            inputs=_digest(inputs),
            inputs_shown=_digest(inputs),
            history=f"{x.keyword} {shown_flags + ' ' if shown_flags else ''}{' '.join(words)}",
            make=make,
        )

    def _heredoc_context(
        self, x: Instruction, raw_sources: list[str], scope: Mapping[str, str], cleanup: ExitStack
    ) -> tuple[Context, list[str]]:
        """COPY <<EOF /file: each heredoc becomes a file named after it, in a context of its own."""
        by_name = {h.name: h for h in x.heredocs}
        names = [s.lstrip("<-").strip("'\"") for s in raw_sources]
        if any(name not in by_name for name in names):
            raise DockerfileError(
                x.line, f"{x.keyword} takes either heredocs or files, not both in one instruction"
            )
        root = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-heredoc-")))
        for name in names:
            doc = by_name[name]
            text = expand(doc.content, scope, self.escape) if doc.expand else doc.content
            _write(root / name, text.encode())
        return Context(root, Matcher([])), names

    def _fetch(self, x: Instruction, url: str, directory: Path, checksum: str) -> tuple[str, str]:
        """Download ``url`` into ``directory``; (the file's name, its content digest)."""
        part = directory / ".download"
        name, mtime = self.backend.download(url, part)
        digest = _file_digest(part)
        if checksum and digest != (checksum if ":" in checksum else "sha256:" + checksum):
            part.unlink()
            raise DockerfileError(
                x.line, f"ADD {url}: the content's digest is {digest}, not {checksum} (--checksum)"
            )
        final = directory / name
        part.rename(final)
        os.chmod(final, 0o600)  # Docker gives downloaded files mode 600
        if mtime is not None:
            os.utime(final, (mtime, mtime))
        return name, digest

    def _copy_options(self, work: _Stage, flags: Mapping[str, list[str]]) -> copying.CopyOptions:
        mode = None
        if flags.get("chmod"):
            mode = copying.parse_chmod(flags["chmod"][-1])
        uid = gid = 0
        if flags.get("chown"):
            text = flags["chown"][-1]
            numeric = copying.parse_numeric_chown(text)
            if numeric is not None:
                uid, gid = numeric
            else:
                uid, gid = self.backend.owner(work.layers, text)
                if ":" not in text:
                    gid = uid  # a user without a group: the same number as its GID (Docker's rule)
        return copying.CopyOptions(uid, gid, mode)


@dataclass
class _Prepared:
    arguments: str
    flags: dict[str, list[str]]
    build_args: dict[str, str]
    inputs: str
    inputs_shown: str
    history: str
    make: Callable[[Callable[[str], None]], Layer | None]


class _Stopped(CoveError):
    """A stage gave up because another one failed."""

    def __init__(self) -> None:
        super().__init__("stopped: another stage failed")


class _LineSplitter:
    """Turns a command's output chunks into lines for the progress display."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        self.sink = sink
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            self.sink(line.rstrip(b"\r").decode(errors="replace"))

    def flush(self) -> None:
        if self.pending:
            self.sink(self.pending.decode(errors="replace"))
            self.pending = b""


def _arch(platform: str) -> str:
    parts = platform.split("/")
    return parts[1] if len(parts) > 1 else ""


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _inside(root: Path, path: str) -> Path:
    cleaned = posixpath.normpath("/" + path).lstrip("/")
    return root / cleaned if cleaned else root


def _copy_any(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _excluding(context: Context, sources: list[str], patterns: list[str]) -> tuple[Context, list[str]]:
    """COPY --exclude: patterns are relative to each source (a directory's contents, or a
    file's own name), with .dockerignore's syntax."""
    kept = []
    extra = []
    for source in sources:
        path = _inside(context.root, source)
        if path.is_dir() and not path.is_symlink():
            kept.append(source)
            extra += [f"{source}/{p}" if source else p for p in patterns]
        elif not Matcher(parse_ignore(patterns)).excluded(posixpath.basename(source)):
            kept.append(source)
    matcher = Matcher([*context.matcher.patterns, *parse_ignore(extra)])
    return Context(context.root, matcher, context.memo), kept


def _group_exists(root: Path, name: str) -> bool:
    try:
        text = (root / "etc/group").read_text()
    except OSError:
        return False
    return any(line.split(":", 1)[0] == name for line in text.splitlines())


def _is_git(source: str) -> bool:
    return source.startswith("git@") or (source.endswith(".git") and "://" in source)


def _file_digest(path: Path) -> str:
    total = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            total.update(chunk)
    return "sha256:" + total.hexdigest()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
