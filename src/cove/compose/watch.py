"""`compose watch`: which develop.watch rule a changed file falls under, batching changes, and
what a batch makes happen (Docker Compose's Compose Watch).

Changes are batched over a short quiet period (an editor's save is a burst of events, a
``git checkout`` a longer one), so a batch is one sync per service. A path counts for a rule
when it is under the rule's ``path``, matches its ``include`` (when given) and none of the
ignores: the build context's .dockerignore, the rule's ``ignore`` (relative to its path),
editors' temporary files, and ``.git``. Each sync rule maps the host path to ``target`` plus
the path relative to the rule's.

This module is pure; the session (watch_session.py) does the watching and the engine calls.
"""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cove.compose.errors import ComposeError
from cove.compose.model import Hook, MountType, Service, WatchAction, WatchRule
from cove.engine.dockerignore import Matcher, parse
from cove.errors import CoveError

# Seconds without a new change before a batch is handled (Docker Compose waits 500 ms; shorter
# here so that a saved file is in the container well within a second), and the longest a batch
# waits while changes keep coming.
QUIET_PERIOD = 0.2
LONGEST_WAIT = 2.0
MAX_DOCKERIGNORE = 1 << 20  # bytes

# Editors' temporary and lock files (GoLand, emacs, vim, kate, the Go tool), never synced.
EPHEMERAL = (
    "**/*___jb_old___", "**/*___jb_tmp___", "**/.idea/**",
    "**/.#*", "**/#*#",
    "**/4913", "**/*~", "**/.*.swp", "**/.*.swx", "**/.*.swo", "**/.*.swn",
    "**/.*.kate-swp",
    "**/*-go-tmp-umask",
    "**/.git",
)  # fmt: skip


class WatchActionFailed(CoveError):
    """A watch action failed in (some of) a service's containers (the watch reports it and goes on)."""


class Patterns:
    """.dockerignore patterns rooted at a directory, matched against absolute paths (a path
    matches when it or one of its parents does; a path outside the root never does)."""

    def __init__(self, root: str, patterns: Iterable[str]) -> None:
        self.root = os.path.abspath(root)
        self.matcher = Matcher(parse(patterns))

    def __bool__(self) -> bool:
        return bool(self.matcher.patterns)

    def matches(self, path: str) -> bool:
        if not self.matcher.patterns:
            return False
        if self.root == "/":
            rel = path.lstrip("/")
        elif path == self.root or path.startswith(self.root + "/"):
            rel = os.path.relpath(path, self.root)
        else:
            return False
        return self.matcher.excluded(rel)


@dataclass(frozen=True)
class PathMapping:
    """A changed host file and where it is in the container (None: the rule does not sync)."""

    host_path: str
    container_path: str | None


@dataclass(frozen=True)
class Trigger:
    """A develop.watch rule of a service, with its patterns compiled."""

    service: str
    rule: WatchRule
    ignore: tuple[Patterns, ...] = ()
    include: Patterns | None = None

    def matches(self, path: str) -> PathMapping | None:
        root = self.rule.path
        if not (path == root or path.startswith(root.rstrip("/") + "/")):
            return None
        if self.include is not None and not self.include.matches(path):
            return None
        if any(p.matches(path) for p in self.ignore):
            return None
        target = None
        if self.rule.target:
            rel = os.path.relpath(path, root)
            target = self.rule.target if rel == "." else posixpath.join(self.rule.target, rel)
        return PathMapping(path, target)


def dockerignore_of(service: Service, read: Callable[[Path], str | None] | None = None) -> Patterns | None:
    """The .dockerignore of the service's build context (``<Dockerfile>.dockerignore`` first),
    as Docker Compose reads it; None without a build or such a file."""
    build = service.build
    if build is None or "://" in build.context or build.context.startswith("git@"):
        return None
    read = read or _read_small
    context = Path(build.context)
    text = read(context / f"{build.dockerfile}.dockerignore")
    if text is None:
        text = read(context / ".dockerignore")
    return Patterns(str(context), text.splitlines()) if text is not None else None


