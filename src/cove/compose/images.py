"""The images of a project: which to pull, which to build, and doing it (``up``, ``build``,
``pull``, ``push``), by Docker Compose v5's rules.

- A service's image is its ``image:``, else ``<project>-<service>`` (what its build is named).
- ``up`` pulls first: ``always`` pulls, ``never`` and ``build`` do not, ``daily``, ``weekly``
  and ``every_<duration>`` pull when the local image is missing or older than that (its age:
  when its name last moved to it, as Docker's LastTagTime; the time it was added when the
  engine cannot tell), anything else (``missing``, ``if_not_present``, unset) when missing.
  ``--pull`` replaces every service's policy; ``--build`` makes it ``build`` for services with
  ``build:``.
- Then it builds the services with ``build:`` whose image is still missing, or whose policy is
  ``build`` (``--no-build``: never; a missing image is then an error). So a service with both
  ``image:`` and ``build:`` whose pull fails is built instead (a warning, not an error).
- Independent pulls and builds run side by side, a few at a time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import enum
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cove.compose import names
from cove.compose.errors import ComposeError
from cove.compose.model import Build, Project, PullPolicy, Service
from cove.compose.progress import Event, Kind, Phase, Report, no_report
from cove.errors import CoveError, ImageNotFound, InvalidReference, NotFound
from cove.oci.reference import parse_reference

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.engine.build import BuildEvent

MAX_PULLS = 4  # registries and the disk take a few at once; more only queue
MAX_BUILDS = 2  # RUN steps are processes: as many as this machine has cores, at most

_T = TypeVar("_T")


class UpPull(enum.Enum):
    """``up --pull``: the policy that replaces every service's."""

    ALWAYS = "always"
    MISSING = "missing"
    NEVER = "never"
    BUILD = "build"

    @classmethod
    def parse(cls, text: str) -> UpPull:
        for member in cls:
            if member.value == text:
                return member
        if text == "if_not_present":
            return cls.MISSING
        raise ComposeError(f'invalid --pull option "{text}": use always, missing, never or build')


@dataclass(frozen=True)
class LocalImage:
    """What the decisions need of a local image."""

    id: str
    tagged: float | None  # when its name last moved to it (pull, tag, build)
    added: float  # when the engine first stored it

    @property
    def age_since(self) -> float:
        return self.tagged if self.tagged is not None else self.added


def image_name(project: Project, service: Service) -> str:
    """The image a service runs: its ``image:``, else the one its build makes."""
    return service.image or f"{project.name}-{service.name}"


def effective_policy(service: Service, pull: str | None, build: bool | None) -> PullPolicy:
    """The service's pull policy under ``up --pull`` and ``up --build``."""
    policy = service.pull_policy or PullPolicy.MISSING
    if pull is not None:
        policy = PullPolicy(UpPull.parse(pull).value)
    if build is True and service.build is not None:
        policy = PullPolicy.BUILD
    return policy


def must_pull(
    service: Service,
    policy: PullPolicy,
    local: LocalImage | None,
    now: float,
    *,
    refresh: float | None = None,
) -> bool:
    """Whether ``up`` pulls the service's image (``refresh``: the age, in seconds, after which a
    daily / weekly / every_<duration> policy pulls again)."""
    if not service.image:
        return False  # a build-only service: nothing to pull
    if policy is PullPolicy.ALWAYS:
        return True
    if policy in (PullPolicy.NEVER, PullPolicy.BUILD):
        return False
    if policy in (PullPolicy.DAILY, PullPolicy.WEEKLY, PullPolicy.REFRESH) and refresh is not None:
        return local is None or now > local.age_since + refresh
    return local is None


def must_build(service: Service, policy: PullPolicy, present: bool, build: bool | None) -> bool:
    """Whether ``up`` builds the service's image, ``present`` telling whether it is there after
    the pulls."""
    if service.build is None or build is False:
        return False
    return not present or policy is PullPolicy.BUILD


