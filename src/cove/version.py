"""cove's own version and the Docker Engine API version it speaks."""

__version__ = "0.1.0"
API_VERSION = "1.43"
MIN_API_VERSION = "1.24"
