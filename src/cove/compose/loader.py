"""Loading a compose project: files found, read, interpolated, checked, extended, included, merged.

The pipeline is Compose's: each file is parsed (bounded, yamlfile), interpolated from the process
environment over ``.env`` / ``--env-file``, checked against the schema, its ``extends`` and
``include`` resolved; the files merge in order (merge), profiles choose the services, the short
syntaxes become long ones (normalize), and the cross-references are checked last. The result is
the canonical tree ``docker compose config`` prints; ``cove.compose.model`` types it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from cove.compose import merge as merging
from cove.compose import normalize
from cove.compose.casts import cast_typed
from cove.compose.checks import check_references
from cove.compose.dotenv import read_dotenv, read_dotenv_files
from cove.compose.errors import ComposeError
from cove.compose.interpolation import InterpolationError, interpolate
from cove.compose.model import Project, project_of
from cove.compose.options import (
    STDIN,
    ProjectOptions,
    check_project_name,
    find_files,
    normalize_project_name,
    project_directory,
)
from cove.compose.schema import validate
from cove.compose.yamlfile import Override, load_yaml

MAX_DEPTH = 16
KINDS = ("networks", "volumes", "secrets", "configs")
Lookup = Callable[[str], str | None]


def _read(path: str, stdin: Callable[[int], str] | None, limit: int) -> tuple[str, str]:
    """(display name, text) of one file, bounded in size; ``stdin`` reads ``-`` (up to a size)."""
    if path == STDIN:
        if stdin is None:
            raise ComposeError("-: no standard input to read the compose file from")
        text = stdin(limit + 1)
        name = "-"
    else:
        name = Path(path).name
        try:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise ComposeError(f"open {path}: {exc.strerror}") from None
        text = data.decode("utf-8", errors="replace")
    if len(text) > limit:
        raise ComposeError(f"{name}: the file is larger than {limit} bytes")
    return name, text


def _interpolated(tree: Any, env: dict[str, str], source: str, warn: Callable[[str], None] | None) -> Any:
    """The file's tree interpolated, the strings at typed keys cast (inside ``!override`` values
    too, which both walks leave as they are); errors name the file."""

    def overrides(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, Override):
            inner = interpolate(value.value, env.get, path=path, warn=unset)
            return Override(cast_typed(inner, path=path, warn=cast_warning))
        if isinstance(value, dict):
            return {k: overrides(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [overrides(v, (*path, i)) for i, v in enumerate(value)]
        return value

    said: set[str] = set()

    def unset(name: str) -> None:
        if warn is not None and name not in said:
            said.add(name)
            warn(f'The "{name}" variable is not set. Defaulting to a blank string.')

    def cast_warning(message: str) -> None:
        if warn is not None:
            warn(f"{source}: {message}")

    try:
        return overrides(cast_typed(interpolate(tree, env.get, warn=unset), warn=cast_warning), ())
    except InterpolationError as exc:
        raise InterpolationError(f"{source}: {exc}") from None


class _Loader:
    def __init__(self, options: ProjectOptions) -> None:
        self.options = options

    def env_for(self, directory: Path, env_files: list[str] | None) -> dict[str, str]:
        environ = dict(self.options.environ)
        values: dict[str, str] = {}
        if env_files:
            paths = [Path(name) if Path(name).is_absolute() else directory / name for name in env_files]
            values = read_dotenv_files(paths, lookup=environ.get)
        elif (directory / ".env").is_file():
            values.update(read_dotenv(directory / ".env", lookup=environ.get))
        return {**values, **environ}

    def read_file(
        self, path: str, env: dict[str, str], directory: Path, chain: tuple[str, ...]
    ) -> dict[str, Any]:
        """One file's tree: parsed, interpolated, checked, its extends and includes resolved."""
        if len(chain) > MAX_DEPTH:
            raise ComposeError(f"include nested deeper than {MAX_DEPTH}: {' -> '.join(chain)}")
        name, text = _read(path, self.options.read_stdin, self.options.max_file_bytes)
        loaded = load_yaml(text, name)
        if loaded is not None and not isinstance(loaded, dict):
            raise ComposeError(f"{name}: the top level must be a mapping")
        tree: dict[str, Any] = loaded or {}
        if self.options.interpolate:
            tree = cast("dict[str, Any]", _interpolated(tree, env, name, self.options.warn))
        if "version" in tree and self.options.warn is not None:
            self.options.warn(
                f"{name}: the attribute `version` is obsolete, it will be ignored, "
                "please remove it to avoid potential confusion"
            )
        validate(merging.strip(tree), name)
        services = tree.get("services") or {}
        for svc_name in list(services):
            services[svc_name] = self.extended(path, tree, svc_name, env, (f"{name}:{svc_name}",))
        for i, entry in enumerate(tree.pop("include", None) or []):
            tree = self.include(tree, entry, directory, env, (*chain, path), f"{name}: include[{i}]")
        return tree

    def extended(
        self, path: str, tree: dict[str, Any], svc_name: str, env: dict[str, str], chain: tuple[str, ...]
    ) -> Any:
        svc = (tree.get("services") or {}).get(svc_name)
        if not isinstance(svc, dict) or "extends" not in svc:
            return svc
        if len(chain) > MAX_DEPTH:
            raise ComposeError(f"extends nested deeper than {MAX_DEPTH}: {' -> '.join(chain)}")
        spec = svc["extends"]
        spec = {"service": spec} if isinstance(spec, str) else spec
        base_path, base_tree = path, tree
        if spec.get("file"):
            base_path = str(Path(path).parent / spec["file"]) if path != STDIN else spec["file"]
            name, text = _read(base_path, None, self.options.max_file_bytes)
            base_tree = load_yaml(text, name) or {}
            if self.options.interpolate:
                base_tree = _interpolated(base_tree, env, name, self.options.warn)
        base_name = spec["service"]
        link = f"{Path(base_path).name}:{base_name}"
        if link in chain:
            raise ComposeError(f"extends cycle: {' -> '.join((*chain, link))}")
        if base_name not in (base_tree.get("services") or {}):
            raise ComposeError(
                f"{Path(path).name}: services.{svc_name}.extends: "
                f'cannot find service "{base_name}" in {Path(base_path).name}'
            )
        base = merging.strip(self.extended(base_path, base_tree, base_name, env, (*chain, link)))
        if base_path not in (path, STDIN):
            # The base's relative paths are its own file's, as for an included file.
            holder = {"services": {base_name: base}}
            _rebase(holder, Path(base_path).parent)
            base = holder["services"][base_name]
        own = {k: v for k, v in svc.items() if k != "extends"}
        return merging.merge(base, own, ("services", svc_name))

    def include(
        self,
        tree: dict[str, Any],
        entry: Any,
        directory: Path,
        env: dict[str, str],
        chain: tuple[str, ...],
        at: str,
    ) -> dict[str, Any]:
        entry = {"path": entry} if isinstance(entry, str) else dict(entry)
        paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
        paths = [str(directory / p) for p in paths]
        for p in paths:
            if p in chain:
                raise ComposeError(f"include cycle: {' -> '.join(Path(c).name for c in (*chain, p))}")
        sub_dir = Path(paths[0]).parent
        if entry.get("project_directory"):
            sub_dir = (directory / entry["project_directory"]).resolve()
        env_files = entry.get("env_file")
        env_files = [env_files] if isinstance(env_files, str) else env_files
        sub_env = {
            **self.env_for(sub_dir, [str(directory / e) for e in env_files] if env_files else None),
            **env,
        }
        included: dict[str, Any] = {}
        for p in paths:
            included = merging.merge(included, self.read_file(p, sub_env, sub_dir, chain))
        _rebase(included, sub_dir)
        for kind in ("services", *KINDS):
            mine = tree.get(kind) or {}
            for key, value in (included.get(kind) or {}).items():
                if key in mine and mine[key] != value:
                    raise ComposeError(f"{at}: {kind}.{key} conflicts with imported resource")
                mine.setdefault(key, value)
            if mine:
                tree[kind] = mine
        return tree


