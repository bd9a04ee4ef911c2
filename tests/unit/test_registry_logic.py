"""Registry client logic that needs no registry: challenges, errors, endpoints, credentials."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from cove.content.store import ContentStore
from cove.engine.registries import registry_domain
from cove.errors import DigestMismatch, InvalidArgument, NotFound, PermissionDenied, Unavailable
from cove.host.runner import CommandFailed, RunResult
from cove.images.pull import ResumingReader, RetryPolicy
from cove.oci.digest import Digest
from cove.oci.image import Descriptor
from cove.registry.auth import parse_challenges, scope_for
from cove.registry.client import Registry, Repository
from cove.registry.credentials import Credentials, CredentialStore, config_dir, server_key
from cove.registry.errors import (
    BadRequest,
    Denied,
    RateLimited,
    RegistryNotFound,
    RegistryUnavailable,
    Unauthorized,
    error_for,
    rate_limit_reset,
)
from cove.registry.hosts import Endpoint, RegistrySettings, endpoints, is_insecure
from cove.registry.transport import Request
from tests.helpers.mocktransport import MockResponse, MockTransport

# -- WWW-Authenticate ---------------------------------------------------------------------


def test_bearer_challenge_with_quoted_commas() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull,push"'
    )
    [challenge] = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull,push",
    }


def test_basic_and_unquoted_and_several_challenges() -> None:
    found = parse_challenges('Basic realm="Registry Realm", Bearer realm=https://t/token,service=reg')
    assert [c.scheme for c in found] == ["basic", "bearer"]
    assert found[0].params == {"realm": "Registry Realm"}
    assert found[1].params == {"realm": "https://t/token", "service": "reg"}


def test_escaped_quote_and_empty_header() -> None:
    [challenge] = parse_challenges(r'Bearer realm="a \"b\" c"')
    assert challenge.params["realm"] == 'a "b" c'
    assert parse_challenges("") == []


def test_scope() -> None:
    assert scope_for("library/busybox", ["pull", "push"]) == "repository:library/busybox:pull,push"


# -- error answers ------------------------------------------------------------------------


def _body(code: str, message: str = "") -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def test_errors_name_the_problem_in_one_line() -> None:
    host = "r.example:5000"
    cases: list[tuple[int, bytes, type[Exception], str]] = [
        (401, _body("UNAUTHORIZED"), Unauthorized, "unauthorized: authentication required for repo x"),
        (403, _body("DENIED", "no way"), Denied, "denied: requested access to repo x is denied (no way)"),
        (404, _body("MANIFEST_UNKNOWN"), RegistryNotFound, "manifest unknown: repo x not found"),
        (404, _body("NAME_UNKNOWN"), RegistryNotFound, "name unknown: repository r.example:5000/x not known"),
        (404, _body("BLOB_UNKNOWN"), RegistryNotFound, "repo x not found on r.example:5000"),
        (
            400,
            _body("DIGEST_INVALID", "bad digest"),
            BadRequest,
            "refused repo x: digest_invalid: bad digest",
        ),
        (502, b"<html>bad gateway</html>", RegistryUnavailable, "answered HTTP 502 for repo x"),
    ]
    for status, body, kind, text in cases:
        error = error_for(status, body, {}, "repo x", host, repository="r.example:5000/x")
        assert isinstance(error, kind), (status, body)
        assert text in error.message, error.message
        assert "\n" not in error.message
    assert isinstance(error_for(401, b"", {}, "x", host), PermissionDenied)
    assert isinstance(error_for(404, b"", {}, "manifest for x", host), NotFound)
    assert "cove login r.example:5000" in (error_for(401, b"", {}, "x", host).hint or "")


def test_rate_limit_names_the_reset_time() -> None:
    error = error_for(429, _body("TOOMANYREQUESTS"), {"retry-after": "60"}, "x", "docker.io")
    assert isinstance(error, RateLimited) and isinstance(error, Unavailable)
    expected = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() + 60))
    assert "rate-limits this client until" in error.message
    assert expected[:13] in error.message  # the hour, whatever the seconds
    assert rate_limit_reset({"ratelimit-reset": "1700000000"}) == "2023-11-14 22:13:20 UTC"
    assert rate_limit_reset({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == "2015-10-21 07:28:00 UTC"
    assert rate_limit_reset({}) is None


# -- endpoints ------------------------------------------------------------------------------


def test_docker_hub_mirrors_serve_pulls_only(tmp_path: Path) -> None:
    settings = RegistrySettings(mirrors=("https://mirror.lan/", "http://10.0.0.1:5000"), certs_dir=tmp_path)
    pull = endpoints("docker.io", settings)
    assert pull == [
        Endpoint("https", "mirror.lan", True, mirror=True),
        Endpoint("http", "10.0.0.1:5000", False, mirror=True),
        Endpoint("https", "registry-1.docker.io", True),
    ]
    assert endpoints("docker.io", settings, for_push=True) == [
        Endpoint("https", "registry-1.docker.io", True)
    ]
    with pytest.raises(InvalidArgument, match="not an http"):
        endpoints("docker.io", RegistrySettings(mirrors=("mirror.lan",)))


def test_secure_insecure_and_loopback(tmp_path: Path) -> None:
    settings = RegistrySettings(insecure=("reg.lan:5000", "other.lan"), certs_dir=tmp_path)
    assert endpoints("quay.example", settings) == [Endpoint("https", "quay.example", True)]
    assert endpoints("reg.lan:5000", settings) == [
        Endpoint("https", "reg.lan:5000", False),
        Endpoint("http", "reg.lan:5000", False),
    ]
    assert is_insecure("other.lan:443", settings)  # a bare host name covers every port
    assert is_insecure("127.0.0.1:5000", settings)
    assert is_insecure("localhost:5000", settings)
    assert is_insecure("[::1]:5000", settings)
    # Certificates set up for a loopback registry make cove verify it.
    (tmp_path / "127.0.0.1:5001").mkdir()
    assert not is_insecure("127.0.0.1:5001", settings)
    assert endpoints("127.0.0.1:5001", settings) == [Endpoint("https", "127.0.0.1:5001", True)]


def test_registry_domain_from_login_arguments() -> None:
    assert registry_domain(None) == "docker.io"
    assert registry_domain("https://index.docker.io/v1/") == "docker.io"
    assert registry_domain("registry-1.docker.io") == "docker.io"
    assert registry_domain("https://Reg.Lan:5000/v2/") == "reg.lan:5000"
    assert registry_domain("127.0.0.1:5000") == "127.0.0.1:5000"
    with pytest.raises(InvalidArgument):
        registry_domain("https:///")


# -- credentials -----------------------------------------------------------------------------


class HelperRunner:
    """Plays a docker-credential-* helper: keeps what it is given, in memory."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, ...]] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> RunResult:
        self.calls.append(tuple(argv))
        action = argv[1]
        text = (input or b"").decode()
        if action == "store":
            payload = json.loads(text)
            self.saved[payload["ServerURL"]] = payload
            return RunResult(tuple(argv), 0, b"", b"")
        if action == "get":
            if text not in self.saved:
                raise CommandFailed(
                    RunResult(tuple(argv), 1, b"credentials not found in native keychain\n", b"")
                )
            return RunResult(tuple(argv), 0, json.dumps(self.saved[text]).encode(), b"")
        self.saved.pop(text, None)
        return RunResult(tuple(argv), 0, b"", b"")


