"""Resolving a build context as Docker's client does: directory, stream (tar or a lone
Dockerfile), http(s) URL (served here from 127.0.0.1), and Git URLs refused."""

from __future__ import annotations

import contextlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from cove.engine.build_context import (
    DOCKERFILE_MAX,
    ContextKind,
    context_kind,
    is_archive,
    resolve_context,
)
from cove.errors import InvalidArgument, NotFound, Unavailable


class Unpacker:
    """The build service's two context calls, over a plain directory (the real one unpacks
    with the engine's archive reader; that is tested with the build service)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.unpacked: list[Path] = []

    @contextlib.contextmanager
    def context_from_archive(self, source: BinaryIO) -> Iterator[Path]:
        root = self.work / f"ctx{len(self.unpacked)}"
        root.mkdir()
        with tarfile.open(fileobj=source, mode="r|*") as tar:
            tar.extractall(root)  # (the test's own archives)
        self.unpacked.append(root)
        yield root

    def context_file(self, root: Path, name: str) -> str | None:
        path = root / name
        return path.read_text() if path.is_file() else None


def _enter(*args: object, **kw: object) -> None:
    with resolve_context(*args, **kw):  # type: ignore[arg-type]
        pass


def _tar(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def unpacker(tmp_path: Path) -> Unpacker:
    work = tmp_path / "work"
    work.mkdir()
    return Unpacker(work)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()
    thread.join()


def test_kinds() -> None:
    assert context_kind(".") is ContextKind.DIRECTORY
    assert context_kind("https://example.com/ctx.tar.gz") is ContextKind.URL
    for git in ("git@github.com:a/b.git", "git://host/a", "https://host/a/b.git", "https://h/b.git#main"):
        assert context_kind(git) is ContextKind.GIT, git


def test_a_git_url_is_refused_clearly(unpacker: Unpacker) -> None:
    with pytest.raises(InvalidArgument, match=r"Git contexts .* cannot be fetched here"):
        _enter(unpacker, "https://example.com/repo.git")


def test_a_directory_and_its_dockerfile(unpacker: Unpacker, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    with resolve_context(unpacker, str(ctx)) as context:
        assert (context.root, context.dockerfile, context.dockerfile_path) == (
            ctx,
            "FROM scratch\n",
            ctx / "Dockerfile",
        )
    other = tmp_path / "Other.dockerfile"  # -f outside the context, as Docker allows
    other.write_text("FROM busybox\n")
    with resolve_context(unpacker, str(ctx), dockerfile=str(other)) as context:
        assert context.dockerfile == "FROM busybox\n" and context.dockerfile_path == other
    with resolve_context(unpacker, str(ctx), dockerfile_text="FROM x\n") as context:
        assert context.dockerfile == "FROM x\n" and context.dockerfile_path is None
    with pytest.raises(NotFound, match="not a directory"):
        _enter(unpacker, str(tmp_path / "missing"))
    (ctx / "Dockerfile").unlink()
    with pytest.raises(NotFound, match="cannot read the Dockerfile"), resolve_context(unpacker, str(ctx)):
        pass


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_a_tar_stream(unpacker: Unpacker, mode: str) -> None:
    data = _tar({"Dockerfile": b"FROM scratch\nCOPY a /\n", "a": b"1", "sub/Alt": b"FROM alt\n"}, mode)
    assert is_archive(data[:512])
    with resolve_context(unpacker, io.BytesIO(data)) as context:
        assert context.dockerfile == "FROM scratch\nCOPY a /\n"
        assert (context.root / "a").read_bytes() == b"1"
        assert context.dockerfile_path == context.root / "Dockerfile"
    with resolve_context(unpacker, io.BytesIO(data), dockerfile="sub/Alt") as context:
        assert context.dockerfile == "FROM alt\n"
    with pytest.raises(NotFound, match="holds no Nope"):
        _enter(unpacker, io.BytesIO(data), dockerfile="Nope")


def test_a_lone_dockerfile_on_the_stream_has_an_empty_context(unpacker: Unpacker) -> None:
    with resolve_context(unpacker, io.BytesIO(b"FROM busybox\nRUN true\n")) as context:
        assert context.dockerfile == "FROM busybox\nRUN true\n"
        assert list(context.root.iterdir()) == []
        root = context.root
    assert not root.exists()  # the temporary context goes with the with
    assert unpacker.unpacked == []


def test_a_huge_non_archive_stream_is_refused_not_read_whole(unpacker: Unpacker) -> None:
    with pytest.raises(InvalidArgument, match="neither a tar archive nor a Dockerfile"):
        _enter(unpacker, io.BytesIO(b"x" * (DOCKERFILE_MAX + 1)))


def test_a_url_to_a_tarball_or_a_dockerfile(unpacker: Unpacker, served: tuple[str, Path]) -> None:
    base, www = served
    (www / "ctx.tar.gz").write_bytes(_tar({"Dockerfile": b"FROM scratch\n", "f": b"web"}))
    (www / "Dockerfile").write_text("FROM busybox\n")
    with resolve_context(unpacker, f"{base}/ctx.tar.gz") as context:
        assert context.dockerfile == "FROM scratch\n" and (context.root / "f").read_bytes() == b"web"
    with resolve_context(unpacker, f"{base}/Dockerfile") as context:
        assert context.dockerfile == "FROM busybox\n"
    with pytest.raises(Unavailable, match="HTTP 404"), resolve_context(unpacker, f"{base}/missing.tar"):
        pass
