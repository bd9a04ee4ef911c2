"""Paths resolved and opened inside a root: the same answers from openat2 and from the walk,
links that never lead out, and no way out through a swap made while a path is resolved."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.errors import InvalidArgument
from cove.host import inroot
from cove.host.inroot import PathEscape, Resolver, Root
from tests.helpers.racing import swapping


def _kernel() -> Resolver:
    resolver = inroot.default_resolver()
    if resolver is inroot.walk_open:
        pytest.skip("this kernel has no openat2")
    return resolver


RESOLVERS = [pytest.param(lambda: inroot.walk_open, id="walk"), pytest.param(_kernel, id="openat2")]


@pytest.fixture(params=RESOLVERS)
def resolver(request: pytest.FixtureRequest) -> Resolver:
    made: Resolver = request.param()
    return made


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "bin").mkdir()
    (root / "usr" / "lib" / "os-release").write_text("ID=test\n")
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("inside\n")
    (root / "etc" / "os-release").symlink_to("../usr/lib/os-release")
    (root / "etc" / "abs").symlink_to("/usr/lib/os-release")
    (root / "etc" / "escape").symlink_to("../../../../../etc/hostname")
    (root / "etc" / "host").symlink_to("/etc/hostname")
    (root / "lib").symlink_to("usr/lib")
    (root / "loop-a").symlink_to("loop-b")
    (root / "loop-b").symlink_to("loop-a")
    (root / "dir-link").symlink_to("/usr")
    return root


def where(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ""),
        ("", ""),
        ("/usr/lib/os-release", "usr/lib/os-release"),
        ("usr/lib/os-release", "usr/lib/os-release"),
        ("//usr///lib/./os-release", "usr/lib/os-release"),
        ("/etc/os-release", "usr/lib/os-release"),  # relative link
        ("/etc/abs", "usr/lib/os-release"),  # absolute link: from the container's root
        ("/lib/os-release", "usr/lib/os-release"),  # a linked directory
        ("/dir-link/lib", "usr/lib"),
        ("/dir-link/../etc", "etc"),  # .. after a link goes up from where the link led
        ("/lib/../bin", "usr/bin"),
        ("/../../../etc/hostname", "etc/hostname"),  # .. at the root stays at the root
        ("/usr/../../..", ""),
        ("/etc/escape", "etc/hostname"),  # a relative link cannot climb out
        ("/etc/host", "etc/hostname"),  # an absolute link cannot point at the host
    ],
)
def test_paths_resolve_inside_the_root(tree: Path, resolver: Resolver, path: str, expected: str) -> None:
    with Root(tree, resolver=resolver) as root:
        found = where(root.open(path, os.O_PATH))
    assert found == str(tree.joinpath(*[p for p in expected.split("/") if p]))


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/missing/dir/file", FileNotFoundError),
        ("/usr/lib/os-release/x", NotADirectoryError),  # through a file
        ("/loop-a", PathEscape),
    ],
)
def test_what_does_not_resolve(tree: Path, resolver: Resolver, path: str, error: type[Exception]) -> None:
    with Root(tree, resolver=resolver) as root, pytest.raises(error):
        root.open(path)


def test_a_final_link_can_be_kept(tree: Path, resolver: Resolver) -> None:
    with Root(tree, resolver=resolver) as root:
        assert where(root.open("/etc/abs", os.O_PATH, follow=False)) == str(tree / "etc" / "abs")
        # links before the last component are still followed
        assert where(root.open("/lib/os-release", os.O_PATH, follow=False)) == str(
            tree / "usr/lib/os-release"
        )
        parent, name = root.parent("/lib/os-release")
        assert (where(parent), name) == (str(tree / "usr" / "lib"), "os-release")
        parent, name = root.parent("/usr/lib/..")
        assert (where(parent), name) == (str(tree / "usr"), ".")


def test_a_long_chain_and_a_self_link(tree: Path, resolver: Resolver) -> None:
    previous = "usr/lib/os-release"
    for i in range(30):
        (tree / f"chain{i}").symlink_to(previous)
        previous = f"chain{i}"
    (tree / "self").symlink_to("/self")
    with Root(tree, resolver=resolver) as root:
        assert where(root.open(f"/{previous}", os.O_PATH)) == str(tree / "usr/lib/os-release")
        with pytest.raises(InvalidArgument, match="too many levels of symbolic links"):
            root.open("/self/x")


def test_files_are_made_where_the_path_leads(tree: Path, resolver: Resolver) -> None:
    (tree / "etc" / "to-host-dir").symlink_to(str(tree.parent / "host"))
    (tree.parent / "host").mkdir()
    with Root(tree, resolver=resolver) as root:
        fd = root.open("/lib/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        assert where(fd) == str(tree / "usr" / "lib" / "new")
        with pytest.raises(FileExistsError):
            root.open("/etc/abs", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with pytest.raises(FileNotFoundError):  # the link's target, inside, does not exist
            root.open("/etc/to-host-dir/x", os.O_WRONLY | os.O_CREAT)
    assert list((tree.parent / "host").iterdir()) == []


def test_make_dirs_follows_links_inside_even_dangling_ones(tree: Path) -> None:
    (tree / "etc" / "dangling").symlink_to("/srv/data")
    with Root(tree) as root:
        fd, made = root.make_dirs("/etc/dangling/app/work")
        assert (where(fd), made) == (str(tree / "srv" / "data" / "app" / "work"), True)
        fd, made = root.make_dirs("/usr/lib")
        assert (where(fd), made) == (str(tree / "usr" / "lib"), False)
        with pytest.raises(NotADirectoryError):
            root.make_dirs("/usr/lib/os-release/x")


def test_read_file(tree: Path, resolver: Resolver) -> None:
    os.mkfifo(tree / "fifo")
    with Root(tree, resolver=resolver) as root:
        assert root.read_file("/etc/os-release", 100) == b"ID=test\n"
        assert root.read_file("/etc/host", 100) == b"inside\n"  # the root's own, not the host's
        assert root.read_file("/etc/missing", 100) is None
        with pytest.raises(InvalidArgument, match="is a directory"):
            root.read_file("/usr", 100)
        with pytest.raises(InvalidArgument, match="is a FIFO"):
            root.read_file("/fifo", 100)
        with pytest.raises(InvalidArgument, match="too large"):
            root.read_file("/etc/os-release", 3)


@pytest.fixture
def racer(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    with swapping(tmp_path) as roots:
        yield roots


def test_a_swap_during_the_walk_never_leads_out(racer: tuple[Path, Path], resolver: Resolver) -> None:
    root_path, host = racer
    seen: set[bytes] = set()
    with Root(root_path, resolver=resolver) as root:
        for i in range(3000):
            try:
                fd = root.open("/w/dir/keep")
            except (FileNotFoundError, NotADirectoryError):
                seen.add(b"missing")
            else:
                seen.add(os.read(fd, 10))
                os.close(fd)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, FileExistsError):
                os.close(root.open(f"/w/dir/new{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    assert b"HOST" not in seen
    assert sorted(p.name for p in host.iterdir()) == ["keep"]
