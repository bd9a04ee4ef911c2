"""Opening what a user names as input: a file, a URL, or ``-`` for stdin."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from cove.errors import InvalidArgument, NotFound, Unavailable


class _Download:
    """A response body whose read errors say which download failed."""

    def __init__(self, response: BinaryIO, url: str) -> None:
        self._response = response
        self._url = url

    def read(self, n: int = -1) -> bytes:
        try:
            return self._response.read(n)
        except OSError as exc:
            raise Unavailable(f"download of {self._url} failed: {exc}") from None


@contextmanager
def open_source(source: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """Yield (stream, size if known) for a path, an http(s) URL, or "-" (stdin)."""
    if source == "-":
        yield sys.stdin.buffer, None
        return
    if source.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            response = urllib.request.urlopen(source, timeout=60)
        except urllib.error.HTTPError as exc:
            exc.close()  # (it holds the response, and with it the connection)
            raise Unavailable(f"cannot download {source}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unavailable(f"cannot download {source}: {reason}") from None
        with response:
            length = response.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() else None
            yield _Download(response, source), size  # type: ignore[misc]
        return
    path = Path(source)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise NotFound(f"no such file: {source}") from None
    except IsADirectoryError:
        raise InvalidArgument(f"{source} is a directory, not a tarball") from None
    except PermissionError:
        raise InvalidArgument(f"cannot read {source}: permission denied") from None
    with f:
        yield f, os.fstat(f.fileno()).st_size