def test_config_dir_follows_docker_config(tmp_path: Path) -> None:
    assert config_dir({"DOCKER_CONFIG": str(tmp_path)}) == tmp_path
    assert config_dir({"HOME": "/home/u"}) == Path("/home/u/.docker")


def test_logins_in_docker_config_json(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path, HelperRunner())
    assert store.get("reg.lan:5000") is None
    assert store.store("reg.lan:5000", Credentials("alice", "s3cret:x")) == str(tmp_path / "config.json")
    store.store("docker.io", Credentials("bob", "pw"))
    data = json.loads((tmp_path / "config.json").read_text())
    assert base64.b64decode(data["auths"]["reg.lan:5000"]["auth"]) == b"alice:s3cret:x"
    assert server_key("docker.io") == "https://index.docker.io/v1/"
    assert "https://index.docker.io/v1/" in data["auths"]
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    assert store.get("reg.lan:5000") == Credentials("alice", "s3cret:x")
    assert store.get("index.docker.io") == Credentials("bob", "pw")
    assert store.erase("reg.lan:5000") is True
    assert store.erase("reg.lan:5000") is False
    assert store.get("reg.lan:5000") is None


def test_logins_written_by_docker_are_read(tmp_path: Path) -> None:
    auth = base64.b64encode(b"carol:pw").decode()
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "https://reg.lan:5000/v1/": {"auth": auth},
                    "tok.lan": {"identitytoken": "refresh-me"},
                },
                "psFormat": "kept",
            }
        )
    )
    store = CredentialStore(tmp_path, HelperRunner())
    assert store.get("reg.lan:5000") == Credentials("carol", "pw")
    assert store.get("tok.lan") == Credentials("", "refresh-me", identity_token=True)
    store.store("reg.lan:5000", Credentials("carol", "new"))
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["psFormat"] == "kept"  # other settings survive a login
    assert list(data["auths"]) == ["tok.lan", "reg.lan:5000"]


