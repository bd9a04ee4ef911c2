"""The container service, one module per verb (youki's layout):

- ``layout``: where a container's things are, and looking one up;
- ``create``: configuration checks, snapshot, volumes, network plan, /etc files, the record;
- ``start``: rootfs and binds, the runtime's bundle, network namespace, the monitor's launch;
- ``lifecycle``: stop, kill, restart, wait, pause, unpause, settle;
- ``remove``: rm and prune;  ``details``: ps and inspect;  ``filters``: ps's filters;
- ``connect`` and ``rename``: networks and names after creation;
- ``service``: :class:`ContainerService`, the facade front-ends use.
"""

from cove.engine.containers.health import effective_health, health_from_image
from cove.engine.containers.model import Container, ContainerStartError
from cove.engine.containers.service import ContainerService

__all__ = ["Container", "ContainerService", "ContainerStartError", "effective_health", "health_from_image"]
