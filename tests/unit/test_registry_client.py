"""The registry client over a mock transport: tokens, redirects, endpoint fallbacks and
hostile answers, with no registry process."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.registry.client import Registry
from cove.registry.credentials import Credentials
from cove.registry.errors import RegistryError, RegistryUnavailable, Unauthorized
from cove.registry.hosts import RegistrySettings
from cove.registry.transport import MAX_REDIRECTS, Request, TransportError
from tests.helpers.mocktransport import MockResponse, MockTransport, json_response, path, query

HOST = "reg.example"
REALM = "https://auth.example/token"
MANIFEST = b'{"schemaVersion": 2}'
BLOB = b"blob bytes" * 100
BLOB_DIGEST = Digest.of(BLOB)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenRegistry:
    """A registry that takes only the tokens its token server issued, as a handler."""

    def __init__(self, *, lifetime: int | None = 300, scheme: str = "Bearer") -> None:
        self.lifetime = lifetime
        self.scheme = scheme
        self.issued: list[Request] = []  # the token requests
        self.accepted: set[str] = set()
        self.refused = 0  # 401s answered

    def challenge(self) -> MockResponse:
        self.refused += 1
        header = (
            f'Bearer realm="{REALM}",service="reg.example"'
            if self.scheme == "Bearer"
            else 'Basic realm="reg"'
        )
        return MockResponse(401, b'{"errors": [{"code": "UNAUTHORIZED"}]}', {"WWW-Authenticate": header})

    def authorized(self, request: Request) -> bool:
        given = request.headers.get("Authorization", "")
        if self.scheme == "Basic":
            return given == "Basic " + base64.b64encode(b"alice:pw").decode()
        return given.removeprefix("Bearer ") in self.accepted

    def __call__(self, request: Request) -> MockResponse:
        if request.host == "auth.example":
            self.issued.append(request)
            token = f"token-{len(self.issued)}"
            self.accepted.add(token)
            answer: dict[str, object] = {"token": token}
            if self.lifetime is not None:
                answer["expires_in"] = self.lifetime
            return json_response(200, answer)
        if not self.authorized(request):
            return self.challenge()
        if "/manifests/" in path(request):
            return MockResponse(200, MANIFEST, {"Content-Type": mt.OCI_MANIFEST})
        if "/blobs/" in path(request):
            return MockResponse(200, BLOB)
        return MockResponse(404)


def registry(
    transport: MockTransport,
    domain: str = HOST,
    *,
    credentials: Credentials | None = None,
    settings: RegistrySettings | None = None,
    clock: Clock | None = None,
    for_push: bool = False,
) -> Registry:
    return Registry(
        domain,
        settings or RegistrySettings(certs_dir=Path("/nonexistent")),
        transport,
        lambda: credentials,
        for_push=for_push,
        clock=clock or Clock(),
    )


# -- tokens ----------------------------------------------------------------------------------


def test_a_bearer_token_is_fetched_once_per_scope_and_reused() -> None:
    fake = TokenRegistry()
    transport = MockTransport(fake)
    reg = registry(transport)
    repo = reg.repository("lib/app")
    assert repo.manifest("1")[0] == MANIFEST
    assert repo.manifest("2")[0] == MANIFEST
    assert repo.blob_size(BLOB_DIGEST) == len(BLOB)
    assert len(fake.issued) == 1 and fake.refused == 1  # one challenge, one token, then reused
    asked = query(fake.issued[0])
    assert asked == {"service": ["reg.example"], "scope": ["repository:lib/app:pull"]}
    assert "Authorization" not in fake.issued[0].headers  # anonymous
    reg.repository("lib/other").manifest("1")  # another scope: another token
    assert len(fake.issued) == 2 and query(fake.issued[1])["scope"] == ["repository:lib/other:pull"]
    assert reg.repository("lib/app").manifest("3")[0] == MANIFEST
    assert len(fake.issued) == 2


def test_an_expired_token_is_fetched_again_before_it_is_refused() -> None:
    fake = TokenRegistry(lifetime=60)
    clock = Clock()
    repo = registry(MockTransport(fake), clock=clock).repository("lib/app")
    repo.manifest("1")
    clock.now += 45  # renewed 10 s before it expires: still good
    repo.manifest("1")
    assert len(fake.issued) == 1
    clock.now += 6
    repo.manifest("1")
    assert len(fake.issued) == 2 and fake.refused == 1  # the new one was asked for before sending


def test_a_token_without_a_lifetime_lasts_the_specs_sixty_seconds() -> None:
    fake = TokenRegistry(lifetime=None)
    clock = Clock()
    repo = registry(MockTransport(fake), clock=clock).repository("lib/app")
    repo.manifest("1")
    clock.now += 49
    repo.manifest("1")
    clock.now += 2
    repo.manifest("1")
    assert len(fake.issued) == 2


def test_a_token_the_registry_stops_taking_is_replaced_once() -> None:
    fake = TokenRegistry()
    transport = MockTransport(fake)
    repo = registry(transport).repository("lib/app")
    repo.manifest("1")
    fake.accepted.clear()  # revoked
    assert repo.manifest("1")[0] == MANIFEST
    assert len(fake.issued) == 2
    fake.accepted.clear()
    fake.issued.clear()

    def refuse_all(request: Request) -> MockResponse:
        response = fake(request)
        fake.accepted.clear()  # every token is refused at once
        return response

    transport.handler = refuse_all
    with pytest.raises(Unauthorized, match="authentication required"):
        repo.manifest("1")
    assert len(fake.issued) == 1  # one fresh token tried, no loop


def test_credentials_go_to_the_token_server_not_the_registry() -> None:
    fake = TokenRegistry()
    transport = MockTransport(fake)
    registry(transport, credentials=Credentials("alice", "pw")).repository("lib/app").manifest("1")
    [token_request] = fake.issued
    assert token_request.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:pw").decode()
    assert query(token_request)["account"] == ["alice"]
    assert all(
        r.headers.get("Authorization", "").startswith("Bearer ") or "Authorization" not in r.headers
        for r in transport.sent_to(HOST)
    )


def test_an_identity_token_is_traded_by_oauth2_post() -> None:
    fake = TokenRegistry()
    registry(MockTransport(fake), credentials=Credentials("", "refresh-me", identity_token=True)).repository(
        "lib/app"
    ).manifest("1")
    [token_request] = fake.issued
    assert token_request.method == "POST"
    assert isinstance(token_request.body, bytes)
    form = parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["refresh-me"]
    assert form["scope"] == ["repository:lib/app:pull"]


def test_basic_auth_sends_the_credentials_to_the_registry() -> None:
    fake = TokenRegistry(scheme="Basic")
    transport = MockTransport(fake)
    repo = registry(transport, credentials=Credentials("alice", "pw")).repository("lib/app")
    repo.manifest("1")
    repo.manifest("2")
    assert fake.issued == [] and fake.refused == 1  # learnt once, then sent with every request
    with pytest.raises(Unauthorized) as caught:
        registry(MockTransport(TokenRegistry(scheme="Basic"))).repository("lib/app").manifest("1")
    assert caught.value.hint == f"log in first: cove login {HOST}"


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (MockResponse(401, b"no"), Unauthorized, "authentication required (token server for reg.example)"),
        (
            MockResponse(503, b"x" * (10 << 20)),
            RegistryUnavailable,
            "token server for reg.example answered HTTP 503",
        ),
        (MockResponse(200, b"not json"), RegistryUnavailable, "returned no token"),
        (MockResponse(200, b"[" * 100_000), RegistryUnavailable, "returned no token"),
        (json_response(200, ["token"]), RegistryUnavailable, "returned no token"),
        (json_response(200, {"token": 7}), RegistryUnavailable, "returned no token"),
        (json_response(200, {"token": "t", "expires_in": "soon"}), RegistryUnavailable, "returned no token"),
        (json_response(200, {"token": "t", "expires_in": 1e400}), RegistryUnavailable, "returned no token"),
        (MockResponse(200, b"{" + b" " * (2 << 20) + b"}"), RegistryUnavailable, "larger than"),
    ],
)
def test_a_token_servers_bad_answers_are_errors(answer: MockResponse, error: type, message: str) -> None:
    def handler(request: Request) -> MockResponse:
        return answer if request.host == "auth.example" else TokenRegistry().challenge()

    with pytest.raises(error, match=re.escape(message)):
        registry(MockTransport(handler)).repository("lib/app").manifest("1")
    assert answer.pos <= (2 << 20) + 1  # what was read stays bounded
    assert answer.closed


# -- redirects ---------------------------------------------------------------------------------


def blob_via_cdn(location: str) -> TokenRegistry:
    class Redirecting(TokenRegistry):
        def __call__(self, request: Request) -> MockResponse:
            if request.host == "cdn.example":
                return MockResponse(200, BLOB)
            if "/blobs/" in path(request) and self.authorized(request):
                return MockResponse(307, b"", {"Location": location})
            return super().__call__(request)

    return Redirecting()


def test_a_blob_redirected_to_another_host_goes_there_without_our_credentials() -> None:
    transport = MockTransport(blob_via_cdn("https://cdn.example/blobs/abc?sig=1"))
    settings = RegistrySettings(insecure=(HOST,), certs_dir=Path("/nonexistent"))
    repo = registry(transport, settings=settings).repository("lib/app")
    response, start = repo.open_blob(BLOB_DIGEST)
    assert response.read() == BLOB and start == 0
    [at_cdn] = transport.sent_to("cdn.example")
    assert at_cdn.url == "https://cdn.example/blobs/abc?sig=1"
    assert "Authorization" not in at_cdn.headers
    assert at_cdn.verify  # the other host's certificate is checked, insecure registry or not
    redirected = [r for r in transport.sent_to(HOST) if "/blobs/" in r.url][-1]
    assert redirected.headers["Authorization"].startswith("Bearer ") and not redirected.verify


def test_a_redirect_on_the_same_host_keeps_the_credentials() -> None:
    fake = blob_via_cdn("/elsewhere/blob")

    def handler(request: Request) -> MockResponse:
        if path(request) == "/elsewhere/blob" and fake.authorized(request):
            return MockResponse(200, BLOB)
        return fake(request)

    transport = MockTransport(handler)
    response, _ = registry(transport).repository("lib/app").open_blob(BLOB_DIGEST)
    assert response.read() == BLOB
    final = transport.requests[-1]
    assert final.url == f"https://{HOST}/elsewhere/blob" and final.headers["Authorization"].startswith(
        "Bearer "
    )


def test_redirect_loops_are_bounded() -> None:
    def handler(request: Request) -> MockResponse:
        return MockResponse(302, b"", {"Location": request.url})

    transport = MockTransport(handler)
    with pytest.raises(TransportError, match="too many redirects"):
        registry(transport).repository("lib/app").manifest("1")
    assert len(transport.requests) == MAX_REDIRECTS + 1
    assert all(r.closed for r in transport.responses)


@pytest.mark.parametrize(
    ("headers", "message"),
    [({}, "redirect without a location"), ({"Location": "file:///etc/passwd"}, "not http")],
)
def test_a_redirect_to_nowhere_is_an_error(headers: dict[str, str], message: str) -> None:
    transport = MockTransport(lambda request: MockResponse(301, b"", headers))
    with pytest.raises(TransportError, match=message):
        registry(transport).repository("lib/app").manifest("1")


def test_an_upload_is_not_redirected() -> None:
    transport = MockTransport(lambda request: MockResponse(307, b"", {"Location": "https://x.example/"}))
    with pytest.raises(RegistryError, match="HTTP 307"):
        registry(transport).repository("lib/app").start_upload()
    assert len(transport.requests) == 1


# -- locations on other hosts --------------------------------------------------------------------


def test_an_upload_location_on_another_host_gets_no_credentials() -> None:
    fake = TokenRegistry()

    def handler(request: Request) -> MockResponse:
        if request.host == "uploads.example":
            return MockResponse(201)
        if request.method == "POST" and fake.authorized(request):
            return MockResponse(202, b"", {"Location": "https://uploads.example/u/1?state=x"})
        return fake(request)

    transport = MockTransport(handler)
    repo = registry(transport).repository("lib/app", ("pull", "push"))
    location = repo.start_upload()
    assert location == "https://uploads.example/u/1?state=x"
    repo.upload(location, BLOB_DIGEST, len(BLOB), io.BytesIO(BLOB), chunk_size=1 << 20)
    [put] = transport.sent_to("uploads.example")
    assert put.method == "PUT" and "Authorization" not in put.headers and put.verify


def test_tag_pages_follow_links_and_a_link_elsewhere_gets_no_credentials() -> None:
    fake = TokenRegistry()

    def handler(request: Request) -> MockResponse:
        if request.host == "pages.example":
            return json_response(200, {"name": "lib/app", "tags": ["3"]})
        if path(request).endswith("/tags/list") and fake.authorized(request):
            if "last" in query(request):
                return json_response(
                    200, {"tags": ["2"]}, {"Link": '<https://pages.example/next>; rel="next"'}
                )
            return json_response(200, {"tags": ["1"]}, {"Link": '</v2/lib/app/tags/list?last=1>; rel="next"'})
        return fake(request)

    transport = MockTransport(handler)
    assert registry(transport).repository("lib/app").tags() == ["1", "2", "3"]
    [elsewhere] = transport.sent_to("pages.example")
    assert "Authorization" not in elsewhere.headers


@pytest.mark.parametrize(
    "body", [b'{"tags": "latest"}', b'{"tags": [1, 2]}', b"[" * 100_000, b'["tags"]', b"\xff\xfe"]
)
def test_a_tag_list_that_is_not_one_is_an_error(body: bytes) -> None:
    transport = MockTransport(lambda request: MockResponse(200, body))
    with pytest.raises(RegistryUnavailable, match="not a tag list"):
        registry(transport).repository("lib/app").tags()


def test_a_repository_without_tags_has_none() -> None:
    transport = MockTransport(lambda request: json_response(200, {"name": "lib/app", "tags": None}))
    assert registry(transport).repository("lib/app").tags() == []


# -- endpoints: mirrors, HTTPS and HTTP ------------------------------------------------------------


def hub(mirror_answer: MockResponse | TransportError | None) -> MockTransport:
    def handler(request: Request) -> MockResponse:
        if request.host == "mirror.lan":
            if isinstance(mirror_answer, TransportError):
                raise mirror_answer
            assert mirror_answer is not None
            return mirror_answer
        assert request.host == "registry-1.docker.io"
        return MockResponse(200, MANIFEST, {"Content-Type": mt.OCI_MANIFEST})

    return MockTransport(handler)


MIRRORED = RegistrySettings(mirrors=("https://mirror.lan",), certs_dir=Path("/nonexistent"))


@pytest.mark.parametrize(
    "mirror_answer",
    [
        TransportError("cannot reach registry mirror.lan: connection refused"),
        MockResponse(404),
        MockResponse(500),
    ],
)
def test_a_mirror_that_fails_gives_way_to_docker_hub(mirror_answer: MockResponse | TransportError) -> None:
    transport = hub(mirror_answer)
    reg = registry(transport, "docker.io", settings=MIRRORED)
    assert reg.repository("library/busybox").manifest("1")[0] == MANIFEST
    assert [r.host for r in transport.requests] == ["mirror.lan", "registry-1.docker.io"]
    if isinstance(mirror_answer, MockResponse):
        assert mirror_answer.closed and mirror_answer.reused is False


def test_a_working_mirror_serves_and_pushes_skip_it() -> None:
    served = MockResponse(200, MANIFEST, {"Content-Type": mt.OCI_MANIFEST})
    transport = hub(served)
    registry(transport, "docker.io", settings=MIRRORED).repository("library/busybox").manifest("1")
    assert [r.url for r in transport.requests] == ["https://mirror.lan/v2/library/busybox/manifests/1"]
    transport = hub(MockResponse(500))
    registry(transport, "docker.io", settings=MIRRORED, for_push=True).repository("library/busybox").manifest(
        "1"
    )
    assert [r.host for r in transport.requests] == ["registry-1.docker.io"]


def plain_http_only(request: Request) -> MockResponse:
    if request.url.startswith("https://"):
        raise TransportError(f"TLS with {request.host} failed: wrong version number", tls=True)
    return MockResponse(200, MANIFEST, {"Content-Type": mt.OCI_MANIFEST})


def test_an_insecure_registry_falls_back_to_plain_http_and_stays_there(tmp_path: Path) -> None:
    transport = MockTransport(plain_http_only)
    settings = RegistrySettings(insecure=("reg.lan:5000",), certs_dir=tmp_path)
    repo = registry(transport, "reg.lan:5000", settings=settings).repository("app")
    repo.manifest("1")
    repo.manifest("2")
    assert [(r.url.split("/v2/")[0], r.verify) for r in transport.requests] == [
        ("https://reg.lan:5000", False),  # HTTPS first, unverified
        ("http://reg.lan:5000", False),
        ("http://reg.lan:5000", False),  # the endpoint that worked is kept
    ]


def test_a_loopback_registry_is_insecure_too(tmp_path: Path) -> None:
    transport = MockTransport(plain_http_only)
    registry(transport, "127.0.0.1:5000", settings=RegistrySettings(certs_dir=tmp_path)).repository(
        "app"
    ).manifest("1")
    assert [r.url.split(":")[0] for r in transport.requests] == ["https", "http"]


def test_a_secure_registry_never_falls_back_to_http(tmp_path: Path) -> None:
    transport = MockTransport(plain_http_only)
    with pytest.raises(TransportError, match=r"TLS with reg\.lan:5000 failed") as caught:
        registry(transport, "reg.lan:5000", settings=RegistrySettings(certs_dir=tmp_path)).repository(
            "app"
        ).manifest("1")
    assert caught.value.tls
    assert [r.url.split(":")[0] for r in transport.requests] == ["https"]
    assert transport.requests[0].verify


# -- error answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # nested deeper than the JSON parser recurses
        b"\xff\xfe\x00garbage",
        b'{"errors": "x"}',
        b'{"errors": [{"code": 5, "message": null}, "x"]}',
        json.dumps({"errors": [{"code": "DENIED", "message": "one\ntwo\x1b[31m" * 10_000}]}).encode(),
        b"plain words\x1b]0;title\x07 and more\nsecond line",
        b"x" * (10 << 20),
        b"<html>" + b"x" * 1000,
    ],
)
@pytest.mark.parametrize("status", [403, 404, 500])
def test_error_bodies_are_read_bounded_and_said_in_one_short_line(body: bytes, status: int) -> None:
    answer = MockResponse(status, body)
    with pytest.raises(RegistryError) as caught:
        registry(MockTransport(lambda request: answer)).repository("lib/app").manifest("1")
    message = caught.value.message
    assert caught.value.status == status
    assert "\n" not in message and message.isprintable() and len(message) < 400, message
    assert answer.pos <= (64 << 10) + 1 and answer.closed


def test_a_huge_401_body_is_still_an_authentication_error() -> None:
    answer = MockResponse(401, b"x" * (1 << 20))
    with pytest.raises(Unauthorized):
        registry(MockTransport(lambda request: answer)).repository("lib/app").manifest("1")