def should_pull_command(service: Service, local: LocalImage | None, now: float) -> tuple[bool, str]:
    """``compose pull``'s choice for one service (pull?, why not): an explicit pull refreshes a
    service without a policy, a refresh window is due now, and a ``latest`` tag is asked for
    again under missing; ``never`` and ``build`` are left alone."""
    if not service.image:
        return False, "No image to be pulled"
    policy = service.pull_policy
    if policy is None or policy in (PullPolicy.ALWAYS, PullPolicy.DAILY, PullPolicy.WEEKLY):
        return True, ""
    if policy is PullPolicy.REFRESH and service.pull_refresh is not None:
        return True, ""
    if policy in (PullPolicy.NEVER, PullPolicy.BUILD):
        return False, ""
    if local is None or _is_latest(service.image):
        return True, ""
    return False, "Image is already present locally"


def _is_latest(image: str) -> bool:
    rest = image.rsplit("/", 1)[-1]
    if "@" in rest:
        return False
    return ":" not in rest or rest.endswith(":latest")


# -- doing it --------------------------------------------------------------------------------


def local_image(backend: EngineBackend, name: str) -> LocalImage | None:
    try:
        details = backend.inspect_image(name)
    except ImageNotFound:
        return None
    return LocalImage(str(details.id), details.tagged, details.added)


def ensure_images(
    backend: EngineBackend,
    project: Project,
    services: Sequence[str],
    *,
    pull: str | None = None,
    build: bool | None = None,
    report: Report = no_report,
) -> dict[str, str]:
    """Pull and build what ``up`` needs for ``services`` (``pull``: ``up --pull``; ``build``: True
    for ``--build``, False for ``--no-build``); service name -> the image reference to run."""
    chosen = [project.services[name] for name in services]
    for service in chosen:
        if not service.image and service.build is None:
            raise ComposeError(f'invalid service "{service.name}". Must specify either image or build')
    if pull is not None:
        UpPull.parse(pull)
    now = time.time()
    images = {s.name: image_name(project, s) for s in chosen}
    local = {image: local_image(backend, image) for image in set(images.values())}
    policies = {s.name: effective_policy(s, pull, build) for s in chosen}
    buildable = {image_name(project, s) for s in project.services.values() if s.build is not None}

    # Pulls first, each image once.
    to_pull: dict[str, Service] = {}
    for service in chosen:
        image = images[service.name]
        refresh = service.pull_refresh if pull is None else None
        if image not in to_pull and must_pull(
            service, policies[service.name], local[image], now, refresh=refresh
        ):
            to_pull[image] = service
    platforms = {image: _platform(project, s) for image, s in to_pull.items()}
    failures = pull_images(backend, list(to_pull), report, can_build=buildable, platforms=platforms)
    for image in to_pull:
        if image not in failures:
            local[image] = local_image(backend, image)

    # Then builds: what is still missing, and what the policy says to build anyway.
    to_build: dict[str, Service] = {}
    for service in chosen:
        image = images[service.name]
        present = local[image] is not None
        if image not in to_build and must_build(service, policies[service.name], present, build):
            to_build[image] = service
    build_services(backend, project, list(to_build.values()), report=report)

    for service in chosen:
        image = images[service.name]
        if image in to_build or local[image] is not None:
            continue
        if service.build is not None and build is False:
            raise NotFound(
                f"service {service.name}: its image {image} is not built",
                hint=f"build it (cove compose build {service.name}), or run without --no-build",
            )
        if image in failures:
            raise failures[image]
        raise NotFound(
            f"service {service.name}: no such image: {image}",
            hint="pull it (cove compose pull), or allow pulling (pull_policy, --pull)",
        )
    return images


def _platform(project: Project, service: Service) -> str | None:
    """The platform to pull: the service's, else DOCKER_DEFAULT_PLATFORM (Docker Compose's rule)."""
    return service.platform or project.environment.get("DOCKER_DEFAULT_PLATFORM") or None


