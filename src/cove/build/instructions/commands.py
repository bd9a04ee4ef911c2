"""One frozen dataclass per Dockerfile instruction, as the build reads them.

Values stay as written: variables are expanded when the instruction is dispatched, in its
stage's scope (BuildKit's order). ``line``/``end_line`` are the instruction's range in the
file (heredoc bodies included); ``original`` is the instruction as written, continuations
joined; ``flags`` are its flags as written, in order (for the cache key and history).
"""

from __future__ import annotations

from dataclasses import dataclass

from cove.build.dockerfile import split_command
from cove.build.instructions.mounts import RunMount


@dataclass(frozen=True, kw_only=True)
class BaseInstruction:
    line: int
    end_line: int
    original: str
    flags: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # accepted, but worth a word (deprecated forms)

    keyword = ""  # upper case, set by each class

    def written_arguments(self) -> str:
        """What follows the keyword and the flags, as written (continuations joined): the
        text of the instruction's history entry and cache key."""
        return split_command(self.original, "\\")[2]


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    legacy: bool = False  # written ``KEY value`` (no "="): the old form


@dataclass(frozen=True)
class ArgSpec:
    name: str
    default: str | None  # None: ``ARG NAME`` without a default


@dataclass(frozen=True)
class HeredocFile:
    """A heredoc: a COPY/ADD source (a file named after it) or a RUN's inline document."""

    name: str
    content: str  # the body, each line ending "\n" (leading tabs gone with <<-)
    expand: bool  # the name was not quoted: COPY/ADD expand "$" in it when dispatched
    chomp: bool = False
    fd: int | None = None


@dataclass(frozen=True, kw_only=True)
class From(BaseInstruction):
    keyword = "FROM"
    image: str  # as written: an image, a stage's name or index, or scratch
    name: str | None = None  # the AS name, lower case
    platform: str | None = None  # --platform, as written


@dataclass(frozen=True, kw_only=True)
class ShellDependent(BaseInstruction):
    """RUN, CMD and ENTRYPOINT: the exec form's strings, or the shell form's one string."""

    command: tuple[str, ...]  # exec form: argv; shell form: (text,) or () when empty
    shell: bool  # the shell form: the stage's SHELL runs it
    heredocs: tuple[HeredocFile, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Run(ShellDependent):
    keyword = "RUN"
    mounts: tuple[RunMount, ...] = ()
    network: str = "default"  # default (the build's), none or host
    security: str = "sandbox"


@dataclass(frozen=True, kw_only=True)
class Cmd(ShellDependent):
    keyword = "CMD"


@dataclass(frozen=True, kw_only=True)
class Entrypoint(ShellDependent):
    keyword = "ENTRYPOINT"


@dataclass(frozen=True, kw_only=True)
class SourcesAndDest(BaseInstruction):
    sources: tuple[str, ...]  # paths (or URLs for ADD), as written
    dest: str
    heredocs: tuple[HeredocFile, ...] = ()  # heredoc sources, each a file named after it
    json: bool = False  # the exec form: ["src", "dest"]
    chown: str = ""
    chmod: str = ""
    link: bool = False
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Copy(SourcesAndDest):
    keyword = "COPY"
    from_: str = ""  # --from: a stage (name or index) or an image
    parents: bool = False


@dataclass(frozen=True, kw_only=True)
class Add(SourcesAndDest):
    keyword = "ADD"
    checksum: str = ""
    keep_git_dir: bool | None = None
    unpack: bool | None = None  # None: archives from the context are unpacked, URLs are not


@dataclass(frozen=True, kw_only=True)
class Env(BaseInstruction):
    keyword = "ENV"
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Label(BaseInstruction):
    keyword = "LABEL"
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Arg(BaseInstruction):
    keyword = "ARG"
    args: tuple[ArgSpec, ...]


@dataclass(frozen=True, kw_only=True)
class Expose(BaseInstruction):
    keyword = "EXPOSE"
    ports: tuple[str, ...]  # as written, sorted (BuildKit sorts them)


@dataclass(frozen=True, kw_only=True)
class User(BaseInstruction):
    keyword = "USER"
    user: str


@dataclass(frozen=True, kw_only=True)
class Workdir(BaseInstruction):
    keyword = "WORKDIR"
    path: str


@dataclass(frozen=True, kw_only=True)
class Volume(BaseInstruction):
    keyword = "VOLUME"
    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class StopSignal(BaseInstruction):
    keyword = "STOPSIGNAL"
    signal: str


@dataclass(frozen=True, kw_only=True)
class Shell(BaseInstruction):
    keyword = "SHELL"
    shell: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Healthcheck(BaseInstruction):
    """``HEALTHCHECK NONE`` (test ``("NONE",)``) or ``CMD``: test ``("CMD", argv...)`` for the
    exec form, ``("CMD-SHELL", text)`` for the shell form. Durations in nanoseconds (0: not
    set, the engine's default)."""

    keyword = "HEALTHCHECK"
    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, kw_only=True)
class OnBuild(BaseInstruction):
    keyword = "ONBUILD"
    expression: str  # what the image config keeps: the trigger as written (heredocs appended)
    trigger: Instruction


@dataclass(frozen=True, kw_only=True)
class Maintainer(BaseInstruction):
    keyword = "MAINTAINER"
    maintainer: str


Instruction = (
    From
    | Run
    | Cmd
    | Entrypoint
    | Copy
    | Add
    | Env
    | Label
    | Arg
    | Expose
    | User
    | Workdir
    | Volume
    | StopSignal
    | Shell
    | Healthcheck
    | OnBuild
    | Maintainer
)

LAYER_INSTRUCTIONS = (Run, Copy, Add)
