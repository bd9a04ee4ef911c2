"""cove: a container platform."""

from cove.version import __version__

__all__ = ["__version__"]
