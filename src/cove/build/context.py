"""The build context: its files (less what ``.dockerignore`` leaves out), COPY's source
patterns, and the content digest that keys a COPY's cache.

The context is a root, as BuildKit treats it: a source path is resolved inside it, its
symbolic links followed only there (``dirlink -> /etc`` means the context's own ``etc``,
which is most likely not there), and what is under a source is walked through directory
descriptors without following any link. Whoever hands cove a context (a directory, a tar
on stdin) cannot make a build read a file of the host outside it, even by changing the
tree while the build reads it.

The digest covers, for every file under the sources: its path relative to the source, its
type, permission bits, size, content (SHA-256) or link target; not its mtime, owner or
inode. So ``touch`` of every file keeps the cache, and a changed file whose size and mtime
stay the same still misses. A ``memo`` spares reading files whose stat (ctime included)
did not change since an earlier build.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cove.build.dockerignore import Matcher
from cove.errors import InvalidArgument, NotFound
from cove.host.inroot import PathEscape, Root

IGNORE_FILE = ".dockerignore"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class DigestMemo(Protocol):
    """Remembered content digests of files (see ``build.digestmemo``)."""

    def lookup(self, path: str, st: os.stat_result) -> str | None: ...

    def remember(self, path: str, st: os.stat_result, digest: str) -> None: ...


@dataclass(frozen=True)
class Entry:
    """One thing a source holds: ``rel`` is its path under the source ("" for the source
    itself), ``rel_in_context`` under the context; it is ``name`` in the directory ``dir_fd``
    (a descriptor valid while the walk that yielded it is at it)."""

    rel: str
    rel_in_context: str
    st: os.stat_result
    dir_fd: int
    name: str

    def open(self) -> int:
        """A descriptor of this regular file (never through a link put in its place)."""
        fd = os.open(self.name, _FILE, dir_fd=self.dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotFound(f"{self.rel_in_context} in the build context changed while it was read")
        return fd

    def readlink(self) -> str:
        return os.readlink(self.name, dir_fd=self.dir_fd)


class Context:
    def __init__(self, root: Path, matcher: Matcher | None = None, memo: DigestMemo | None = None) -> None:
        self.root = Path(os.path.realpath(root))
        self.memo = memo
        if matcher is None:
            ignore = self.read_file(IGNORE_FILE)
            matcher = (
                Matcher.from_text(ignore.decode(errors="replace")) if ignore is not None else Matcher([])
            )
        self.matcher = matcher

    @contextmanager
    def _root(self) -> Iterator[Root]:
        with Root(self.root) as root:
            yield root

    # -- single paths, resolved inside the context -------------------------------------------

    def kind(self, source: str, *, follow: bool = True) -> os.stat_result | None:
        """The status of what ``source`` leads to inside the context (None if nothing)."""
        with self._root() as root:
            return root.stat(source) if follow else root.lstat(source)

    def read_file(self, source: str, limit: int = 1 << 20) -> bytes | None:
        with self._root() as root:
            try:
                return root.read_file(source, limit)
            except InvalidArgument:
                return None

    def open_file(self, source: str) -> int:
        """A descriptor of the regular file ``source`` leads to inside the context."""
        with self._root() as root:
            try:
                fd = root.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            except (FileNotFoundError, NotADirectoryError, PathEscape):
                raise NotFound(f"{source} is not in the build context") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotFound(f"{source} in the build context is not a regular file")
        return fd

    # -- walking ---------------------------------------------------------------------------

    def files(self, start: str = "") -> Iterator[str]:
        """Every path (files, links, directories) under ``start`` that the build may see,
        relative to the context root, parents before children, sorted."""
        for entry in self.walk(start, include_self=False):
            yield entry.rel_in_context

    def walk(self, source: str, *, include_self: bool = True) -> Iterator[Entry]:
        """``source`` (resolved inside the context, links followed there) and, if it is a
        directory, everything under it that ``.dockerignore`` keeps, parents before children,
        sorted; nothing under it is followed."""
        with self._root() as root:
            try:
                parent, name = root.locate(source)
            except (FileNotFoundError, NotADirectoryError, PathEscape):
                return
        top = -1
        try:
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                return
            if include_self:
                yield Entry("", source, st, parent, name)
            if not stat.S_ISDIR(st.st_mode):
                return
            try:
                top = os.open(name, _DIR, dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    return
                raise
            yield from self._below(top, source)
        finally:
            os.close(parent)
            if top >= 0:
                os.close(top)

    def _below(self, top: int, source: str) -> Iterator[Entry]:
        prefix = f"{source}/" if source else ""
        # (descriptor, path under the source, entries still to visit, in reverse)
        stack: list[tuple[int, str, list[os.DirEntry[str]]]] = [(top, "", _listing(top))]
        try:
            while stack:
                fd, rel_dir, entries = stack[-1]
                if not entries:
                    stack.pop()
                    if fd != top:
                        os.close(fd)
                    continue
                found = entries.pop()
                rel = f"{rel_dir}/{found.name}" if rel_dir else found.name
                in_context = prefix + rel
                excluded = self.matcher.excluded(in_context)
                try:
                    st = found.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not excluded:
                    yield Entry(rel, in_context, st, fd, found.name)
                if stat.S_ISDIR(st.st_mode) and (not excluded or self.matcher.may_hold_included(in_context)):
                    try:
                        child = os.open(found.name, _DIR, dir_fd=fd)
                    except OSError as exc:
                        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                            continue  # gone, or swapped for something else, since it was listed
                        raise
                    stack.append((child, rel, _listing(child)))
        finally:
            for fd, _, _ in stack:
                if fd != top:
                    os.close(fd)

    # -- COPY's sources and their digest ----------------------------------------------------------

    def sources(self, pattern: str) -> list[str]:
        """The context paths a COPY source names (Go's filepath.Match, per path component)."""
        cleaned = os.path.normpath(pattern).lstrip("/")
        if cleaned.startswith(".."):
            raise InvalidArgument(f"COPY source {pattern!r} is outside the build context")
        if cleaned == ".":
            return [""]
        if not any(c in cleaned for c in "*?["):
            if self.kind(cleaned) is None or self.matcher.excluded(cleaned):
                raise NotFound(
                    f"COPY source {pattern!r} not found in the build context",
                    hint="check the path, that .dockerignore does not leave it out, and that a "
                    "symbolic link on the way does not point outside the context",
                )
            return [cleaned]
        depth = cleaned.count("/")
        found = [p for p in self.files() if p.count("/") == depth and fnmatch.fnmatchcase(p, cleaned)]
        if not found:
            raise NotFound(f"COPY source {pattern!r} matches no file in the build context")
        return sorted(found)

    def digest(self, sources: list[str]) -> str:
        """One SHA-256 over what the sources hold (see the module's notes)."""
        total = hashlib.sha256()
        for source in sources:
            total.update(f"source {source}\n".encode())
            for entry in self.walk(source):
                name = entry.rel if entry.rel else os.path.basename(source)
                if entry.rel == "" and stat.S_ISDIR(entry.st.st_mode):
                    continue  # a directory source stands for its contents
                self._entry(total, entry, name)
        return "sha256:" + total.hexdigest()

    def _entry(self, total: hashlib._Hash, entry: Entry, name: str) -> None:
        st = entry.st
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            total.update(f"link {name} {mode:o} {entry.readlink()}\n".encode())
        elif stat.S_ISDIR(st.st_mode):
            total.update(f"dir {name} {mode:o}\n".encode())
        elif stat.S_ISREG(st.st_mode):
            key = f"{self.root}/{entry.rel_in_context}"
            digest = self.memo.lookup(key, st) if self.memo is not None else None
            if digest is None:
                content = hashlib.sha256()
                with os.fdopen(entry.open(), "rb") as f:
                    while chunk := f.read(1 << 20):
                        content.update(chunk)
                digest = content.hexdigest()
                if self.memo is not None:
                    self.memo.remember(key, st, digest)
            total.update(f"file {name} {mode:o} {st.st_size} {digest}\n".encode())
        else:
            total.update(f"other {name} {mode:o} {stat.S_IFMT(st.st_mode)}\n".encode())


def _listing(fd: int) -> list[os.DirEntry[str]]:
    """A directory's entries in reverse order: popped from the end, they come out sorted."""
    with os.scandir(fd) as found:
        return sorted(found, key=lambda e: e.name, reverse=True)
