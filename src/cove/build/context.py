"""The build context: its files (less what ``.dockerignore`` leaves out), COPY's source
patterns, and the content digest that keys a COPY's cache.

The digest covers, for every file under the sources: its path relative to the source, its
type, permission bits, size, content (SHA-256) or link target; not its mtime, owner or
inode. So ``touch`` of every file keeps the cache, and a changed file whose size and mtime
stay the same still misses (contents are always read; a cache of file digests keyed by
inode, size and mtime can come later if hashing shows up in profiles).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from cove.build.dockerignore import Matcher
from cove.errors import InvalidArgument, NotFound

IGNORE_FILE = ".dockerignore"


class Context:
    def __init__(self, root: Path, matcher: Matcher | None = None) -> None:
        self.root = root
        if matcher is None:
            ignore = root / IGNORE_FILE
            matcher = Matcher.from_text(ignore.read_text()) if ignore.is_file() else Matcher([])
        self.matcher = matcher

    def files(self, start: str = "") -> Iterator[str]:
        """Every path (files, links, directories) under ``start`` that the build may see,
        relative to the context root, parents before children, sorted."""
        base = self.root / start if start else self.root
        stack = [base]
        while stack:
            directory = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
            except NotADirectoryError:
                continue
            for entry in entries:
                rel = os.path.relpath(entry.path, self.root)
                excluded = self.matcher.excluded(rel)
                is_dir = entry.is_dir(follow_symlinks=False)
                if is_dir and (not excluded or self.matcher.may_hold_included(rel)):
                    stack.append(Path(entry.path))
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
                for rel in self.files(source):
                    self._entry(total, self.root / rel, os.path.relpath(rel, source) if source else rel)
            else:
                self._entry(total, path, os.path.basename(source))
        return "sha256:" + total.hexdigest()

    @staticmethod
    def _entry(total: hashlib._Hash, path: Path, name: str) -> None:
        st = path.lstat()
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            total.update(f"link {name} {mode:o} {os.readlink(path)}\n".encode())
        elif stat.S_ISDIR(st.st_mode):
            total.update(f"dir {name} {mode:o}\n".encode())
        elif stat.S_ISREG(st.st_mode):
            content = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    content.update(chunk)
            total.update(f"file {name} {mode:o} {st.st_size} {content.hexdigest()}\n".encode())
        else:
            total.update(f"other {name} {mode:o} {stat.S_IFMT(st.st_mode)}\n".encode())
