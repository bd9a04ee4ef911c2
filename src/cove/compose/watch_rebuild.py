"""The rebuild action of `compose watch`, as Docker Compose does it: build the services' images
(only theirs, not their dependencies'), prune the project's images that the build left dangling
(``--prune``), then recreate the services' containers from the new images and start them (up's
own plan and executor, forced for those services only)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from cove.compose import lifecycle, names
from cove.compose.images import build_services
from cove.compose.model import Project
from cove.compose.plan import Recreate
from cove.compose.progress import Report, no_report
from cove.errors import CoveError

if TYPE_CHECKING:
    from cove.compose.backend import EngineBackend
    from cove.engine.build import BuildEvent


class ProjectRebuilder:
    def __init__(
        self,
        backend: EngineBackend,
        project: Project,
        recreate: Callable[[Sequence[str]], None] | None = None,
        *,
        prune: bool = True,
        report: Report = no_report,
        build_log: Callable[[str, BuildEvent], None] | None = None,
    ) -> None:
        self.backend = backend
        self.project = project
        self._recreate = recreate
        self.prune = prune
        self.report = report
        self.build_log = build_log

    def build(self, services: Sequence[str]) -> None:
        chosen = [self.project.services[name] for name in services]
        built = build_services(
            self.backend, self.project, chosen, report=self.report, build_log=self.build_log
        )
        if self.prune:
            self.prune_dangling(built.values())

    def recreate(self, services: Sequence[str]) -> None:
        if self._recreate is not None:
            self._recreate(services)
            return
        request = lifecycle.UpRequest(
            services=tuple(services), no_deps=True, recreate=Recreate.FORCE, build=False
        )
        lifecycle.up(self.backend, self.project, request, self.report)

    def prune_dangling(self, keep: Iterable[str]) -> None:
        """Remove the project's dangling images (what a rebuild untagged) but ``keep``; one still
        in use by a container stays (its removal fails, quietly, as in Docker Compose)."""
        spared = set(keep)
        filters = {"label": [f"{names.PROJECT}={self.project.name}"], "dangling": ["true"]}
        for image in self.backend.list_images(filters):
            if str(image.id) in spared:
                continue
            with contextlib.suppress(CoveError):
                self.backend.remove_image(str(image.id))