def _read_small(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_DOCKERIGNORE + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise ComposeError(f"reading {path}: {e.strerror}") from None
    if len(data) > MAX_DOCKERIGNORE:
        raise ComposeError(f"{path}: larger than {MAX_DOCKERIGNORE} bytes")
    return data.decode(errors="replace")


def triggers_of(service: Service, dockerignore: Patterns | None = None) -> list[Trigger]:
    """The service's develop.watch rules, compiled, in their order."""
    if service.develop is None:
        return []
    common = tuple(p for p in (dockerignore, Patterns("/", EPHEMERAL)) if p)
    out = []
    for rule in service.develop.watch:
        own = Patterns(rule.path, rule.ignore)
        out.append(
            Trigger(
                service=service.name,
                rule=rule,
                ignore=(*common, own) if own else common,
                include=Patterns(rule.path, rule.include) if rule.include else None,
            )
        )
    return out


def check_service(service: Service, *, build: bool = True) -> None:
    """Docker Compose's refusals for a watched service's rules."""
    for rule in service.develop.watch if service.develop else ():
        if rule.action is WatchAction.REBUILD:
            if service.build is None:
                raise ComposeError(
                    f'can\'t watch service "{service.name}" with action rebuild without a build context'
                )
            if not build:
                raise ComposeError(
                    f"--no-build is incompatible with watch action rebuild in service {service.name}"
                )
        if rule.action is WatchAction.SYNC_EXEC and (rule.exec is None or not rule.exec.command):
            raise ComposeError(
                f'can\'t watch with action "sync+exec" on service {service.name} without a command'
            )


def bind_mounted(path: str, service: Service) -> bool:
    """Is ``path`` inside one of the service's bind mounts? (Then syncing it is pointless.)"""
    for mount in service.volumes:
        if mount.type is MountType.BIND and mount.source:
            source = mount.source.rstrip("/") or "/"
            if path == source or path.startswith(source.rstrip("/") + "/"):
                return True
    return False


@dataclass(frozen=True)
class Batch:
    """What one batch of changes makes happen, per service (names in first-seen order)."""

    rebuild: tuple[str, ...] = ()
    sync: Mapping[str, tuple[PathMapping, ...]] = field(default_factory=lambda: MappingProxyType({}))
    restart: tuple[str, ...] = ()
    exec: Mapping[str, tuple[Hook, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def __bool__(self) -> bool:
        return bool(self.rebuild or self.sync or self.restart or self.exec)


def plan(paths: Sequence[str], triggers: Sequence[Trigger]) -> Batch:
    """The actions the changed ``paths`` call for: each path counts once per rule it matches."""
    rebuild: dict[str, None] = {}
    restart: dict[str, None] = {}
    sync: dict[str, dict[str, PathMapping]] = {}
    hooks: dict[str, dict[int, Hook]] = {}
    for path in paths:
        for index, trigger in enumerate(triggers):
            mapping = trigger.matches(path)
            if mapping is None:
                continue
            action, service = trigger.rule.action, trigger.service
            if action is WatchAction.REBUILD:
                rebuild[service] = None
            if action in (WatchAction.RESTART, WatchAction.SYNC_RESTART):
                restart[service] = None
            if action.syncs:
                # one entry per container path: the last rule mapping a file there wins
                sync.setdefault(service, {})[f"{mapping.container_path}\0{path}"] = mapping
            if action is WatchAction.SYNC_EXEC and trigger.rule.exec is not None:
                hooks.setdefault(service, {})[index] = trigger.rule.exec
    return Batch(
        rebuild=tuple(rebuild),
        sync=MappingProxyType({s: tuple(m.values()) for s, m in sync.items()}),
        restart=tuple(restart),
        exec=MappingProxyType({s: tuple(h[i] for i in sorted(h)) for s, h in hooks.items()}),
    )


class Debouncer:
    """Changes collected until none came for ``quiet`` seconds (or the first has waited
    ``longest``); each path once per batch, in the order first seen."""

    def __init__(
        self,
        quiet: float = QUIET_PERIOD,
        longest: float = LONGEST_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet = quiet
        self.longest = longest
        self.clock = clock
        self._paths: dict[str, None] = {}
        self._first = 0.0
        self._last = 0.0

    def add(self, paths: Iterable[str]) -> None:
        now = self.clock()
        added = False
        for path in paths:
            if not self._paths:
                self._first = now
            self._paths[path] = None
            added = True
        if added:
            self._last = now

    def timeout(self) -> float | None:
        """Seconds until the pending batch is due (0: now); None when nothing is pending."""
        if not self._paths:
            return None
        due = min(self._last + self.quiet, self._first + self.longest)
        return max(0.0, due - self.clock())

    def take(self) -> tuple[str, ...] | None:
        """The batch, when it is due (and then it is emptied)."""
        wait = self.timeout()
        if wait is None or wait > 0:
            return None
        batch = tuple(self._paths)
        self._paths.clear()
        return batch


def go_names(names: Iterable[str]) -> str:
    """A list of names as Go's ``%q`` prints a ``[]string`` (how Compose names services)."""
    import json  # noqa: PLC0415

    return "[" + " ".join(json.dumps(n) for n in names) + "]"
