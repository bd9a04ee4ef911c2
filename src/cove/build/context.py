"""The build context: its files (less what ``.dockerignore`` leaves out), COPY's source
patterns, and the content digest that keys a COPY's cache.

The digest covers, for every file under the sources: its path relative to the source, its
type, permission bits, size, content (SHA-256) or link target; not its mtime, owner or
inode. So ``touch`` of every file keeps the cache, and a changed file whose size and mtime
stay the same still misses. A ``memo`` spares reading files whose stat (ctime included)
did not change since an earlier build.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from cove.build.dockerignore import Matcher
from cove.errors import InvalidArgument, NotFound

IGNORE_FILE = ".dockerignore"


class DigestMemo(Protocol):
    """Remembered content digests of files (see ``build.digestmemo``)."""

    def lookup(self, path: str, st: os.stat_result) -> str | None: ...

    def remember(self, path: str, st: os.stat_result, digest: str) -> None: ...


class Context:
    def __init__(self, root: Path, matcher: Matcher | None = None, memo: DigestMemo | None = None) -> None:
        self.root = root
        self.memo = memo
        if matcher is None:
            ignore = root / IGNORE_FILE
            matcher = Matcher.from_text(ignore.read_text()) if ignore.is_file() else Matcher([])
        self.matcher = matcher

    def files(self, start: str = "") -> Iterator[str]:
        """Every path (files, links, directories) under ``start`` that the build may see,
        relative to the context root, parents before children, sorted."""
        root = str(self.root)
        skip = len(root) + 1  # entries' paths are root + "/" + rel: slicing beats relpath
        stack = [os.path.join(root, start) if start else root]
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as found:
                    entries = sorted(found, key=lambda e: e.name, reverse=True)
            except NotADirectoryError:
                continue
            for entry in entries:
                rel = entry.path[skip:]
                excluded = self.matcher.excluded(rel)
                is_dir = entry.is_dir(follow_symlinks=False)
                if is_dir and (not excluded or self.matcher.may_hold_included(rel)):
                    stack.append(entry.path)
                if not excluded:
                    yield rel

    def sources(self, pattern: str) -> list[str]:
        """The context paths a COPY source names (Go's filepath.Match, per path component)."""
        cleaned = os.path.normpath(pattern).lstrip("/")
        if cleaned.startswith(".."):
            raise InvalidArgument(f"COPY source {pattern!r} is outside the build context")
        if cleaned == ".":
            return [""]
        if not any(c in cleaned for c in "*?["):
            if not os.path.lexists(self.root / cleaned) or self.matcher.excluded(cleaned):
                raise NotFound(
                    f"COPY source {pattern!r} not found in the build context",
                    hint="check the path, and that .dockerignore does not leave it out",
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
            path = self.root / source if source else self.root
            total.update(f"source {source}\n".encode())
            if path.is_dir() and not path.is_symlink():
                root = str(self.root)
                skip = len(source) + 1 if source else 0
                for rel in self.files(source):
                    self._entry(total, f"{root}/{rel}", rel[skip:])
            else:
                self._entry(total, str(path), os.path.basename(source))
        return "sha256:" + total.hexdigest()

    def _entry(self, total: hashlib._Hash, path: str, name: str) -> None:
        st = os.lstat(path)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            total.update(f"link {name} {mode:o} {os.readlink(path)}\n".encode())
        elif stat.S_ISDIR(st.st_mode):
            total.update(f"dir {name} {mode:o}\n".encode())
        elif stat.S_ISREG(st.st_mode):
            digest = self.memo.lookup(path, st) if self.memo is not None else None
            if digest is None:
                content = hashlib.sha256()
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        content.update(chunk)
                digest = content.hexdigest()
                if self.memo is not None:
                    self.memo.remember(path, st, digest)
            total.update(f"file {name} {mode:o} {st.st_size} {digest}\n".encode())
        else:
            total.update(f"other {name} {mode:o} {stat.S_IFMT(st.st_mode)}\n".encode())
