"""What the RUN and COPY/ADD preparers share with the executor.

A step is prepared (its arguments, flags and inputs worked out, for the cache key) before
it is looked up in the cache; only on a miss is its ``make`` called to produce the layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cove.archive.treetar import copy_tree
from cove.build.backend import BuildBackend, Layer
from cove.build.context import Context
from cove.build.instructions import Instruction
from cove.build.metadata import StageState
from cove.build.stages import Stage
from cove.host.inroot import DIRECTORY_FLAGS, Root, opened


@dataclass(frozen=True)
class BuildOptions:
    build_args: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = "default"
    secrets: Mapping[str, Path] = field(default_factory=dict)
    platform: str = "linux/amd64"  # the target platform
    build_platform: str = "linux/amd64"  # where RUN commands execute


@dataclass
class StageWork:
    """One stage at work: its state as the steps go by."""

    stage: Stage
    label: str
    config: dict[str, Any]
    meta: StageState
    layers: list[Layer]
    history: list[dict[str, Any]]
    key: str
    platform: str
    rebuilt: bool = False  # a step of this stage missed the cache: the later ones will too
    changed_setting: str = ""  # the first metadata step that was new (a build arg's value...)


@dataclass
class PreparedStep:
    """A RUN, COPY or ADD ready to be keyed and, on a miss, made."""

    arguments: str  # the instruction's arguments as they enter the key (expanded, JSON)
    flags: dict[str, list[str]]
    build_args: dict[str, str]  # RUN: the build args its command sees
    inputs: str  # digest of what else it reads (source files, mounted files)
    inputs_shown: str  # what a record keeps to tell "same step, other inputs" apart
    history: str  # its history entry's created_by
    make: Callable[[Callable[[str], None]], Layer | None]  # makes the layer; gets output lines


class StepHost(Protocol):
    """What a step preparer needs from the executor."""

    backend: BuildBackend
    context: Context
    options: BuildOptions
    escape: str

    def files_of(self, work: StageWork, x: Instruction, origin: str, cleanup: ExitStack) -> tuple[Path, str]:
        """The files of a stage or image named by ``--from``/``from=``, and what identifies them."""
        ...

    def origin_identity(self, work: StageWork, origin: str) -> str:
        """What identifies the files of a stage or image named by ``--from``, unmounted."""
        ...


def digest_of(value: object) -> str:
    """A SHA-256 of a JSON-able value (keys sorted)."""
    return "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def copy_source(files: Context, source: str, target: Path, spool: Path) -> None:
    """A copy of what ``source`` leads to in ``files`` at ``target`` (read inside their root)."""
    found = files.kind(source)
    if found is not None and stat.S_ISDIR(found.st_mode):
        target.mkdir(parents=True)
        with (
            Root(files.root) as root,
            opened(root.open_dir(source)) as src,
            opened(os.open(target, DIRECTORY_FLAGS)) as dst,
        ):
            copy_tree(src, dst, spool)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(files.open_file(source), "rb") as src, open(target, "xb") as dst:
        shutil.copyfileobj(src, dst)
        os.fchmod(dst.fileno(), stat.S_IMODE(os.fstat(src.fileno()).st_mode))
