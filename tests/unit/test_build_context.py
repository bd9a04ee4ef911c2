"""The build context: .dockerignore applied, COPY sources, and the digest that keys COPY's cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cove.build.context import Context
from cove.errors import InvalidArgument, NotFound


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    tree(tmp_path, {
        "app/main.py": "print('hi')\n", "app/util.py": "x = 1\n", "app/data/big.bin": "0" * 100,
        "README.md": "readme\n", "notes.md": "notes\n", "secret.env": "KEY=1\n",
        "vendor/lib.py": "lib\n", "vendor/keep.py": "keep\n",
        ".dockerignore": "secret.env\n*.md\n!README.md\nvendor\n!vendor/keep.py\n",
    })  # fmt: skip
    return Context(tmp_path)


def test_files_honour_dockerignore(ctx: Context) -> None:
    files = set(ctx.files())
    assert {"app", "app/main.py", "app/data/big.bin", "README.md", "vendor/keep.py"} <= files
    assert not {"secret.env", "notes.md", "vendor/lib.py", "vendor"} & files


def test_sources(ctx: Context) -> None:
    assert ctx.sources("app/*.py") == ["app/main.py", "app/util.py"]
    assert ctx.sources("./app") == ["app"]
    assert ctx.sources(".") == [""]
    assert ctx.sources("*.md") == ["README.md"]  # notes.md is ignored
    for missing in ("nope.txt", "secret.env", "*.rs"):
        with pytest.raises(NotFound):
            ctx.sources(missing)
    with pytest.raises(InvalidArgument, match="outside the build context"):
        ctx.sources("../etc/passwd")


def test_digest_follows_content_and_mode_not_time(ctx: Context) -> None:
    root = ctx.root
    before = ctx.digest(["app"])
    for path in root.rglob("*"):  # touch everything
        os.utime(path, (1_000_000, 1_000_000))
    assert ctx.digest(["app"]) == before
    main = root / "app/main.py"
    stamp = main.stat()
    main.write_text("print('HI')\n")  # same size...
    os.utime(main, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # ...and the same mtime
    changed = ctx.digest(["app"])
    assert changed != before
    main.chmod(0o755)
    assert ctx.digest(["app"]) != changed
    assert ctx.digest(["README.md"]) == ctx.digest(["README.md"])
    assert ctx.digest(["README.md"]) != ctx.digest(["app"])
    (root / "app/link").symlink_to("main.py")
    assert ctx.digest(["app"]) != changed
