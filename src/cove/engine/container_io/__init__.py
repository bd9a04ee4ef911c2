"""Looking into and copying out of containers, one module per job: ``logs``, ``exec``, ``top``,
``stats``, ``snapshot`` (diff, commit, export), ``cp`` and ``update``; ``service`` composes them
into :class:`ContainerIO`, the object front-ends use."""

from cove.engine.container_io.exec import ExecSession
from cove.engine.container_io.service import ContainerIO
from cove.engine.container_io.stats import Stats

__all__ = ["ContainerIO", "ExecSession", "Stats"]
