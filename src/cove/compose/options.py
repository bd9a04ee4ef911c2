"""Which files make the project, where it lives and what it is called: Compose's discovery rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cove.compose.errors import ComposeError

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yaml", "docker-compose.override.yml")  # fmt: skip
STDIN = "-"
MAX_FILE_BYTES = 8 << 20  # one compose file, stdin included


class NoConfigFile(ComposeError):
    """No compose file was named or found: commands that need only the project's name (``ps
    -p NAME``, ``logs -p NAME``) go on with it, as Docker Compose's do."""


@dataclass(frozen=True)
class ProjectOptions:
    """What the command line and the environment say; ``environ`` is the process environment."""

    files: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    services: tuple[str, ...] = ()  # named on the command line: enabled whatever their profiles
    interpolate: bool = True
    working_dir: str = "."
    environ: Mapping[str, str] = field(default_factory=dict)
    # reads `-` (a `-f -` or a `-` in COMPOSE_FILE) up to a size; None: there is no input to read
    read_stdin: Callable[[int], str] | None = None
    max_file_bytes: int = MAX_FILE_BYTES
    warn: Callable[[str], None] | None = None  # told each warning, one line


def normalize_project_name(name: str) -> str:
    """Compose's rule: lower case, only [a-z0-9_-], starting with a letter or digit."""
    name = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return name.lstrip("_-")


def check_project_name(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ComposeError(
            f'invalid project name "{name}": must consist only of lowercase alphanumeric characters, '
            "hyphens, and underscores as well as start with a letter or number"
        )
    return name


def find_files(options: ProjectOptions) -> list[str]:
    """The compose files in merge order (absolute paths, or ``-`` for stdin)."""
    cwd = Path(options.working_dir).absolute()
    given = list(options.files)
    if not given and options.environ.get("COMPOSE_FILE"):
        sep = options.environ.get("COMPOSE_PATH_SEPARATOR") or ":"
        given = [f for f in options.environ["COMPOSE_FILE"].split(sep) if f]
    if given:
        out = []
        for name in given:
            if name == STDIN:
                out.append(STDIN)
                continue
            path = Path(name) if Path(name).is_absolute() else cwd / name
            if not path.exists():
                raise ComposeError(f"open {path}: no such file or directory")
            out.append(str(path))
        return out
    # Without files, they are looked for from --project-directory when it is given (compose-go's
    # working directory), else from the current one, walking up.
    directory = cwd / options.project_directory if options.project_directory else cwd
    while True:
        for candidate in DEFAULT_FILES:
            if (directory / candidate).is_file():
                files = [str(directory / candidate)]
                for override in OVERRIDE_FILES:
                    if (directory / override).is_file():
                        files.append(str(directory / override))
                        break
                return files
        if directory.parent == directory:
            raise NoConfigFile("no configuration file provided: not found")
        directory = directory.parent


def project_directory(options: ProjectOptions, files: Sequence[str]) -> Path:
    if options.project_directory:
        return (Path(options.working_dir) / options.project_directory).absolute()
    first = next((f for f in files if f != STDIN), None)
    return Path(first).parent if first else Path(options.working_dir).absolute()