def _rebase(tree: dict[str, Any], directory: Path) -> None:
    """Relative paths of an included file are its own project directory's."""

    def absolute(p: Any) -> Any:
        return str((directory / p).resolve()) if isinstance(p, str) and not Path(p).is_absolute() else p

    for svc in (tree.get("services") or {}).values():
        if not isinstance(svc, dict):
            continue
        build = svc.get("build")
        if isinstance(build, str):
            svc["build"] = absolute(build)
        elif isinstance(build, dict):
            build["context"] = absolute(build.get("context", "."))
        if "env_file" in svc:
            files = svc["env_file"] if isinstance(svc["env_file"], list) else [svc["env_file"]]
            svc["env_file"] = [
                {**f, "path": absolute(f["path"])} if isinstance(f, dict) else absolute(f) for f in files
            ]
        volumes: list[Any] = []
        for v in svc.get("volumes") or []:
            if isinstance(v, str) and v.startswith("."):
                source, _, rest = v.partition(":")
                volumes.append(f"{absolute(source)}:{rest}")
            elif isinstance(v, dict) and v.get("type") == "bind" and "source" in v:
                volumes.append({**v, "source": absolute(v["source"])})
            else:
                volumes.append(v)
        if "volumes" in svc:
            svc["volumes"] = volumes
    for kind in ("secrets", "configs"):
        for res in (tree.get(kind) or {}).values():
            if isinstance(res, dict) and "file" in res:
                res["file"] = absolute(res["file"])


