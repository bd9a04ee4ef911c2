"""RUN: the command, its environment, network and mounts, worked out for the cache key;
the backend runs it only on a cache miss."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from cove.archive.treetar import copy_tree
from cove.build.backend import Layer, RunMount, RunRequest
from cove.build.context import Context
from cove.build.dockerfile import DockerfileError, Instruction
from cove.build.dockerignore import Matcher
from cove.build.expand import expand
from cove.build.stages import PROXY_ARGS
from cove.build.steps import PreparedStep, StageWork, StepHost, digest_of
from cove.host.inroot import DIRECTORY_FLAGS, Root, opened


def prepare_run(host: StepHost, work: StageWork, x: Instruction, cleanup: ExitStack) -> PreparedStep:
    build, _, _ = host.options.build_platform.partition("/")
    if _arch(work.platform) != _arch(host.options.build_platform) or not work.platform.startswith(build):
        raise DockerfileError(
            x.line,
            f"RUN needs {work.platform} binaries to run on this {host.options.build_platform} host, "
            "and cove does not emulate other platforms",
            hint="build for the host's platform, or keep RUN out of stages for other platforms",
        )
    if x.json_args is not None:
        argv = list(x.json_args)
        shown = json.dumps(argv)
    else:
        argv = work.meta.shell_form(run_script(x))
        shown = " ".join(argv)
    scope = work.meta.scope()
    env_names = {e.split("=", 1)[0] for e in work.meta.config.get("Env") or []}
    # Build args reach the command's environment (ENV of the same name wins); the proxy
    # args do too when given, without being declared and without entering the cache key.
    proxies = {k: v for k, v in host.options.build_args.items() if k in PROXY_ARGS}
    extra = {**proxies, **work.meta.args}
    env = list(work.meta.config.get("Env") or []) + [
        f"{k}={v}" for k, v in extra.items() if k not in env_names
    ]
    network = _flag(x, "network", scope) or host.options.network
    if network not in ("default", "none", "host"):
        raise DockerfileError(x.line, f"RUN --network={network} is not one of default, none, host")
    mounts: list[RunMount] = []
    mount_inputs: list[str] = []
    for spec in x.flags.get("mount", []):
        mount, inputs = _mount(host, work, x, expand(spec, scope, host.escape), cleanup)
        if mount is not None:
            mounts.append(mount)
        mount_inputs.append(inputs)
    flags = {k: [expand(v, scope, host.escape) for v in vs] for k, vs in x.flags.items()}
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
        lines = LineSplitter(output)
        try:
            return host.backend.run(layers, request, lines.feed)
        finally:
            lines.flush()

    args_shown = " ".join(f"{k}={v}" for k, v in sorted(work.meta.args.items()))
    history = (
        f"RUN {'|' + str(len(work.meta.args)) + ' ' + args_shown + ' ' if work.meta.args else ''}{shown}"
    )
    return PreparedStep(
        arguments=json.dumps(argv),
        flags=flags,
        build_args=dict(work.meta.args),
        inputs=digest_of(mount_inputs) if mount_inputs else "",
        inputs_shown=digest_of([work.meta.args, mount_inputs]),
        history=history,
        make=make,
    )


def run_script(x: Instruction) -> str:
    if not x.heredocs:
        return x.rest
    rest = x.rest.strip()
    if len(x.heredocs) == 1 and rest.lstrip("<-").strip("'\"") == x.heredocs[0].name:
        return x.heredocs[0].content  # RUN <<EOF: the heredoc is the script
    # RUN python3 <<EOF ...: the shell reads the heredocs itself
    return rest + "\n" + "".join(f"{h.content}{h.name}\n" for h in x.heredocs)


def _flag(x: Instruction, name: str, scope: Mapping[str, str]) -> str:
    values = x.flags.get(name)
    return expand(values[-1], scope) if values else ""


def _mount(
    host: StepHost, work: StageWork, x: Instruction, spec: str, cleanup: ExitStack
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
        path = host.options.secrets.get(secret_id)
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
            raise DockerfileError(x.line, f"cache mount sharing={sharing} is not shared, private or locked")
        return RunMount("cache", target, cache_id, readonly, (f"sharing={sharing}",)), f"cache {target}"
    if kind == "bind":
        source = options.get("source", options.get("src", ""))
        rw = options.get("rw", options.get("readwrite", "false")).lower() in ("true", "1")
        origin = options.get("from")
        if origin:
            root, inputs = host.files_of(work, x, origin, cleanup)
            files = Context(root, Matcher([]))
        else:
            files = host.context
            inputs = files.digest(files.sources(source or "."))
        found = files.kind(source)
        if found is None:
            raise DockerfileError(
                x.line, f"RUN --mount=type=bind: {source or '.'} not found in {origin or 'the build context'}"
            )
        if rw:
            # Writes to a rw bind are thrown away after the step (BuildKit's rule): give a copy.
            scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-bind-")))
            copy_target = scratch / "src"
            _copy_source(files, source, copy_target, scratch)
            return RunMount("bind", target, str(copy_target), False), f"bind {target} {inputs}"
        # Resolved inside its root by the engine, which mounts exactly what the path leads to there.
        return RunMount("bind", target, source or ".", True, root=str(files.root)), f"bind {target} {inputs}"
    raise DockerfileError(x.line, f"unknown mount type {kind!r}: use bind, cache, tmpfs or secret")


class LineSplitter:
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


def _copy_source(files: Context, source: str, target: Path, spool: Path) -> None:
    """A copy of what ``source`` leads to in ``files`` at ``target`` (read inside their root)."""
    found = files.kind(source)
    if found is not None and stat.S_ISDIR(found.st_mode):
        target.mkdir()
        with (
            Root(files.root) as root,
            opened(root.open_dir(source)) as src,
            opened(os.open(target, DIRECTORY_FLAGS)) as dst,
        ):
            copy_tree(src, dst, spool)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(files.open_file(source), "rb") as src, open(target, "xb") as dst:
        shutil.copyfileobj(src, dst)
        os.fchmod(dst.fileno(), stat.S_IMODE(os.fstat(src.fileno()).st_mode))
