"""Secrets and configs: where they land, what they hold, who owns them, and the tar that carries them."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from cove.compose.errors import ComposeError
from cove.compose.loader import load_project
from cove.compose.model import FileReference
from cove.compose.options import ProjectOptions
from cove.compose.secrets import MAX_FILE_BYTES, FileKind, InjectedFile, archive_of, service_files, target_of

S, C = FileKind.SECRET, FileKind.CONFIG


@pytest.mark.parametrize(
    ("kind", "ref", "target"),
    [
        (S, FileReference("db"), "/run/secrets/db"),
        (S, FileReference("db", target="pw"), "/run/secrets/pw"),
        (S, FileReference("db", target="sub/pw"), "/run/secrets/sub/pw"),
        (S, FileReference("db", target="/etc/pw"), "/etc/pw"),
        (C, FileReference("cfg"), "/cfg"),
        (C, FileReference("cfg", target="app/cfg.ini"), "/app/cfg.ini"),
        (C, FileReference("cfg", target="/etc/app.ini"), "/etc/app.ini"),
    ],
)
def test_targets(kind: FileKind, ref: FileReference, target: str) -> None:
    assert target_of(kind, ref) == target


COMPOSE = """
services:
  app:
    image: busybox
    secrets:
      - plain
      - source: owned
        target: token
        uid: "1000"
        gid: "2000"
        mode: 0400
      - source: from_env
        target: /etc/from_env
        mode: 0440
    configs:
      - inline
      - source: from_file
        target: /etc/app.conf
        uid: "7"
secrets:
  plain: {file: ./secret.txt}
  owned: {file: ./owned.txt}
  from_env: {environment: TOKEN}
configs:
  inline: {content: "key=value"}
  from_file: {file: ./app.conf}
"""


def project(tmp_path: Path, text: str = COMPOSE, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    (tmp_path / "compose.yaml").write_text(text)
    (tmp_path / "secret.txt").write_text("from a file\n")
    (tmp_path / "app.conf").write_text("conf\n")
    (tmp_path / "owned.txt").write_text("s3cret")
    return load_project(
        ProjectOptions(working_dir=str(tmp_path), environ={"TOKEN": "t0k"} if environ is None else environ)
    )


def test_sources_owners_and_modes(tmp_path: Path) -> None:
    p = project(tmp_path)
    files = service_files(p, p.services["app"])
    got = [(f.kind, f.name, f.target, f.data, f.uid, f.gid, oct(f.mode)) for f in files]
    assert got == [
        (S, "plain", "/run/secrets/plain", b"from a file\n", 0, 0, "0o444"),
        (S, "owned", "/run/secrets/token", b"s3cret", 1000, 2000, "0o400"),
        (S, "from_env", "/etc/from_env", b"t0k", 0, 0, "0o440"),
        (C, "inline", "/inline", b"key=value", 0, 0, "0o444"),
        (C, "from_file", "/etc/app.conf", b"conf\n", 7, 0, "0o444"),
    ]


def test_dotenv_feeds_an_environment_secret(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TOKEN=from-dotenv\n")
    p = project(tmp_path, environ={})
    [value] = [f.data for f in service_files(p, p.services["app"]) if f.name == "from_env"]
    assert value == b"from-dotenv"


def test_an_unset_environment_secret_is_one_clear_error(tmp_path: Path) -> None:
    p = project(tmp_path, environ={"OTHER": "1"})
    with pytest.raises(
        ComposeError, match='environment variable "TOKEN" required by secret "from_env" is not set'
    ):
        service_files(p, p.services["app"])


def test_external_secret_is_refused(tmp_path: Path) -> None:
    text = "services:\n  a:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: {external: true}\n"
    p = project(tmp_path, text)
    with pytest.raises(ComposeError, match='secret "s" is external: cove has no swarm'):
        service_files(p, p.services["a"])


def test_missing_file_and_oversized_file(tmp_path: Path) -> None:
    text = "services:\n  a:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: {file: ./nope}\n"
    p = project(tmp_path, text)
    with pytest.raises(ComposeError, match=r'secret "s": cannot read .*/nope: No such file'):
        service_files(p, p.services["a"])
    (tmp_path / "nope").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ComposeError, match="is over 8 MiB"):
        service_files(p, p.services["a"])


def test_non_numeric_uid_is_refused(tmp_path: Path) -> None:
    text = (
        "services:\n  a:\n    image: busybox\n    configs: [{source: s, uid: root}]\n"
        "configs:\n  s: {content: x}\n"
    )
    p = project(tmp_path, text)
    with pytest.raises(ComposeError, match=r"services\.a\.configs\[0\]\.uid: 'root' is not a numeric ID"):
        service_files(p, p.services["a"])


def test_the_archive_carries_owner_and_mode_and_no_directories() -> None:
    data = archive_of([InjectedFile(S, "s", "/run/secrets/s", b"abc", uid=5, gid=6, mode=0o400)])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        [member] = tar.getmembers()
        assert (member.name, member.uid, member.gid, member.mode, member.isfile()) == (
            "run/secrets/s", 5, 6, 0o400, True,
        )  # fmt: skip
        extracted = tar.extractfile(member)
        assert extracted is not None and extracted.read() == b"abc"