def pull_images(
    backend: EngineBackend,
    images: Sequence[str],
    report: Report,
    *,
    can_build: set[str] | frozenset[str] = frozenset(),
    ignore_failures: bool = False,
    platforms: Mapping[str, str | None] | None = None,
) -> dict[str, CoveError]:
    """Pull ``images`` side by side; the failures, by image. A failure of an image that can be
    built instead, or with ``ignore_failures``, is a warning; any other is raised (after the
    pulls under way have ended)."""
    failures: dict[str, CoveError] = {}

    def one(image: str) -> None:
        report(Event(Kind.IMAGE, image, "Pulling", Phase.WORKING))
        try:
            backend.pull_image(image, platform=(platforms or {}).get(image))
        except CoveError as exc:
            failures[image] = exc
            tolerated = image in can_build or ignore_failures
            report(
                Event(Kind.IMAGE, image, "Error", Phase.WARNING if tolerated else Phase.ERROR, exc.message)
            )
            return
        report(Event(Kind.IMAGE, image, "Pulled"))

    _run_parallel(one, images, MAX_PULLS)
    for image, exc in failures.items():
        if image not in can_build and not ignore_failures:
            raise exc
    return failures


@dataclass(frozen=True)
class BuildOptions:
    """``compose build``'s options (``up --build`` uses the defaults)."""

    no_cache: bool = False
    pull: bool = False
    build_args: Mapping[str, str | None] | None = None  # --build-arg, over the file's


def build_services(
    backend: EngineBackend,
    project: Project,
    services: Sequence[Service],
    *,
    options: BuildOptions = BuildOptions(),
    report: Report = no_report,
    build_log: Callable[[str, BuildEvent], None] | None = None,
) -> dict[str, str]:
    """Build the services' images side by side; service name -> image ID. ``build_log`` gets
    each build's own steps (with the service's name)."""
    for service in services:  # refuse what cannot be built before building anything
        _check_buildable(project, service)
    built: dict[str, str] = {}

    def one(service: Service) -> None:
        image = image_name(project, service)
        report(Event(Kind.IMAGE, image, "Building", Phase.WORKING))
        try:
            log = None if build_log is None else (lambda event: build_log(service.name, event))
            built[service.name] = build_service(backend, project, service, options, log)
        except CoveError as exc:
            report(Event(Kind.IMAGE, image, "Error", Phase.ERROR, exc.message))
            raise
        report(Event(Kind.IMAGE, image, "Built"))

    _run_parallel(one, services, MAX_BUILDS)
    return built


def build_service(
    backend: EngineBackend,
    project: Project,
    service: Service,
    options: BuildOptions = BuildOptions(),
    log: Callable[[BuildEvent], None] | None = None,
) -> str:
    """Build one service's image, named as Docker Compose names it and labelled as its own."""
    spec = _check_buildable(project, service)
    args = {**spec.args, **(options.build_args or {})}
    resolved: dict[str, str] = {}
    for key, given in args.items():
        # a bare key takes its value from the project's environment, and is left out without one
        value = project.environment.get(key) if given is None else given
        if value is not None:
            resolved[key] = value
    labels = {k: v or "" for k, v in spec.labels.items()}
    labels.update({
        names.VERSION: names.COMPOSE_VERSION,
        names.PROJECT: project.name,
        names.SERVICE: service.name,
    })  # fmt: skip
    image = image_name(project, service)
    context = Path(spec.context)
    dockerfile = None if spec.dockerfile == "Dockerfile" else spec.dockerfile
    with _build_secrets(project, service) as secrets:
        return backend.build_image(
            context,
            dockerfile=dockerfile,
            dockerfile_text=spec.dockerfile_inline,
            tags=[image, *spec.tags],
            build_args=resolved,
            target=spec.target,
            labels=labels,
            secrets=secrets,
            no_cache=options.no_cache or spec.no_cache,
            pull=options.pull or spec.pull,
            network=spec.network,
            platform=_platform(project, service),
            report=log,
        )


def _check_buildable(project: Project, service: Service) -> Build:
    spec = service.build
    if spec is None:
        raise ComposeError(f"service {service.name} has no build section")
    where = f"services.{service.name}.build"
    if "://" in spec.context or spec.context.startswith("git@"):
        raise ComposeError(f"{where}.context: {spec.context}: remote contexts cannot be fetched here")
    if spec.ssh:
        raise ComposeError(f"{where}.ssh: cove's builder does not forward SSH agents or keys; remove ssh:")
    for ref in spec.secrets:
        secret = project.secrets.get(ref.source)
        if secret is None:
            raise ComposeError(f"{where}.secrets: undefined secret {ref.source}")
        if secret.external:
            raise ComposeError(
                f"{where}.secrets: {ref.source} is external, and cove has no swarm to read it from"
            )
    return spec