def test_broken_config_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match=r"config\.json"):
        CredentialStore(tmp_path, HelperRunner()).get("x")
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"x": {"auth": "%%%"}}}))
    with pytest.raises(InvalidArgument, match="not valid base64"):
        CredentialStore(tmp_path, HelperRunner()).get("x")


def test_credential_helpers_per_registry_and_for_all(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"credsStore": "pass", "credHelpers": {"reg.lan:5000": "secretservice"}})
    )
    runner = HelperRunner()
    store = CredentialStore(tmp_path, runner)
    assert store.store("reg.lan:5000", Credentials("dave", "pw")) == "docker-credential-secretservice"
    assert store.store("other.lan", Credentials("erin", "pw2")) == "docker-credential-pass"
    assert store.get("reg.lan:5000") == Credentials("dave", "pw")
    assert store.get("other.lan") == Credentials("erin", "pw2")
    assert store.get("unknown.lan") is None  # "credentials not found" is no error
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["auths"] == {"reg.lan:5000": {}, "other.lan": {}}  # no secrets in the file
    helpers = {call[0] for call in runner.calls}
    assert helpers == {"docker-credential-secretservice", "docker-credential-pass"}
    assert store.erase("other.lan") is True
    assert store.get("other.lan") is None


# -- retries ----------------------------------------------------------------------------------


def test_retry_delays_double_up_to_a_ceiling() -> None:
    assert RetryPolicy(attempts=6, first_delay=0.25, max_delay=2).delays() == [0.25, 0.5, 1, 2, 2]
    assert RetryPolicy(attempts=1).delays() == []


# -- resuming downloads -------------------------------------------------------------------------


class BlobServer:
    """Serves one blob (a handler for the mock transport); ``cuts`` lists where each
    successive connection breaks, as a dropped connection does."""

    def __init__(self, blob: bytes, cuts: list[int | None], honour_range: bool = True) -> None:
        self.blob = blob
        self.cuts = cuts
        self.honour_range = honour_range
        self.offsets: list[int] = []

    def __call__(self, request: Request) -> MockResponse:
        asked = request.headers.get("Range", "bytes=0-")
        offset = int(asked.removeprefix("bytes=").rstrip("-"))
        self.offsets.append(offset)
        cut = self.cuts.pop(0) if self.cuts else None
        if offset and self.honour_range:
            return MockResponse(206, self.blob[offset:], cut=cut)
        return MockResponse(200, self.blob, cut=cut)

    def repository(self) -> Repository:
        settings = RegistrySettings(certs_dir=Path("/nonexistent"))
        return Registry("reg.example", settings, MockTransport(self), lambda: None).repository("lib/app")


def _read_all(reader: object) -> bytes:
    parts = []
    while data := reader.read(1000):  # type: ignore[attr-defined]
        parts.append(data)
    return b"".join(parts)


