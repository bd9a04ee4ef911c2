"""COPY and ADD: sources (context, another stage or image, heredocs, URLs, archives),
their digest for the cache key, and the layer writer the backend calls on a miss."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from cove.build import copy as copying
from cove.build.backend import Layer
from cove.build.context import Context
from cove.build.dockerfile import DockerfileError, Instruction
from cove.build.dockerignore import Matcher
from cove.build.dockerignore import parse as parse_ignore
from cove.build.expand import ExpansionError, expand, split_words
from cove.build.steps import PreparedStep, StageWork, StepHost, digest_of
from cove.errors import CoveError
from cove.host.inroot import Root


def prepare_copy(host: StepHost, work: StageWork, x: Instruction, cleanup: ExitStack) -> PreparedStep:
    scope = work.meta.scope()
    try:
        if x.json_args is not None:
            words = [expand(w, scope, host.escape) for w in x.json_args]
        else:
            words = split_words(x.rest, scope, host.escape)
    except ExpansionError as exc:
        raise DockerfileError(x.line, exc.message) from None
    if len(words) < 2:
        raise DockerfileError(x.line, f"{x.keyword} needs at least two arguments: SOURCE... DEST")
    *raw_sources, dest = words
    flags = {k: [expand(v, scope, host.escape) for v in vs] for k, vs in x.flags.items()}
    unknown = set(flags) - {"from", "chown", "chmod", "link", "exclude", "checksum", "parents"}
    if x.keyword == "COPY":
        unknown |= set(flags) & {"checksum"}
    if unknown:
        raise DockerfileError(x.line, f"{x.keyword} does not take --{sorted(unknown)[0]}")
    options = _copy_options(host, work, flags)
    workdir = str(work.meta.config.get("WorkingDir") or "/")
    origin = flags.get("from", [""])[-1]
    context = host.context
    identity = ""
    if origin:
        if x.keyword == "ADD":
            raise DockerfileError(x.line, "ADD does not take --from; use COPY --from")
        root, identity = host.files_of(work, x, origin, cleanup)
        context = Context(root, Matcher([]))
    if x.heredocs:
        context, raw_sources = _heredoc_context(host, x, raw_sources, scope, cleanup)
        identity = digest_of([h.content for h in x.heredocs])
    urls = [source for source in raw_sources if x.keyword == "ADD" and _is_url(source)]
    inputs: list[str] = [identity]
    if urls:
        if len(urls) != len(raw_sources):
            raise DockerfileError(x.line, "ADD takes either URLs or local files, not both in one instruction")
        downloads = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-add-")))
        names = []
        for url in urls:
            name, digest = _fetch(host, x, url, downloads, flags.get("checksum", [""])[-1])
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
                raise DockerfileError(x.line, f"ADD of a Git repository ({pattern}) is not supported by cove")
            try:
                sources.extend(context.sources(pattern))
            except CoveError as exc:
                message = exc.message.replace("COPY", x.keyword)
                if origin:  # not the context's files: another stage's or image's
                    message = message.replace("the build context", origin)
                    raise DockerfileError(x.line, message) from None
                raise DockerfileError(x.line, message, hint=exc.hint) from None
        excludes = flags.get("exclude", [])
        if excludes:
            context, sources = _excluding(context, sources, excludes)
        if origin:
            inputs.append(digest_of(sources))
        elif not x.heredocs:
            inputs.append(context.digest(sources))
    archives: list[tuple[str, str]] = []
    if x.keyword == "ADD" and not urls:
        target = dest if dest.startswith("/") else posixpath.join(workdir, dest)
        for source in list(sources):
            if copying.is_archive_in(context, source):
                archives.append((source, posixpath.normpath(target)))
                sources.remove(source)
    placements = copying.destinations(context, sources, dest, workdir) if sources else []
    layers = list(work.layers)

    def make(output: Callable[[str], None]) -> Layer | None:
        # Directories the image has already keep their owner and mode: only missing
        # parents are made.
        with host.backend.rootfs(layers) as base, Root(base) as image:

            def exists(path: str) -> os.stat_result | None:
                found = image.stat(path)  # (links followed inside the image, as the COPY will)
                return found if found is not None and stat.S_ISDIR(found.st_mode) else None

            return host.backend.add_layer(
                layers,
                lambda out, into: copying.write_layer(
                    context, placements, options, out, archives, existing=exists, mirror=into
                ),
                mirror=not archives,
            )

    shown_flags = " ".join(f"--{k}={v}" for k, vs in flags.items() for v in vs)
    return PreparedStep(
        arguments=json.dumps(words),
        flags={**flags, "owner": [f"{options.uid}:{options.gid}"]},
        build_args={},
        inputs=digest_of(inputs),
        inputs_shown=digest_of(inputs),
        history=f"{x.keyword} {shown_flags + ' ' if shown_flags else ''}{' '.join(words)}",
        make=make,
    )


def _heredoc_context(
    host: StepHost, x: Instruction, raw_sources: list[str], scope: Mapping[str, str], cleanup: ExitStack
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
        text = expand(doc.content, scope, host.escape) if doc.expand else doc.content
        _write(root / name, text.encode())
    return Context(root, Matcher([])), names


def _fetch(host: StepHost, x: Instruction, url: str, directory: Path, checksum: str) -> tuple[str, str]:
    """Download ``url`` into ``directory``; (the file's name, its content digest)."""
    part = directory / ".download"
    name, mtime = host.backend.download(url, part)
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


def _copy_options(host: StepHost, work: StageWork, flags: Mapping[str, list[str]]) -> copying.CopyOptions:
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
            uid, gid = host.backend.owner(work.layers, text)
            if ":" not in text:
                gid = uid  # a user without a group: the same number as its GID (Docker's rule)
    return copying.CopyOptions(uid, gid, mode)


def _excluding(context: Context, sources: list[str], patterns: list[str]) -> tuple[Context, list[str]]:
    """COPY --exclude: patterns are relative to each source (a directory's contents, or a
    file's own name), with .dockerignore's syntax."""
    kept = []
    extra = []
    for source in sources:
        found = context.kind(source)
        if found is not None and stat.S_ISDIR(found.st_mode):
            kept.append(source)
            extra += [f"{source}/{p}" if source else p for p in patterns]
        elif not Matcher(parse_ignore(patterns)).excluded(posixpath.basename(source)):
            kept.append(source)
    matcher = Matcher([*context.matcher.patterns, *parse_ignore(extra)])
    return Context(context.root, matcher, context.memo), kept


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


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
