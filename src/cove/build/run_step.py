"""RUN: the command, its environment, network and mounts, worked out for the cache key;
the backend runs it only on a cache miss."""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from cove.build.backend import Layer, RunMount, RunRequest
from cove.build.context import Context
from cove.build.dockerfile import DockerfileError
from cove.build.dockerignore import Matcher
from cove.build.expand import ExpansionError, expand
from cove.build.instructions import Run
from cove.build.instructions import RunMount as InstructionMount
from cove.build.instructions.flags import FlagError, written_by_name
from cove.build.instructions.parse import heredoc_marker
from cove.build.stages import PROXY_ARGS
from cove.build.steps import PreparedStep, StageWork, StepHost, copy_source, digest_of


def prepare_run(host: StepHost, work: StageWork, x: Run, cleanup: ExitStack) -> PreparedStep:
    build, _, _ = host.options.build_platform.partition("/")
    if _arch(work.platform) != _arch(host.options.build_platform) or not work.platform.startswith(build):
        raise DockerfileError(
            x.line,
            f"RUN needs {work.platform} binaries to run on this {host.options.build_platform} host, "
            "and cove does not emulate other platforms",
            hint="build for the host's platform, or keep RUN out of stages for other platforms",
            end_line=x.end_line,
        )
    if x.security != "sandbox":
        raise DockerfileError(
            x.line,
            f"RUN --security={x.security} is not allowed: cove does not grant security.insecure",
            end_line=x.end_line,
        )
    mounts: list[RunMount] = []
    mount_inputs: list[str] = []
    script = _shebang_script(x)
    if not x.shell:
        argv = list(x.command)
        shown = json.dumps(argv)
    elif script is not None:
        # RUN <<EOF with a #! line: the document runs as a program of its own (BuildKit puts
        # it at /dev/pipes/NAME), so that its interpreter, not the shell, reads it.
        name, content = script
        holder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-heredoc-")))
        (holder / name).write_text(content)
        os.chmod(holder / name, 0o755)
        mounts.append(RunMount("bind", f"/dev/pipes/{name}", name, True, root=str(holder)))
        mount_inputs.append(f"heredoc {name} {digest_of(content)}")
        argv = work.meta.shell_form(f"/dev/pipes/{name}")
        shown = " ".join(argv)
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
    network = host.options.network if x.network == "default" else x.network

    def word(text: str) -> str:
        try:
            return expand(text, scope, host.escape)
        except ExpansionError as exc:
            raise DockerfileError(x.line, exc.message, end_line=x.end_line) from None

    for written in x.mounts:
        try:
            spec = written.expanded(word) if written.deferred else written
        except FlagError as exc:
            raise DockerfileError(x.line, exc.message, exc.hint, end_line=x.end_line) from None
        mount, inputs, secret_env = _mount(host, work, x, spec, cleanup)
        if mount is not None:
            mounts.append(mount)
        env += secret_env
        mount_inputs.append(inputs)
    flags = {k: [word(v) for v in vs] for k, vs in written_by_name(x.flags).items()}
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


def _shebang_script(x: Run) -> tuple[str, str] | None:
    """(name, content) of a RUN's one heredoc when it is the whole command and starts with #!."""
    if not x.shell or len(x.heredocs) != 1 or heredoc_marker(" ".join(x.command).strip()) is None:
        return None
    doc = x.heredocs[0]
    if not doc.content.startswith("#!") or "/" in doc.name or "\0" in doc.name or doc.name in (".", ".."):
        return None
    return doc.name, doc.content


def run_script(x: Run) -> str:
    """The shell form's script: its text, with heredocs as BuildKit hands them to the shell
    (not expanded: the shell does that)."""
    text = " ".join(x.command)
    if not x.heredocs:
        return text
    if len(x.heredocs) == 1 and heredoc_marker(text.strip()) is not None:
        return x.heredocs[0].content  # RUN <<EOF: the heredoc is the script
    # RUN python3 <<EOF ...: the shell reads the heredocs itself (each terminator line ends
    # with a newline, as cove has always written it: the same script keeps its cache key)
    return text.strip() + "\n" + "".join(f"{h.content}{h.name}\n" for h in x.heredocs)


def _mount(
    host: StepHost, work: StageWork, x: Run, m: InstructionMount, cleanup: ExitStack
) -> tuple[RunMount | None, str, list[str]]:
    """The backend's mount for one --mount (None when there is nothing to mount), what of it
    enters the cache key, and the environment it adds (a secret's env=)."""
    kind, target = m.type, m.target
    if kind == "secret":
        secret_id = m.id or m.source or posixpath.basename(target)
        if not secret_id:
            raise DockerfileError(
                x.line, "RUN --mount=type=secret needs an id= or a target=", end_line=x.end_line
            )
        path = host.options.secrets.get(secret_id)
        if path is None:
            if m.required:
                raise DockerfileError(
                    x.line,
                    f"secret {secret_id} is required but was not given",
                    hint=f"--secret id={secret_id},src=FILE",
                    end_line=x.end_line,
                )
            return None, f"secret {secret_id} absent", []
        env = [f"{m.env}={Path(path).read_text(errors='replace')}"] if m.env else []
        if m.env and not target:
            return None, f"secret {secret_id} env {m.env}", env  # only in the environment
        mount = RunMount("secret", target or f"/run/secrets/{secret_id}", str(path), True)
        return mount, f"secret {secret_id}" + (f" env {m.env}" if m.env else ""), env
    if kind == "ssh":
        raise DockerfileError(
            x.line,
            "RUN --mount=type=ssh is not supported by cove",
            hint="use a secret mount",
            end_line=x.end_line,
        )
    if not target:
        raise DockerfileError(x.line, f"RUN --mount=type={kind} needs a target=", end_line=x.end_line)
    if not target.startswith("/"):
        target = posixpath.join(str(work.meta.config.get("WorkingDir") or "/"), target)
    if kind == "tmpfs":
        options = (f"size={m.size}",) if m.size else ()
        return RunMount("tmpfs", target, options=options), f"tmpfs {target}", []
    if kind == "cache":
        cache_id = m.id or target
        sharing = m.sharing or "shared"
        return RunMount("cache", target, cache_id, m.readonly, (f"sharing={sharing}",)), f"cache {target}", []
    # bind
    source, origin = m.source, m.from_
    if origin:
        root, inputs = host.files_of(work, x, origin, cleanup)
        files = Context(root, Matcher([]))
    else:
        files = host.context
        inputs = files.digest(files.sources(source or "."))
    found = files.kind(source)
    if found is None:
        raise DockerfileError(
            x.line,
            f"RUN --mount=type=bind: {source or '.'} not found in {origin or 'the build context'}",
            end_line=x.end_line,
        )
    if not m.readonly:
        # Writes to a rw bind are thrown away after the step (BuildKit's rule): give a copy.
        scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-bind-")))
        copy_target = scratch / "src"
        copy_source(files, source, copy_target, scratch)
        return RunMount("bind", target, str(copy_target), False), f"bind {target} {inputs}", []
    # Resolved inside its root by the engine, which mounts exactly what the path leads to there.
    return RunMount("bind", target, source or ".", True, root=str(files.root)), f"bind {target} {inputs}", []


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
