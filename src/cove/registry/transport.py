"""HTTP to registries: one exchange per :class:`Transport` call, redirects above it.

:class:`Transport` is the seam (httpx's): it sends one :class:`Request` and returns a
:class:`Response` whose body is read as needed. :class:`HttpTransport` is the real one, the
standard library's http.client with a small pool per endpoint so that parallel layer
downloads each keep their own connection alive from one request to the next; tests use a
mock transport that answers from a function. :func:`fetch` follows redirects over any
transport, bounded, and keeps credentials from leaving the registry's host.

Network failures become :class:`TransportError`, a one-line cove error; a TLS failure says
how to trust the registry.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, Self
from urllib.parse import urljoin, urlsplit

from cove.registry.errors import RegistryUnavailable
from cove.registry.hosts import RegistrySettings, ssl_context
from cove.version import __version__

USER_AGENT = f"cove/{__version__}"
TIMEOUT = 60.0  # seconds without a byte before a read gives up
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
BLOCK = 1 << 20
DRAIN = 64 << 10  # a response body this small is read to its end so that its connection stays
Body = bytes | Iterable[bytes] | None


class TransportError(RegistryUnavailable):
    """The registry could not be reached or spoken to; ``tls`` when TLS itself failed."""

    def __init__(self, message: str, *, tls: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.tls = tls


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = None
    verify: bool = True  # verify the server's TLS certificate

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


class Response(Protocol):
    """An answer whose body is read as needed; :meth:`close` ends it (and, over HTTP,
    hands its connection back when ``reuse`` and the body was read to its end)."""

    url: str
    status: int
    headers: dict[str, str]  # names in lower case

    def read(self, n: int = -1) -> bytes: ...

    def body(self, limit: int = 8 << 20) -> bytes:
        """The whole (small) body: manifests, tokens. Larger than ``limit`` is an error."""
        ...

    def excerpt(self, limit: int = 64 << 10) -> bytes:
        """Up to ``limit`` bytes of a body only looked at (an error document); never an error
        for its size, and what is beyond is not read."""
        ...

    def close(self, *, reuse: bool = True) -> None: ...

    def __enter__(self) -> Response: ...

    def __exit__(self, *exc: object) -> None: ...


class Transport(Protocol):
    def send(self, request: Request) -> Response:
        """One exchange: no redirect followed, every status returned; TransportError when
        the server cannot be reached or spoken to."""
        ...

    def close(self) -> None:
        """Let go of what is kept between exchanges (connections)."""
        ...


class ResponseBody:
    """:meth:`body`, :meth:`excerpt` and the context manager, over ``read`` and ``close``."""

    url: str

    def read(self, n: int = -1) -> bytes:
        raise NotImplementedError

    def close(self, *, reuse: bool = True) -> None:
        raise NotImplementedError

    def body(self, limit: int = 8 << 20) -> bytes:
        data = self.read(limit + 1)
        self.close(reuse=len(data) <= limit)
        if len(data) > limit:
            raise RegistryUnavailable(f"{self.url}: response larger than {limit} bytes")
        return data

    def excerpt(self, limit: int = 64 << 10) -> bytes:
        try:
            data = self.read(limit + 1)
        except RegistryUnavailable:
            return b""  # the connection broke: there is no more to say than the status
        self.close(reuse=len(data) <= limit)
        return data[:limit]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpResponse(ResponseBody):
    """A response of :class:`HttpTransport`, on a pooled connection."""

    def __init__(self, raw: http.client.HTTPResponse, url: str, release: Callable[[bool], None]) -> None:
        self._raw = raw
        self.url = url
        self.status = raw.status
        self.headers = {k.lower(): v for k, v in raw.getheaders()}
        self._release = release  # returns the connection to its pool when given True
        self._closed = False

    def read(self, n: int = -1) -> bytes:
        try:
            return self._raw.read(n) if n >= 0 else self._raw.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close(reuse=False)
            raise TransportError(f"connection to {urlsplit(self.url).netloc} broke: {_reason(exc)}") from exc

    def close(self, *, reuse: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        raw = self._raw
        if not raw.isclosed() and (raw.length == 0 or (raw.length is not None and raw.length <= DRAIN)):
            try:  # what is left is small (or nothing, as after HEAD): read it, keep the connection
                raw.read()
            except (OSError, http.client.HTTPException):
                reuse = False
        # http.client closes its side of a response once its body has been read to the end.
        ok = reuse and raw.isclosed() and not raw.will_close
        raw.close()
        self._release(ok)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "no such host"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


class HttpTransport:
    """The real transport: HTTP/1.1 with keep-alive connections, TLS per registry."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self._idle: dict[tuple[str, str, bool], list[http.client.HTTPConnection]] = {}
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the kept-alive connections."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _context(self, host: str, verify: bool) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get((host, verify))
            if context is None:
                context = ssl_context(host, self.settings, verify=verify)
                self._contexts[(host, verify)] = context
            return context

    def _connection(self, scheme: str, host: str, verify: bool) -> http.client.HTTPConnection:
        key = (scheme, host, verify)
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, timeout=TIMEOUT, context=self._context(host, verify)
            )
        else:
            conn = http.client.HTTPConnection(host, timeout=TIMEOUT)
        conn.blocksize = BLOCK  # file bodies go out in 1 MiB writes, not 8 KiB ones
        return conn

    def _releaser(
        self, scheme: str, host: str, verify: bool, conn: http.client.HTTPConnection
    ) -> Callable[[bool], None]:
        def release(ok: bool) -> None:
            if not ok:
                conn.close()
                return
            with self._lock:
                self._idle.setdefault((scheme, host, verify), []).append(conn)

        return release

    def send(self, request: Request) -> Response:
        headers = dict(request.headers)
        headers.setdefault("User-Agent", USER_AGENT)
        return self._once(request.method, request.url, headers, request.body, request.verify)

    def _once(self, method: str, url: str, headers: dict[str, str], body: Body, verify: bool) -> Response:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.netloc
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        retryable = body is None or isinstance(body, bytes)
        for attempt in range(2):
            conn = self._connection(scheme, host, verify)
            reused = conn.sock is not None
            try:
                conn.request(method, path, body=body, headers=headers)
                raw = conn.getresponse()
            except ssl.SSLCertVerificationError as exc:
                conn.close()
                raise TransportError(
                    f"TLS certificate of {host} is not trusted: {exc.verify_message or exc.reason}",
                    tls=True,
                    hint=f"put its CA certificate in {self.settings.certs_dir / host}/ca.crt, "
                    f'or list it under [registry] insecure = ["{host}"] in the config file',
                ) from None
            except ssl.SSLError as exc:
                conn.close()
                raise TransportError(f"TLS with {host} failed: {_reason(exc)}", tls=True) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # A kept-alive connection the server closed meanwhile: try once on a fresh one.
                if reused and attempt == 0 and retryable:
                    continue
                raise TransportError(
                    f"cannot reach registry {host}: {_reason(exc)}",
                    hint="check the registry's name and port, and that it is running",
                ) from None
            return HttpResponse(raw, url, self._releaser(scheme, host, verify, conn))
        raise AssertionError("unreachable")


def fetch(
    transport: Transport,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Body = None,
    verify: bool = True,
    follow_redirects: bool = True,
) -> Response:
    """Send a request over ``transport``, following redirects of GET and HEAD (at most
    :data:`MAX_REDIRECTS`)."""
    sent = dict(headers or {})
    for _ in range(MAX_REDIRECTS + 1):
        response = transport.send(Request(method, url, dict(sent), body, verify))
        if not (follow_redirects and response.status in REDIRECTS and method in ("GET", "HEAD")):
            return response
        location = response.headers.get("location")
        response.close()
        if not location:
            raise TransportError(f"{url}: redirect without a location")
        target = urljoin(url, location)
        if urlsplit(target).scheme not in ("http", "https"):
            raise TransportError(f"{url}: redirect to a location that is not http(s): {target[:200]}")
        if urlsplit(target).netloc != urlsplit(url).netloc:
            # Blobs are often served from elsewhere (a CDN): our credentials stay with the
            # registry, and that other host must have a certificate we trust.
            sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            verify = True
        url = target
    raise TransportError(f"{url}: too many redirects")