@pytest.mark.parametrize(
    ("honour_range", "cuts"),
    [(True, [3000, 2500]), (False, [3000, 5500])],  # a registry that ignores Range sends it all again
)
def test_broken_downloads_resume_from_the_last_byte(
    tmp_path: Path, honour_range: bool, cuts: list[int | None]
) -> None:

    blob = bytes(range(256)) * 40  # 10,240 bytes
    digest = Digest.of(blob)
    layer = Descriptor("application/vnd.oci.image.layer.v1.tar", digest, len(blob))
    content = ContentStore(tmp_path / "content")
    server = BlobServer(blob, cuts=list(cuts), honour_range=honour_range)
    fast = RetryPolicy(attempts=3, first_delay=0.001)

    partial = content.partial(digest, len(blob))
    reader = ResumingReader(server.repository(), layer, partial, fast)
    assert _read_all(reader) == blob
    assert server.offsets == [0, 3000, 5500]
    assert reader.reconnects == 2
    partial.commit(digest)
    assert content.read(digest) == blob


def test_a_killed_download_is_replayed_then_continued(tmp_path: Path) -> None:

    blob = b"0123456789" * 1000
    digest = Digest.of(blob)
    layer = Descriptor("application/vnd.oci.image.layer.v1.tar", digest, len(blob))
    content = ContentStore(tmp_path / "content")
    first = content.partial(digest, len(blob))
    first.append(blob[:4321])  # what a killed pull had written
    first.close()
    server = BlobServer(blob, cuts=[])
    second = content.partial(digest, len(blob))
    assert second.offset == 4321
    reader = ResumingReader(server.repository(), layer, second, RetryPolicy())
    assert _read_all(reader) == blob  # all of it, for the hash and the unpack
    assert server.offsets == [4321]  # but only the rest from the network
    second.commit(digest)


def test_gives_up_after_the_attempts_and_keeps_what_it_has(tmp_path: Path) -> None:

    blob = b"x" * 5000
    digest = Digest.of(blob)
    layer = Descriptor("application/vnd.oci.image.layer.v1.tar", digest, len(blob))
    content = ContentStore(tmp_path / "content")
    server = BlobServer(blob, cuts=[1000, 0, 0, 0])
    partial = content.partial(digest, len(blob))
    reader = ResumingReader(server.repository(), layer, partial, RetryPolicy(attempts=3, first_delay=0.001))
    with pytest.raises(RegistryUnavailable, match="broke"):
        _read_all(reader)
    partial.close()
    assert partial.path.stat().st_size == 1000
    assert not content.exists(digest)


def test_wrong_content_is_not_kept(tmp_path: Path) -> None:

    content = ContentStore(tmp_path / "content")
    claimed = Digest.of(b"right")
    partial = content.partial(claimed, 5)
    partial.append(b"wrong")
    with pytest.raises(DigestMismatch):
        partial.commit(Digest.of(b"wrong"))
    assert not partial.path.exists() and not content.exists(claimed)


def test_insufficient_scope_reads_as_docker_hubs_pull_access_denied() -> None:
    headers = {"www-authenticate": 'Bearer realm="x",error="insufficient_scope"'}
    error = error_for(
        401, _body("UNAUTHORIZED"), headers, "manifest for docker.io/library/nope:1", "docker.io"
    )
    assert isinstance(error, Denied)
    assert "does not exist, or needs a login" in error.message


def test_a_waiting_puller_leaves_nothing_when_the_first_one_stored_the_blob(tmp_path: Path) -> None:
    content = ContentStore(tmp_path / "content")
    blob = b"layer bytes" * 100
    digest = Digest.of(blob)
    first = content.partial(digest, len(blob))
    first.append(blob)
    waited: list[object] = []

    def second() -> None:
        partial = content.partial(digest, len(blob))  # waits for the first one's lock
        waited.append(content.exists(digest))
        partial.discard()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.2)
    assert thread.is_alive()  # still waiting
    first.commit(digest)
    thread.join(5)
    assert waited == [True]
    assert list(content.ingest_dir.iterdir()) == []  # no partial file, no lock file