@contextlib.contextmanager
def _build_secrets(project: Project, service: Service) -> Iterator[dict[str, Path]]:
    """The build's secrets by ID (the reference's target, else its source) as files: a file
    secret is its file, an environment or content secret is written to a private one."""
    assert service.build is not None
    out: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="cove-compose-secrets-") as holder:
        for i, ref in enumerate(service.build.secrets):
            secret = project.secrets[ref.source]
            secret_id = ref.target or ref.source
            if secret.file is not None:
                out[secret_id] = Path(secret.file)
                continue
            if secret.environment is not None:
                if secret.environment not in project.environment:
                    variable = secret.environment
                    raise ComposeError(
                        f'environment variable "{variable}" required by secret "{ref.source}" is not set'
                    )
                text = project.environment[secret.environment]
            else:
                text = secret.content or ""
            path = Path(holder, f"secret-{i}")
            path.touch(mode=0o600)
            path.write_text(text)
            out[secret_id] = path
        yield out


def push_services(
    backend: EngineBackend,
    project: Project,
    services: Sequence[str],
    *,
    ignore_failures: bool = False,
    report: Report = no_report,
) -> None:
    """Push the images of the services that build one and name it (with their build tags);
    the others are skipped, as Docker Compose does."""
    tags: list[str] = []
    for name in services:
        service = project.services[name]
        if service.build is None or not service.image:
            report(Event(Kind.SERVICE, name, "Skipped"))
            continue
        tags += [t for t in (service.image, *service.build.tags) if t not in tags]
    failures: list[CoveError] = []

    def one(tag: str) -> None:
        report(Event(Kind.IMAGE, tag, "Pushing", Phase.WORKING))
        try:
            backend.push_image(tag)
        except CoveError as exc:
            failures.append(exc)
            report(
                Event(
                    Kind.IMAGE, tag, "Error", Phase.WARNING if ignore_failures else Phase.ERROR, exc.message
                )
            )
            return
        report(Event(Kind.IMAGE, tag, "Pushed"))

    _run_parallel(one, tags, MAX_PULLS)
    if failures and not ignore_failures:
        raise failures[0]


class RemoveImages(enum.Enum):
    """``down --rmi``."""

    LOCAL = "local"  # the images the project built (those without an image: of their own)
    ALL = "all"  # and every image a service names

    @classmethod
    def parse(cls, text: str) -> RemoveImages:
        for member in cls:
            if member.value == text:
                return member
        raise ComposeError(f'invalid --rmi option "{text}": use local or all')


def images_to_remove(
    backend: EngineBackend, project: Project, mode: RemoveImages, *, remove_orphans: bool = False
) -> list[str]:
    """What ``down --rmi`` removes, as Docker Compose v5 finds it: with ``all`` the images the
    services name; the images labelled as the project's (built by it) of its services (of any
    service with ``remove_orphans``); and ``<project>-<service>`` of services without image:.
    Only what is there, each once."""
    wanted: list[str] = []
    if mode is RemoveImages.ALL:
        wanted += [s.image for s in project.services.values() if s.image]
    for summary in backend.list_images({"label": [f"{names.PROJECT}={project.name}"], "dangling": ["false"]}):
        if summary.repo_tags and (remove_orphans or summary.labels.get(names.SERVICE) in project.services):
            wanted.append(summary.repo_tags[0])
    wanted += [image_name(project, s) for s in project.services.values() if not s.image]
    out: list[str] = []
    seen: set[str] = set()
    for image in wanted:
        key = _normalized(image)
        if key not in seen and local_image(backend, image) is not None:
            seen.add(key)
            out.append(image)
    return out


def _normalized(image: str) -> str:
    """``busybox`` and ``docker.io/library/busybox:latest`` as one name."""
    try:
        return str(parse_reference(image).tagged_or_latest())
    except InvalidReference:
        return image


def _run_parallel(work: Callable[[_T], None], items: Sequence[_T], limit: int) -> None:
    """``work`` on every item, ``limit`` at a time; the first error raised once all have ended."""
    if len(items) <= 1:
        for item in items:
            work(item)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = [pool.submit(work, item) for item in items]
    for future in futures:
        future.result()
