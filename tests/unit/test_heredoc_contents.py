"""What a COPY heredoc writes, for which Dockerfile: the build runs on a recording backend
and the layer's files are read back.

Cases from moby/buildkit frontend/dockerfile/dockerfile_heredoc_test.go (Apache-2.0), commit
73ed682: testCopyHeredoc, testCopyHeredocSpecialSymbols, testHeredocIndent (the COPY part),
testHeredocVarSubstitution (the COPY part); the expected contents are BuildKit's. (Their RUN
cases need a shell: tests/integration/test_build.py runs a few with a real ``cove build``.)
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from cove.build.backend import Layer, LayerWriter
from cove.build.context import Context
from cove.db.database import Database
from tests.unit.test_build_executor import RecordingBackend, build, fake_layer


class CapturingBackend(RecordingBackend):
    """Keeps each layer's regular files and their contents."""

    def __init__(self, db: Database, tmp: Path) -> None:
        super().__init__(db, tmp)
        self.files: dict[str, bytes] = {}

    def add_layer(self, layers: Sequence[Layer], write: LayerWriter, *, mirror: bool = False) -> Layer | None:
        buf = io.BytesIO()
        write(buf, None)
        buf.seek(0)
        with tarfile.open(fileobj=buf) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    data = tar.extractfile(member)
                    assert data is not None
                    self.files[member.name] = data.read()
        return fake_layer(repr(sorted(self.files.items())))


# (the Dockerfile after its FROM, {path in the image: content})
CASES: list[tuple[str, str, dict[str, str]]] = [
    (
        "testCopyHeredoc",
        "WORKDIR /dest\nCOPY <<EOF single\nsingle file\nEOF\n"
        "COPY <<EOF <<EOF2 double/\nfirst file\nEOF\nsecond file\nEOF2\n",
        {
            "dest/single": "single file\n",
            "dest/double/EOF": "first file\n",
            "dest/double/EOF2": "second file\n",
        },
    ),
    (
        "testCopyHeredocSpecialSymbols",
        'COPY <<EOF quotefile\n"quotes in file"\nEOF\n'
        "COPY <<EOF slashfile1\n\\\nEOF\n"
        "COPY <<EOF slashfile2\n\\\\\nEOF\n"
        "COPY <<EOF slashfile3\n\\$\nEOF\n"
        'COPY <<"EOF" rawslashfile1\n\\\nEOF\n'
        'COPY <<"EOF" rawslashfile2\n\\\\\nEOF\n'
        'COPY <<"EOF" rawslashfile3\n\\$\nEOF\n',
        {
            "quotefile": '"quotes in file"\n',
            "slashfile1": "\n",
            "slashfile2": "\\\n",
            "slashfile3": "$\n",
            "rawslashfile1": "\\\n",
            "rawslashfile2": "\\\\\n",
            "rawslashfile3": "\\$\n",
        },
    ),
    (
        "testHeredocIndent",
        "COPY <<EOF /dest/foo-copy\n\tfoo\nEOF\nCOPY <<-EOF /dest/bar-copy\n\tbar\nEOF\n",
        {"dest/foo-copy": "\tfoo\n", "dest/bar-copy": "bar\n"},
    ),
    (
        "testHeredocVarSubstitution",
        "ARG name=world\n"
        "COPY <<EOF /dest/c1\nHello ${name}!\nEOF\n"
        "COPY <<'EOF' /dest/c2\nHello ${name}!\nEOF\n"
        'COPY <<"EOF" /dest/c3\nHello ${name}!\nEOF\n'
        "COPY <<EOF /dest/q1\nHello '${name}'!\nEOF\n"
        'COPY <<EOF /dest/q2\nHello "${name}"!\nEOF\n'
        "COPY <<'EOF' /dest/qsingle1\nHello '${name}'!\nEOF\n"
        "COPY <<'EOF' /dest/qsingle2\nHello \"${name}\"!\nEOF\n"
        "COPY <<\"EOF\" /dest/qdouble1\nHello '${name}'!\nEOF\n"
        'COPY <<"EOF" /dest/qdouble2\nHello "${name}"!\nEOF\n',
        {
            "dest/c1": "Hello world!\n",
            "dest/c2": "Hello ${name}!\n",
            "dest/c3": "Hello ${name}!\n",
            "dest/q1": "Hello 'world'!\n",
            "dest/q2": 'Hello "world"!\n',
            "dest/qsingle1": "Hello '${name}'!\n",
            "dest/qsingle2": 'Hello "${name}"!\n',
            "dest/qdouble1": "Hello '${name}'!\n",
            "dest/qdouble2": 'Hello "${name}"!\n',
        },
    ),
    (
        "the issue's cause 3: JSON and an apostrophe",
        'ARG v=value\nCOPY <<EOF /config.json\n{"key": "$v"}\nEOF\nCOPY <<EOF /motd\nit\'s ${v}\nEOF\n',
        {"config.json": '{"key": "value"}\n', "motd": "it's value\n"},
    ),
    (
        "a heredoc beside a file of the context",
        "COPY <<EOF b.txt /out/\ninline\nEOF\n",
        {"out/EOF": "inline\n", "out/b.txt": "b\n"},
    ),
]


@pytest.mark.parametrize(("name", "dockerfile", "expected"), CASES, ids=[c[0] for c in CASES])
def test_heredoc_contents(tmp_path: Path, name: str, dockerfile: str, expected: dict[str, str]) -> None:
    db = Database(tmp_path / "cove.db")
    (tmp_path / "image").mkdir()
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "b.txt").write_text("b\n")
    try:
        backend = CapturingBackend(db, tmp_path / "image")
        build(backend, Context(tmp_path / "ctx"), "FROM base\n" + dockerfile)
    finally:
        db.close()
    assert {path: data.decode() for path, data in backend.files.items()} == expected
