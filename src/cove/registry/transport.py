"""HTTP/1.1 to registries: pooled keep-alive connections, TLS per registry, redirects.

The standard library's http.client, with a small pool per endpoint so that parallel layer
downloads each keep their own connection alive from one request to the next. Network
failures become :class:`TransportError`, a one-line cove error; a TLS failure says how to
trust the registry.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import urljoin, urlsplit

from cove.registry.errors import RegistryUnavailable
from cove.registry.hosts import RegistrySettings, ssl_context
from cove.version import __version__

USER_AGENT = f"cove/{__version__}"
TIMEOUT = 60.0  # seconds without a byte before a read gives up
MAX_REDIRECTS = 5
BLOCK = 1 << 20
DRAIN = 64 << 10  # a response body this small is read to its end so that its connection stays
Body = bytes | Iterable[bytes] | None


class TransportError(RegistryUnavailable):
    """The registry could not be reached or spoken to; ``tls`` when TLS itself failed."""

    def __init__(self, message: str, *, tls: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.tls = tls


class Response:
    """A response whose body is read as needed; :meth:`close` hands the connection back."""

    def __init__(self, raw: http.client.HTTPResponse, url: str, release: object) -> None:
        self._raw = raw
        self.url = url
        self.status = raw.status
        self.headers = {k.lower(): v for k, v in raw.getheaders()}
        self._release = release  # callable(ok: bool) returning the connection to its pool
        self._closed = False

    def read(self, n: int = -1) -> bytes:
        try:
            return self._raw.read(n) if n >= 0 else self._raw.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close(reuse=False)
            raise TransportError(f"connection to {urlsplit(self.url).netloc} broke: {_reason(exc)}") from exc

    def readinto(self, buffer: memoryview) -> int:
        try:
            return self._raw.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            self.close(reuse=False)
            raise TransportError(f"connection to {urlsplit(self.url).netloc} broke: {_reason(exc)}") from exc

    def body(self, limit: int = 8 << 20) -> bytes:
        """The whole (small) body: manifests, tokens, error documents."""
        data = self.read(limit + 1)
        self.close()
        if len(data) > limit:
            raise RegistryUnavailable(f"{self.url}: response larger than {limit} bytes")
        return data

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
        self._release(ok)  # type: ignore[operator]

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "no such host"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


class Transport:
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

    def _releaser(self, scheme: str, host: str, verify: bool, conn: http.client.HTTPConnection) -> object:
        def release(ok: bool) -> None:
            if not ok:
                conn.close()
                return
            with self._lock:
                self._idle.setdefault((scheme, host, verify), []).append(conn)

        return release

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        verify: bool = True,
        follow_redirects: bool = True,
    ) -> Response:
        sent = dict(headers or {})
        sent.setdefault("User-Agent", USER_AGENT)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._once(method, url, sent, body, verify)
            if not (
                follow_redirects
                and response.status in (301, 302, 303, 307, 308)
                and method in ("GET", "HEAD")
            ):
                return response
            location = response.headers.get("location")
            response.close()
            if not location:
                raise TransportError(f"{url}: redirect without a location")
            target = urljoin(url, location)
            if urlsplit(target).netloc != urlsplit(url).netloc:
                # Blobs are often served from elsewhere (a CDN): our credentials stay with the
                # registry, and that other host must have a certificate we trust.
                sent.pop("Authorization", None)
                verify = True
            url = target
        raise TransportError(f"{url}: too many redirects")

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
            return Response(raw, url, self._releaser(scheme, host, verify, conn))
        raise AssertionError("unreachable")