def enabled_services(services: dict[str, Any], profiles: set[str], named: tuple[str, ...]) -> set[str]:
    """Services without profiles, those whose profile is on, and the named ones with their dependencies."""
    on = {
        n
        for n, s in services.items()
        if not s.get("profiles") or "*" in profiles or set(s["profiles"]) & profiles
    }
    todo = [n for n in named if n in services]
    while todo:
        name = todo.pop()
        if name in on and name not in named:
            continue
        on.add(name)
        todo.extend(
            d for d in normalize.as_mapping(services[name].get("depends_on")) if d in services and d not in on
        )
    return on


def load_project(options: ProjectOptions) -> Project:
    """The project, typed (cove.compose.model)."""
    tree, directory, files, env = _load(options)
    return project_of(tree, directory, tuple(files), env)


def load_tree(options: ProjectOptions) -> dict[str, Any]:
    """The canonical project tree (what `config` prints)."""
    return _load(options)[0]


def _load(options: ProjectOptions) -> tuple[dict[str, Any], Path, list[str], dict[str, str]]:
    loader = _Loader(options)
    # COMPOSE_FILE (and its separator) may come from the .env of the directory Compose starts in.
    if not options.files and "COMPOSE_FILE" not in options.environ:
        start = Path(options.working_dir, options.project_directory or ".")
        early = loader.env_for(start, [str(Path(options.working_dir, e)) for e in options.env_files] or None)
        files = find_files(replace(options, environ=early))
    else:
        files = find_files(options)
    directory = project_directory(options, files)
    env = loader.env_for(directory, list(options.env_files) or None)
    first = "-" if files[0] == STDIN else Path(files[0]).name
    tree: dict[str, Any] = {}
    for path in files:
        tree = merging.merge(tree, loader.read_file(path, env, directory, ()))
    tree = merging.enforce_unicity(merging.strip(tree))

    # -p and COMPOSE_PROJECT_NAME must be valid as given; the file's name: and the directory's are
    # normalised (Docker Compose's rule).
    given = options.project_name or env.get("COMPOSE_PROJECT_NAME")
    name = check_project_name(given) if given else normalize_project_name(tree.get("name") or directory.name)
    if not name:
        raise ComposeError(f"project name could not be derived from {directory}: set one with -p or name:")
    services: dict[str, Any] = tree.get("services") or {}
    profiles_text = ",".join(options.profiles) if options.profiles else env.get("COMPOSE_PROFILES", "")
    profiles = {p for p in profiles_text.split(",") if p}
    for named in options.services:
        if named not in services:
            raise ComposeError(f"no such service: {named}")
    on = enabled_services(services, profiles, options.services)

    ctx = normalize.ServiceContext(first, directory, env.get, _env_reader(env))
    out_services = {n: normalize.service(n, services[n] or {}, ctx) for n in sorted(on)}
    out: dict[str, Any] = {"name": name, "services": out_services}
    used_default = any("default" in (s.get("networks") or {}) for s in out_services.values())
    networks = dict(tree.get("networks") or {})
    if used_default:
        networks.setdefault("default", {})
    for kind in KINDS:
        entries = networks if kind == "networks" else (tree.get(kind) or {})
        if entries:
            out[kind] = normalize.resources(kind, entries, name, directory)
    out.update({k: v for k, v in tree.items() if k.startswith("x-")})
    check_references(out, first, disabled=set(services) - on)
    return out, directory, files, env


def _env_reader(env: dict[str, str]) -> Callable[[Path, bool], dict[str, str]]:
    def read(path: Path, required: bool) -> dict[str, str]:
        if required and not path.exists():
            raise ComposeError(f"env file {path} not found: stat {path}: no such file or directory")
        return read_dotenv(path, lookup=env.get, required=required)

    return read
