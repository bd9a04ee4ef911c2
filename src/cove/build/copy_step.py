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
from dataclasses import dataclass
from pathlib import Path

from cove.build import copy as copying
from cove.build.backend import Layer
from cove.build.context import Context
from cove.build.dockerfile import DockerfileError
from cove.build.dockerignore import Matcher
from cove.build.dockerignore import parse as parse_ignore
from cove.build.expand import ExpansionError, expand, expand_heredoc
from cove.build.instructions import Add, Copy
from cove.build.instructions.flags import written_by_name
from cove.build.steps import PreparedStep, StageWork, StepHost, copy_source, digest_of
from cove.errors import CoveError
from cove.host.inroot import Root


def prepare_copy(host: StepHost, work: StageWork, x: Copy | Add, cleanup: ExitStack) -> PreparedStep:
    scope = work.meta.scope()

    def word(text: str) -> str:
        try:
            return expand(text, scope, host.escape)
        except ExpansionError as exc:
            raise DockerfileError(x.line, exc.message, end_line=x.end_line) from None

    def refuse(message: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(x.line, message, hint, end_line=x.end_line)

    raw_sources = [word(source) for source in x.sources]
    dest = word(x.dest)
    # The key's arguments: the heredocs' markers, the sources and the destination, expanded
    # (as cove has always keyed them, so that an unchanged COPY keeps its key).
    markers = [f"<<{'-' if h.chomp else ''}{h.name}" for h in x.heredocs]
    words = [*markers, *raw_sources, dest]
    flags = {k: [word(v) for v in vs] for k, vs in written_by_name(x.flags).items()}
    options = _copy_options(host, work, word(x.chown), word(x.chmod))
    workdir = str(work.meta.config.get("WorkingDir") or "/")
    origin = x.from_ if isinstance(x, Copy) else ""  # (never a variable: refused when parsed)
    checksum = word(x.checksum) if isinstance(x, Add) else ""
    heredocs = digest_of([h.content for h in x.heredocs]) if x.heredocs else ""
    urls = [source for source in raw_sources if _is_url(source)] if isinstance(x, Add) else []
    downloaded: tuple[Context, list[str]] | None = None
    digests: list[str] = []
    if urls:
        if len(urls) != len(raw_sources) or x.heredocs:
            raise refuse("ADD takes either URLs or local files, not both in one instruction")
        assert isinstance(x, Add)
        if x.unpack:
            raise refuse("ADD --unpack of a URL is not supported by cove")
        context, names, digests = _downloaded(host, x, urls, checksum, cleanup)
        downloaded = context, names
    elif checksum:
        raise refuse("ADD --checksum is only for URL sources")

    def resolve(context: Context) -> _Resolved:
        """The sources matched in ``context`` and where each goes."""
        kept_paths: dict[str, str] = {}  # COPY --parents: source -> its path under the destination
        if downloaded is not None:
            context, sources = downloaded[0], list(downloaded[1])
        else:
            sources = []
            for pattern in raw_sources:
                if _is_git(pattern):
                    raise refuse(f"ADD of a Git repository ({pattern}) is not supported by cove")
                try:
                    found = context.sources(pattern)
                    sources.extend(found)
                    if isinstance(x, Copy) and x.parents:
                        kept_paths.update((source, _under_pivot(pattern, source)) for source in found)
                except CoveError as exc:
                    message = exc.message.replace("COPY", x.keyword)
                    if origin:  # not the context's files: another stage's or image's
                        raise refuse(message.replace("the build context", origin)) from None
                    raise refuse(message, exc.hint) from None
        if x.exclude:
            context, sources = _excluding(context, sources, [word(p) for p in x.exclude])
        digest = context.digest(sources) if sources and not origin else ""
        heredoc_names: list[str] = []
        if x.heredocs:
            context, heredoc_names = _heredoc_context(x, context, sources, scope, cleanup)
        archives: list[tuple[str, str]] = []
        if isinstance(x, Add) and not urls and x.unpack is not False:
            target = dest if dest.startswith("/") else posixpath.join(workdir, dest)
            for source in list(sources):
                if copying.is_archive_in(context, source):
                    archives.append((source, posixpath.normpath(target)))
                    sources.remove(source)
        placements = _placements(context, heredoc_names, sources, kept_paths, dest, workdir)
        return _Resolved(context, placements, archives, digest)

    layers = list(work.layers)

    def write(resolved: _Resolved) -> Layer | None:
        # Directories the image has already keep their owner and mode: only missing
        # parents are made.
        with host.backend.rootfs(layers) as base, Root(base) as image:

            def exists(path: str) -> os.stat_result | None:
                found = image.stat(path)  # (links followed inside the image, as the COPY will)
                return found if found is not None and stat.S_ISDIR(found.st_mode) else None

            return host.backend.add_layer(
                layers,
                lambda out, into: copying.write_layer(
                    resolved.context,
                    resolved.placements,
                    options,
                    out,
                    resolved.archives,
                    existing=exists,
                    mirror=into,
                ),
                mirror=not resolved.archives,
            )

    if origin:
        # Another stage's or an image's files: what identifies them (the stage's last cache
        # key, the image's ID) fixes them, and the sources are in the arguments, so the key
        # needs no look at the files. They are mounted only to make the layer, on a miss: a
        # cached multi-stage rebuild mounts nothing.
        inputs = [host.origin_identity(work, origin), heredocs]

        def make(output: Callable[[str], None]) -> Layer | None:
            root, _ = host.files_of(work, x, origin, cleanup)
            return write(resolve(Context(root, Matcher([]))))

    else:
        resolved = resolve(host.context)
        inputs = [heredocs, *digests, *([resolved.digest] if resolved.digest else [])]

        def make(output: Callable[[str], None]) -> Layer | None:
            return write(resolved)

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


@dataclass(frozen=True)
class _Resolved:
    """A COPY's or ADD's sources, resolved: what it writes and what of it enters the key."""

    context: Context  # where the sources are read (heredoc files beside them)
    placements: list[tuple[str, str]]  # (source, path in the image)
    archives: list[tuple[str, str]]  # ADD: (archive, directory to unpack it in)
    digest: str  # the digest of the context's sources ("" for none, or another stage's)


def _downloaded(
    host: StepHost, x: Add, urls: list[str], checksum: str, cleanup: ExitStack
) -> tuple[Context, list[str], list[str]]:
    """ADD of URLs: the downloads as a context of their own, their names, and what of them
    enters the cache key (each URL with its content's digest)."""
    downloads = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-add-")))
    names, inputs = [], []
    for url in urls:
        name, digest = _fetch(host, x, url, downloads, checksum)
        names.append(name)
        inputs.append(f"{url} {digest}")
    return Context(downloads, Matcher([])), names, inputs


def _placements(
    context: Context,
    heredoc_names: list[str],
    sources: list[str],
    kept_paths: Mapping[str, str],
    dest: str,
    workdir: str,
) -> list[tuple[str, str]]:
    """(source, path in the image) of everything the COPY writes: Docker's destination rules,
    or with --parents (``kept_paths``) each source at its own path under the destination."""
    if not kept_paths:
        every = [*heredoc_names, *sources]
        return copying.destinations(context, every, dest, workdir) if every else []
    target = dest if dest.startswith("/") else posixpath.join(workdir, dest)
    placed = copying.destinations(context, heredoc_names, dest, workdir) if heredoc_names else []
    return placed + [
        (source, posixpath.normpath(posixpath.join(target, kept_paths[source])))
        for source in sources
        if source in kept_paths
    ]


def _heredoc_context(
    x: Copy | Add,
    files: Context,
    sources: list[str],
    scope: Mapping[str, str],
    cleanup: ExitStack,
) -> tuple[Context, list[str]]:
    """COPY <<EOF [file...] /dest: each heredoc becomes a file named after it (its content
    expanded unless the name was quoted, quotes and escapes left as written) in a context of
    its own, beside copies of the instruction's other sources (``COPY <<EOF file.txt /dest``)."""
    root = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cove-heredoc-")))
    names = []
    for doc in x.heredocs:
        if doc.name in sources or "\0" in doc.name or posixpath.normpath(doc.name).startswith(("/", "..")):
            raise DockerfileError(
                x.line,
                f"{x.keyword}: the heredoc {doc.name} has the name of a file it copies, or one outside",
                end_line=x.end_line,
            )
        try:
            # BuildKit expands heredocs with the default escape, whatever the directive says
            text = expand_heredoc(doc.content, scope) if doc.expand else doc.content
        except ExpansionError as exc:
            raise DockerfileError(x.line, exc.message, end_line=x.end_line) from None
        _write(root / doc.name, text.encode())
        names.append(doc.name)
    for source in sources:  # (rare: only with files beside the heredocs)
        copy_source(files, source, root / source, root)
    # The copies keep their paths, so .dockerignore and --exclude still leave out what they
    # name under them (a top-level source, a heredoc's file too, is never left out).
    return Context(root, files.matcher), names


def _under_pivot(pattern: str, source: str) -> str:
    """Where COPY --parents puts ``source`` (matched by ``pattern``) under the destination: its
    whole path in the context, or what follows the pattern's last "/./" (BuildKit's pivot)."""
    head, pivot, _ = pattern.rpartition("/./")
    if not pivot:
        return source
    base = posixpath.normpath(head).lstrip("/")
    return posixpath.relpath(source, base) if base not in ("", ".") else source


def _fetch(host: StepHost, x: Add, url: str, directory: Path, checksum: str) -> tuple[str, str]:
    """Download ``url`` into ``directory``; (the file's name, its content digest)."""
    part = directory / ".download"
    name, mtime = host.backend.download(url, part)
    digest = _file_digest(part)
    if checksum and digest != (checksum if ":" in checksum else "sha256:" + checksum):
        part.unlink()
        raise DockerfileError(
            x.line,
            f"ADD {url}: the content's digest is {digest}, not {checksum} (--checksum)",
            end_line=x.end_line,
        )
    final = directory / name
    part.rename(final)
    os.chmod(final, 0o600)  # Docker gives downloaded files mode 600
    if mtime is not None:
        os.utime(final, (mtime, mtime))
    return name, digest


def _copy_options(host: StepHost, work: StageWork, chown: str, chmod: str) -> copying.CopyOptions:
    mode = copying.parse_chmod(chmod) if chmod else None
    uid = gid = 0
    if chown:
        text = chown
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
