"""What Docker's client does on its side and every front-end needs: pull a missing image, then
create. (The build context's resolution, the other such step, is engine/build_context.py.)

The front-end brings the pull itself, since it shows the progress in its own way (the CLI's
progress lines, the API's JSON stream); the sequence and the policy live here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from cove.errors import ImageNotFound
from cove.policies import PullPolicy

if TYPE_CHECKING:
    from cove.containers.model import ContainerConfig
    from cove.containers.store import ContainerRecord


class Creates(Protocol):
    """The container service's create (all this needs of it)."""

    def create(
        self, config: ContainerConfig, name: str | None = None, *, pull: PullPolicy | str = ...
    ) -> ContainerRecord: ...


def create_pulling(
    containers: Creates,
    config: ContainerConfig,
    name: str | None = None,
    *,
    policy: PullPolicy = PullPolicy.MISSING,
    pull: Callable[[str], None],
    on_missing: Callable[[str], None] | None = None,
) -> ContainerRecord:
    """Create a container, pulling its image as ``policy`` says: ``always`` first; ``missing``
    when the store has no such image (``on_missing`` hears of it before the pull: Docker's
    client says "Unable to find image ... locally"); ``never``, not at all (No such image)."""
    if policy is PullPolicy.ALWAYS:
        pull(config.image)
    try:
        return containers.create(config, name, pull=policy)
    except ImageNotFound:
        if policy is not PullPolicy.MISSING:
            raise
    if on_missing is not None:
        on_missing(config.image)
    pull(config.image)
    return containers.create(config, name, pull=PullPolicy.NEVER)
