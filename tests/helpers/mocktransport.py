"""A registry transport that answers from a function (httpx's MockTransport), for unit tests
of the registry client: token caching, redirects and endpoint fallbacks, with no registry.

``handler(request)`` returns a :class:`MockResponse`, or raises ``TransportError`` to play
a server that cannot be reached. Every request and response is kept, to be looked at.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from cove.registry.transport import Request, ResponseBody, TransportError


class MockResponse(ResponseBody):
    """An answer with a body in memory; ``cut`` breaks the connection after that many bytes."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        cut: int | None = None,
    ) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.headers.setdefault("content-length", str(len(body)))
        self.url = ""
        self.data = body
        self.cut = cut
        self.pos = 0  # how much of the body was read
        self.closed = False
        self.reused: bool | None = None

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            return b""
        if self.cut is not None and self.pos >= self.cut:
            self.close(reuse=False)
            raise TransportError(f"connection to {urlsplit(self.url).netloc} broke: reset")
        end = len(self.data) if n < 0 else self.pos + n
        if self.cut is not None:
            end = min(end, self.cut)
        out = self.data[self.pos : end]
        self.pos += len(out)
        return out

    def close(self, *, reuse: bool = True) -> None:
        if not self.closed:
            self.closed = True
            self.reused = reuse


def json_response(status: int, value: object, headers: Mapping[str, str] | None = None) -> MockResponse:
    return MockResponse(
        status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


Handler = Callable[[Request], MockResponse]


class MockTransport:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.responses: list[MockResponse] = []
        self.closed = False

    def send(self, request: Request) -> MockResponse:
        self.requests.append(request)
        response = self.handler(request)
        response.url = request.url
        self.responses.append(response)
        return response

    def close(self) -> None:
        self.closed = True

    def sent_to(self, host: str) -> list[Request]:
        return [r for r in self.requests if r.host == host]


def query(request: Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def path(request: Request) -> str:
    return urlsplit(request.url).path
