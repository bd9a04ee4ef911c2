"""``cove cp``, both ways. The container is paused meanwhile (if it runs), and every path in it
is resolved and opened inside it (engine.container_files): nothing it does can lead cp to the host."""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cove.archive.apply import WhiteoutMode, apply_layer
from cove.archive.stream import ChunkReader
from cove.archive.tarstream import TarReader
from cove.archive.treetar import TreeTar
from cove.engine.container_files import ContainerFiles, container_files, paused
from cove.engine.containers import ContainerService
from cove.errors import InvalidArgument, NotFound
from cove.host.inroot import MAX_SYMLINKS, opened


class Copier:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    @contextlib.contextmanager
    def _files(self, ref: str) -> Iterator[ContainerFiles]:
        container = self.c.get(ref)
        with paused(self.c, container.record, container.status):
            status = self.c.state(container.record.id)
            with container_files(self.c, container.record, status) as files:
                yield files

    def copy_from(
        self, ref: str, path: str, out: BinaryIO, name: str | None = None, *, follow: bool = False
    ) -> None:
        """A tar of ``path`` in the container named ``name`` (default: its basename): `cp CTR:path -`.
        A final link is archived as a link, unless ``follow`` (``cp -L``)."""
        if name is None:
            name = "." if path.endswith("/.") else (os.path.basename(path.rstrip("/")) or ".")
        with self._files(ref) as files:
            parent, entry = _entry_of(files, path, follow=follow, ref=ref)
            try:
                tar = TreeTar(out)
                if name == ".":
                    tar.add_tree(_open_dir_at(parent, entry, path, ref))
                else:
                    st = tar.add_at(parent, entry, name)
                    if st is not None and stat.S_ISDIR(st.st_mode):
                        with opened(_open_dir_at(parent, entry, path, ref)) as directory:
                            tar.add_tree(directory, name)
                tar.close()
            finally:
                os.close(parent)

    def copy_out(self, ref: str, path: str, dest: Path, *, follow: bool = False) -> None:
        """`cove cp CTR:path DEST`: Docker's rules for what DEST names."""
        directory, name = _split_cp_name(dest.is_dir(), path, str(dest))
        if name == ".":  # the contents of a directory, into DEST (made if missing)
            Path(directory).mkdir(parents=True, exist_ok=True)
        if not Path(directory).is_dir():
            raise NotFound(f"destination directory {directory} does not exist")
        self.store.tmp_dir.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool:
            self.copy_from(ref, path, spool, name, follow=follow)
            spool.seek(0)
            apply_layer(
                TarReader(ChunkReader(iter(lambda: spool.read(1 << 20), b""))),
                Path(directory),
                WhiteoutMode.APPLY,
            )

    def copy_in(self, ref: str, source: Path, path: str) -> None:
        """`cove cp SRC CTR:path`: Docker's rules for what the container path names."""
        if not os.path.lexists(source):
            raise NotFound(f"no such file or directory: {source}")
        self.store.tmp_dir.mkdir(exist_ok=True)
        src = str(source) + ("/." if str(source).endswith("/.") else "")
        with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool, self._files(ref) as files:
            found = files.stat(path)
            directory, name = _split_cp_name(found is not None and stat.S_ISDIR(found.st_mode), src, path)
            _tar_item(spool, str(source).removesuffix("/."), name)
            spool.seek(0)
            self._unpack_into(files, ref, directory, spool)

    def copy_to(self, ref: str, path: str, archive: BinaryIO) -> None:
        """Unpack a tar stream into directory ``path`` of the container (owners and modes kept)."""
        with self._files(ref) as files:
            self._unpack_into(files, ref, path, archive)

    @staticmethod
    def _unpack_into(files: ContainerFiles, ref: str, path: str, archive: BinaryIO) -> None:
        try:
            target = files.open_dir(path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"Could not find the directory {path} in container {ref}") from None
        with opened(target):
            apply_layer(
                TarReader(ChunkReader(iter(lambda: archive.read(1 << 20), b""))), target, WhiteoutMode.APPLY
            )


def _tar_item(out: BinaryIO, source: str, name: str) -> None:
    """A tar of the host's ``source`` (the user's own file or directory) named ``name``."""
    tar = TreeTar(out)
    if name == ".":
        tar.add_tree(source)
    else:
        tar.add(source, name)
        if os.path.isdir(source) and not os.path.islink(source):
            tar.add_tree(source, name)
    tar.close()


def _entry_of(files: ContainerFiles, path: str, *, follow: bool, ref: str) -> tuple[int, str]:
    """(descriptor of the directory holding ``path``'s last component, that component): the
    component itself is not followed, unless ``follow``, where each link leads to another
    path in the container, resolved in it again."""
    for _ in range(MAX_SYMLINKS + 1):
        try:
            parent, entry = files.parent(path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"Could not find the file {path} in container {ref}") from None
        try:
            st = os.stat(entry, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            os.close(parent)
            raise NotFound(f"Could not find the file {path} in container {ref}") from None
        if not (follow and stat.S_ISLNK(st.st_mode)):
            return parent, entry
        target = os.readlink(entry, dir_fd=parent)
        os.close(parent)
        path = (
            target
            if target.startswith("/")
            else posixpath.join(posixpath.dirname(path.rstrip("/")) or "/", target)
        )
    raise InvalidArgument(f"too many levels of symbolic links in {path}")


def _open_dir_at(parent: int, entry: str, path: str, ref: str) -> int:
    try:
        return os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        raise NotFound(f"{path} in container {ref} is not a directory (any more)") from None


def _split_cp_name(dest_exists_as_dir: bool, src_path: str, dest_path: str) -> tuple[str, str]:
    """Docker's naming for cp: (directory to unpack into, name of the copied item there)."""
    if src_path.endswith("/.") or src_path == ".":
        return dest_path, "."
    base = os.path.basename(src_path.rstrip("/")) or "."
    if dest_exists_as_dir:
        return dest_path, base
    if dest_path.endswith("/"):
        raise NotFound(f"destination directory {dest_path} does not exist")
    return os.path.dirname(dest_path.rstrip("/")) or "/", os.path.basename(dest_path.rstrip("/"))
