"""The distribution API (OCI distribution-spec v2): manifests, blobs, uploads, tags.

:class:`Registry` holds what one registry needs across requests: the endpoint that works
(a mirror, HTTPS, or HTTP for an insecure one), and the authorization per endpoint.
:class:`Repository` is one repository on it, with the scopes a pull or push needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

from cove.errors import DigestMismatch
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.registry.auth import Authorizer, scope_for
from cove.registry.credentials import Credentials
from cove.registry.errors import RegistryError, RegistryUnavailable, error_for
from cove.registry.hosts import Endpoint, RegistrySettings, endpoints
from cove.registry.transport import Body, Response, Transport, TransportError, fetch

MANIFEST_ACCEPT = ", ".join([mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
MANIFEST_MAX = 4 << 20
UPLOAD_BLOCK = 1 << 20


class Registry:
    """One registry (``docker.io``, ``127.0.0.1:5000``), as reached from here."""

    def __init__(
        self,
        domain: str,
        settings: RegistrySettings,
        transport: Transport,
        credentials: Callable[[], Credentials | None],
        *,
        for_push: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.domain = domain
        self.transport = transport
        self._clock = clock  # for tokens' lifetimes
        self._credentials = credentials
        self._candidates = endpoints(domain, settings, for_push=for_push)
        self._working: Endpoint | None = None
        self._authorizers: dict[Endpoint, Authorizer] = {}
        self._lock = threading.Lock()

    def repository(self, path: str, actions: Sequence[str] = ("pull",)) -> Repository:
        return Repository(self, path, actions)

    def _authorizer(self, endpoint: Endpoint) -> Authorizer:
        with self._lock:
            auth = self._authorizers.get(endpoint)
            if auth is None:
                auth = Authorizer(
                    self.transport, endpoint.host, self._credentials, endpoint.verify_tls, self._clock
                )
                self._authorizers[endpoint] = auth
            return auth

    def _endpoints(self) -> list[Endpoint]:
        return [self._working] if self._working is not None else list(self._candidates)

    def request(
        self,
        method: str,
        path_or_url: str,
        scopes: Sequence[str],
        *,
        headers: dict[str, str] | None = None,
        body: Body = None,
        what: str = "",
    ) -> Response:
        """Send a request to the first endpoint that answers; answer a 401 challenge once.

        Every status comes back to the caller except a 401 that a (new) token did not fix.
        """
        last_error: RegistryError | None = None
        candidates = self._endpoints()
        for index, endpoint in enumerate(candidates):
            url = path_or_url if "://" in path_or_url else endpoint.base + path_or_url
            try:
                response = self._send(endpoint, method, url, scopes, headers or {}, body)
            except TransportError as exc:
                last_error = exc
                continue  # next endpoint: HTTP after HTTPS for an insecure registry, or past a mirror
            if endpoint.mirror and response.status >= 400 and index + 1 < len(candidates):
                response.close(reuse=False)
                continue
            if self._working is None and not endpoint.mirror:
                self._working = endpoint
            if response.status == 401:
                raise error_for(401, response.excerpt(), response.headers, what or path_or_url, self.domain)
            return response
        assert last_error is not None
        raise last_error

    def _send(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        scopes: Sequence[str],
        headers: dict[str, str],
        body: Body,
    ) -> Response:
        if urlsplit(url).netloc != endpoint.host:
            # A location the registry named on another host (an upload URL, a Link to the
            # next page): our credentials stay with the registry, as on a redirect.
            return fetch(self.transport, method, url, headers=headers, body=body, verify=True)
        auth = self._authorizer(endpoint)
        replayable = body is None or isinstance(body, bytes)
        for attempt in range(2):
            sent = {**headers, **auth.header(scopes)}
            response = fetch(self.transport, method, url, headers=sent, body=body, verify=endpoint.verify_tls)
            if response.status != 401 or attempt == 1 or not replayable:
                return response
            auth.learn(response.headers.get("www-authenticate"))
            if not auth.known:
                return response  # a scheme we do not speak: the caller reports the 401
            response.excerpt()
            if "Authorization" in sent:
                auth.forget(scopes)  # expired or revoked: a fresh one, once
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """GET /v2/ with the credentials: proves a login (raises when refused)."""
        response = self.request("GET", "/v2/", [], what=f"registry {self.domain}")
        body = response.excerpt()
        if response.status != 200:
            raise error_for(response.status, body, response.headers, f"registry {self.domain}", self.domain)


class Repository:
    def __init__(self, registry: Registry, path: str, actions: Sequence[str]) -> None:
        self.registry = registry
        self.path = path
        self.scopes = [scope_for(path, actions)]

    @property
    def name(self) -> str:
        return f"{self.registry.domain}/{self.path}"

    def _fail(self, response: Response, what: str) -> RegistryError:
        body = response.excerpt() if response.status != 416 else b""
        return error_for(
            response.status, body, response.headers, what, self.registry.domain, repository=self.name
        )

    # -- manifests -----------------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[bytes, str, Digest]:
        """The manifest or index that ``reference`` (a tag or digest) names: bytes, media type, digest."""
        what = (
            f"manifest for {self.name}:{reference}"
            if ":" not in reference
            else f"manifest {self.name}@{reference}"
        )
        response = self.registry.request(
            "GET",
            f"/v2/{self.path}/manifests/{reference}",
            self.scopes,
            headers={"Accept": MANIFEST_ACCEPT},
            what=what,
        )
        if response.status != 200:
            raise self._fail(response, what)
        data = response.body(MANIFEST_MAX)
        digest = Digest.of(data)
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatch(what, reference, digest)
        # By tag, the body must be what the registry says it is (as containerd checks): a body
        # changed on the way (a proxy, a mirror) is not pulled under the tag's name.
        announced = response.headers.get("docker-content-digest", "")
        if announced.startswith("sha256:") and announced != digest:
            raise DigestMismatch(f"{what} (its Docker-Content-Digest)", announced, digest)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return data, media_type, digest

    def manifest_digest(self, reference: str) -> Digest | None:
        """The digest ``reference`` points at, by HEAD (registries do not count it as a pull);
        None when the registry does not say."""
        what = f"manifest for {self.name}:{reference}"
        response = self.registry.request(
            "HEAD",
            f"/v2/{self.path}/manifests/{reference}",
            self.scopes,
            headers={"Accept": MANIFEST_ACCEPT},
            what=what,
        )
        response.close()
        if response.status != 200:
            raise self._fail(response, what)
        found = response.headers.get("docker-content-digest", "")
        return Digest(found) if found.startswith("sha256:") and len(found) == 71 else None

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> Digest:
        what = f"manifest {self.name}:{reference}"
        response = self.registry.request(
            "PUT", f"/v2/{self.path}/manifests/{reference}", self.scopes,
            headers={"Content-Type": media_type}, body=data, what=what,
        )  # fmt: skip
        if response.status not in (200, 201):
            raise self._fail(response, what)
        response.excerpt()
        ours = Digest.of(data)
        theirs = response.headers.get("docker-content-digest")
        if theirs and theirs != ours:
            raise RegistryUnavailable(f"{what}: the registry stored it as {theirs}, not {ours}")
        return ours

    def tags(self) -> list[str]:
        what = f"tags of {self.name}"
        found: list[str] = []
        path: str | None = f"/v2/{self.path}/tags/list"
        while path:
            response = self.registry.request("GET", path, self.scopes, what=what)
            if response.status != 200:
                raise self._fail(response, what)
            found += _tag_list(response.body(MANIFEST_MAX), what)
            link = response.headers.get("link", "")
            path = link.split(";")[0].strip("<> ") if 'rel="next"' in link else None
        return found

    # -- blobs -------------------------------------------------------------------------

    def open_blob(self, digest: Digest, offset: int = 0) -> tuple[Response, int]:
        """A blob's bytes from ``offset`` on: the response and where its body really starts
        (0 when the registry ignored the range and sent the whole blob)."""
        what = f"blob {digest.short} of {self.name}"
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self.registry.request(
            "GET", f"/v2/{self.path}/blobs/{digest}", self.scopes, headers=headers, what=what
        )
        if response.status == 206:
            return response, offset
        if response.status == 200:
            return response, 0
        raise self._fail(response, what)

    def blob_size(self, digest: Digest) -> int | None:
        """The size of a blob the repository has, or None (HEAD)."""
        response = self.registry.request(
            "HEAD", f"/v2/{self.path}/blobs/{digest}", self.scopes, what=f"blob {digest.short}"
        )
        response.close()
        if response.status == 200:
            return int(response.headers.get("content-length", "0") or 0)
        if response.status == 404:
            return None
        raise self._fail(response, f"blob {digest.short} of {self.name}")

    def mount(self, digest: Digest, source: str) -> str | None:
        """Ask for a blob of repository ``source`` (same registry) to appear here too.

        Returns None when it did; else an upload location to send the blob to instead."""
        scopes = [*self.scopes, scope_for(source, ["pull"])]
        query = urlencode({"mount": str(digest), "from": source})
        what = f"blob {digest.short} of {self.name}"
        response = self.registry.request(
            "POST", f"/v2/{self.path}/blobs/uploads/?{query}", scopes, body=b"", what=what
        )
        response.excerpt()
        if response.status == 201:
            return None
        if response.status == 202:
            return self._location(response)
        raise self._fail(response, what)

    def start_upload(self) -> str:
        what = f"an upload to {self.name}"
        response = self.registry.request(
            "POST", f"/v2/{self.path}/blobs/uploads/", self.scopes, body=b"", what=what
        )
        if response.status != 202:
            raise self._fail(response, what)
        response.excerpt()
        return self._location(response)

    def _location(self, response: Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise RegistryUnavailable(f"{self.registry.domain} started an upload but gave no location")
        return urljoin(response.url, location)

    def upload(
        self,
        location: str,
        digest: Digest,
        size: int,
        source: BinaryIO,
        *,
        chunk_size: int,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Send a blob: one PUT when ``chunk_size`` covers it, else PATCH chunks and a closing PUT."""
        what = f"blob {digest.short} to {self.name}"
        if size <= chunk_size:
            response = self.registry.request(
                "PUT", _with_query(location, digest=str(digest)), self.scopes,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                body=_blocks(source, size, progress), what=what,
            )  # fmt: skip
            if response.status != 201:
                raise self._fail(response, what)
            response.excerpt()
            return
        sent = 0
        while sent < size:
            length = min(chunk_size, size - sent)
            response = self.registry.request(
                "PATCH", location, self.scopes,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(length),
                    "Content-Range": f"{sent}-{sent + length - 1}",
                },
                body=_blocks(source, length, progress), what=what,
            )  # fmt: skip
            if response.status != 202:
                raise self._fail(response, what)
            response.excerpt()
            location = self._location(response)
            sent += length
        response = self.registry.request(
            "PUT", _with_query(location, digest=str(digest)), self.scopes,
            headers={"Content-Length": "0"}, body=b"", what=what,
        )  # fmt: skip
        if response.status != 201:
            raise self._fail(response, what)
        response.excerpt()


def _tag_list(body: bytes, what: str) -> list[str]:
    """The ``tags`` of a tag list page, checked: ``{"name": ..., "tags": [str, ...]}``."""
    import json  # noqa: PLC0415 - rarely needed

    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    tags = data.get("tags") if isinstance(data, dict) else ()
    if tags is None:
        return []  # a repository without tags
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise RegistryUnavailable(f"{what}: the registry's answer is not a tag list")
    return tags


def _with_query(url: str, **params: str) -> str:
    joiner = "&" if urlsplit(url).query else "?"
    return url + joiner + urlencode(params)


def _blocks(source: BinaryIO, length: int, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    left = length
    while left > 0:
        block = source.read(min(UPLOAD_BLOCK, left))
        if not block:
            raise RegistryUnavailable("the blob being uploaded ended early")
        left -= len(block)
        if progress is not None:
            progress(len(block))
        yield block
