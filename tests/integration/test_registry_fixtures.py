"""The registry fixtures themselves, checked with curl, skopeo and http.client only."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import need_tool
from tests.helpers.images import build_image, digest, write_multiarch_layout, write_oci_layout
from tests.helpers.registry import (
    SERVICE,
    Registry,
    RegistryClient,
    RegistryError,
    Response,
    SlowProxy,
    TokenServer,
    parse_challenge,
    push_oci_layout,
    put_image,
    put_index,
    skopeo_inspect,
)

BIG = os.urandom(2 * 1024 * 1024)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    """curl ARGS; stdout is the HTTP status code (000 when there was no answer)."""
    need_tool("curl")
    return subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def get(url: str, path: str, headers: dict[str, str] | None = None) -> Response:
    """GET over plain HTTP, read in full."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname and parts.port
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def jwt_part(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


def test_plain_registry_serves_what_put_image_pushed(registry: Registry) -> None:
    need_tool("skopeo")
    resp = get(registry.url, "/v2/")
    assert (resp.status, resp.body) == (200, b"{}")
    layer = b"layer one" * 1000
    pushed = put_image(registry, "tools/app", "v1", [layer], config={"Cmd": ["/app"]})
    info = skopeo_inspect(registry, "tools/app:v1")
    assert info["Digest"] == pushed
    assert info["Layers"] == [digest(layer)]
    assert registry.blob_path(digest(layer)).read_bytes() == layer

    # Docker media types and a hand-made multi-arch list.
    arm = put_image(registry, "tools/app", "arm", [b"arm"], media="docker", architecture="arm64")
    amd = put_image(registry, "tools/app", "amd", [b"amd"], media="docker")
    index = put_index(
        registry, "tools/app", "multi", {"linux/amd64": amd, "linux/arm64/v8": arm}, media="docker"
    )
    raw = skopeo_inspect(registry, f"tools/app@{index}", raw=True)
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert [(m["digest"], m["platform"]) for m in raw["manifests"]] == [
        (amd, {"os": "linux", "architecture": "amd64"}),
        (arm, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
    ]


def test_push_oci_layout_with_skopeo(registry: Registry, tmp_path: Path) -> None:
    need_tool("skopeo")
    single = build_image([b"single"])
    write_oci_layout(tmp_path / "one", [(single, "latest")])
    push_oci_layout(tmp_path / "one", registry, "lay/one:latest")
    assert skopeo_inspect(registry, "lay/one:latest")["Digest"] == single.manifest_digest

    images = {arch: build_image([arch.encode()], architecture=arch) for arch in ("amd64", "arm64")}
    index = write_multiarch_layout(tmp_path / "multi", images, "v2")
    push_oci_layout(tmp_path / "multi", registry, "lay/multi:v2", source_ref="v2")
    assert skopeo_inspect(registry, "lay/multi:v2", raw=True) == json.loads(index)
    assert skopeo_inspect(registry, f"lay/multi@{images['arm64'].manifest_digest}")["Architecture"] == "arm64"


def test_tls_registry_needs_its_ca(tls_registry: Registry, tmp_path: Path) -> None:
    need_tool("skopeo")
    assert tls_registry.url.startswith("https://127.0.0.1:")
    assert tls_registry.ca_path is not None
    ok = curl("--cacert", str(tls_registry.ca_path), f"{tls_registry.url}/v2/")
    assert (ok.returncode, ok.stdout) == (0, "200"), ok.stderr
    refused = curl(f"{tls_registry.url}/v2/")
    assert refused.returncode == 60, refused  # peer certificate cannot be authenticated
    by_name = curl("--cacert", str(tls_registry.ca_path), f"https://localhost:{tls_registry.port}/v2/")
    assert by_name.stdout == "200", by_name.stderr

    pushed = put_image(tls_registry, "secure/app", "v1", [b"tls layer"])
    assert skopeo_inspect(tls_registry, "secure/app:v1")["Digest"] == pushed

    cert, key = tls_registry.client_cert(tmp_path / "certs.d")
    assert (cert.name, key.name) == ("client.cert", "client.key")
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tls_registry.ca_path), "-purpose", "sslclient", str(cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify


def test_tls_registry_can_require_a_client_cert(tmp_path: Path) -> None:
    need_tool("docker-registry")
    with Registry(tmp_path / "mtls", tls=True, require_client_cert=True) as reg:
        assert reg.ca_path is not None
        without = curl("--cacert", str(reg.ca_path), f"{reg.url}/v2/")
        assert without.returncode != 0 and without.stdout == "000"
        cert, key = reg.client_cert()
        with_cert = curl(
            "--cacert", str(reg.ca_path), "--cert", str(cert), "--key", str(key), f"{reg.url}/v2/"
        )
        assert with_cert.stdout == "200", with_cert.stderr


def test_basic_registry_wants_alice(basic_registry: Registry) -> None:
    url = f"{basic_registry.url}/v2/"
    assert curl(url).stdout == "401"
    assert curl("-u", "alice:wrong", url).stdout == "401"
    assert curl("-u", "alice:wonderland", url).stdout == "200"
    with pytest.raises(RegistryError) as refused:
        put_image(basic_registry, "private/app", "v1", [b"x"])
    assert refused.value.status == 401
    pushed = put_image(basic_registry, "private/app", "v1", [b"x"], auth=("alice", "wonderland"))
    client = RegistryClient(basic_registry, ("alice", "wonderland"))
    assert digest(client.get_manifest("private/app", "v1")[0]) == pushed


def test_token_registry_grants_alice_and_refuses_mallory(
    token_registry: tuple[Registry, TokenServer],
) -> None:
    need_tool("skopeo")
    reg, tokens = token_registry
    resp = get(reg.url, "/v2/")
    assert resp.status == 401
    challenge = parse_challenge(resp.headers["www-authenticate"])
    assert challenge == ("bearer", {"realm": tokens.realm, "service": SERVICE})

    pushed = put_image(reg, "team/app", "v1", [b"token layer"], auth=("alice", "wonderland"))
    assert tokens.requests[-1].user == "alice"
    [scope] = tokens.requests[-1].query["scope"]  # the registry's challenge: actions in any order
    kind, name, actions = scope.split(":")
    assert (kind, name, sorted(actions.split(","))) == ("repository", "team/app", ["pull", "push"])
    # Anonymous pull is allowed, through skopeo's own token flow.
    before = tokens.token_fetches
    assert skopeo_inspect(reg, "team/app:v1")["Digest"] == pushed
    assert tokens.token_fetches > before
    assert {request.user for request in tokens.requests[before:]} == {None}

    # mallory is known, but every token she gets is empty: the registry refuses pull and push.
    with pytest.raises(RegistryError) as refused:
        put_image(reg, "team/app", "v2", [b"evil"], auth=("mallory", "x"))
    assert refused.value.status == 401
    assert b"UNAUTHORIZED" in refused.value.body
    mallory = RegistryClient(reg, ("mallory", "x"))
    resp = mallory.request("GET", "/v2/team/app/manifests/v1")
    assert resp.status == 401
    assert 'error="insufficient_scope"' in resp.headers["www-authenticate"]
    # Anonymous clients may not push; a wrong password gets no token at all.
    with pytest.raises(RegistryError):
        put_image(reg, "team/app", "v3", [b"anon"])
    with pytest.raises(RegistryError) as bad:
        put_image(reg, "team/app", "v4", [b"x"], auth=("alice", "wrong"))
    assert bad.value.status == 401 and "/token" in str(bad.value)


def test_token_server_speaks_oauth_and_refresh(token_registry: tuple[Registry, TokenServer]) -> None:
    reg, tokens = token_registry
    tokens.expires_in = 5
    base = tokens.url

    def post(form: dict[str, str]) -> tuple[int, dict[str, object]]:
        conn = http.client.HTTPConnection("127.0.0.1", tokens.port, timeout=10)
        try:
            body = urllib.parse.urlencode(form)
            conn.request("POST", "/token", body, {"Content-Type": "application/x-www-form-urlencoded"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    form = {"grant_type": "password", "username": "alice", "password": "wonderland", "service": SERVICE}
    status, answer = post({**form, "scope": "repository:a/b:pull repository:c/d:pull,push", "client_id": "t"})
    assert status == 200 and answer["expires_in"] == 5 and "refresh_token" in answer
    access_token = str(answer["access_token"])
    claims = jwt_part(access_token, 1)
    assert claims["aud"] == SERVICE and claims["sub"] == "alice"
    assert claims["access"] == [
        {"type": "repository", "name": "a/b", "actions": ["pull"]},
        {"type": "repository", "name": "c/d", "actions": ["pull", "push"]},
    ]
    assert "x5c" in jwt_part(access_token, 0)
    client = RegistryClient(reg)
    client.authorization = f"Bearer {access_token}"
    assert client.request("GET", "/v2/").status == 200

    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": str(answer["refresh_token"]),
        "service": SERVICE,
    }
    status, again = post({**refresh, "scope": "repository:a/b:pull"})
    assert status == 200 and jwt_part(str(again["access_token"]), 1)["sub"] == "alice"
    assert tokens.requests[-1].user == "alice" and "password" not in tokens.requests[-2].query
    assert post({**refresh, "refresh_token": "nope"})[0] == 401
    assert post({**form, "password": "wrong"})[0] == 401

    auth = base64.b64encode(b"alice:wonderland").decode()
    resp = get(base, f"/token?service={SERVICE}&offline_token=true", {"Authorization": f"Basic {auth}"})
    offline = resp.json()
    assert resp.status == 200 and {
        "token",
        "access_token",
        "expires_in",
        "issued_at",
        "refresh_token",
    } <= set(offline)
    assert offline["issued_at"].endswith("Z")

    tokens.fail_status = 503
    assert get(base, "/token").status == 503


@pytest.mark.slow
def test_exact_expiry_makes_the_registry_refuse_old_tokens(
    token_registry: tuple[Registry, TokenServer],
) -> None:
    reg, tokens = token_registry
    tokens.expires_in, tokens.exact_expiry = 1, True
    client = RegistryClient(reg, ("alice", "wonderland"))
    assert client.request("GET", "/v2/").status == 200
    assert client.token_fetches == 1
    time.sleep(2.1)
    stale = get(reg.url, "/v2/", {"Authorization": client.authorization or ""})
    assert stale.status == 401 and 'error="invalid_token"' in stale.headers["www-authenticate"]
    assert client.request("GET", "/v2/").status == 200  # answered the challenge with a new token
    assert client.token_fetches == 2


def test_kill_and_restart_keep_content(registry: Registry) -> None:
    need_tool("skopeo")
    pushed = put_image(registry, "keep/me", "v1", [b"persistent"])
    port, pid = registry.port, registry.pid
    assert pid is not None
    registry.kill()
    assert gone(pid) and not registry.running
    assert curl(f"{registry.url}/v2/").stdout == "000"
    registry.restart()
    assert registry.port == port and registry.pid != pid
    assert skopeo_inspect(registry, "keep/me:v1")["Digest"] == pushed
    new_pid = registry.pid
    assert new_pid is not None
    registry.stop()
    assert gone(new_pid)
    registry.start()
    assert skopeo_inspect(registry, "keep/me:v1")["Digest"] == pushed


@pytest.mark.slow
def test_slow_proxy_throttles(registry: Registry) -> None:
    RegistryClient(registry).put_blob("big/blob", BIG)
    with SlowProxy(registry, rate=1_000_000) as proxy:
        assert proxy.url.startswith("http://127.0.0.1:") and proxy.port != registry.port
        start = time.monotonic()
        resp = get(proxy.url, f"/v2/big/blob/blobs/{digest(BIG)}")
        took = time.monotonic() - start
        assert resp.status == 200 and resp.body == BIG
        assert took >= 1.5, took
        proxy.rate = None
        start = time.monotonic()
        assert get(proxy.url, f"/v2/big/blob/blobs/{digest(BIG)}").body == BIG
        assert time.monotonic() - start < 1.0


def test_slow_proxy_cuts_mid_body(registry: Registry) -> None:
    RegistryClient(registry).put_blob("big/blob", BIG)
    path = f"/v2/big/blob/blobs/{digest(BIG)}"
    with SlowProxy(registry) as proxy:
        proxy.cut_after(100_000, match="/blobs/", times=1)
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", "/v2/")  # not a blob: goes through, same connection
        assert conn.getresponse().read() == b"{}"
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length") == str(len(BIG))
        with pytest.raises(http.client.IncompleteRead) as cut:
            resp.read()
        assert len(cut.value.partial) == 100_000
        assert cut.value.partial == BIG[:100_000]
        conn.close()
        assert proxy.cuts == 1
        assert get(proxy.url, path).body == BIG  # only one cut was asked for

        proxy.cut_after(10)  # raw mode: the 11th byte of anything never arrives
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            get(proxy.url, "/v2/")
        assert proxy.cuts == 2
        proxy.cut_after(None)
        assert get(proxy.url, "/v2/").body == b"{}"


def test_slow_proxy_passes_tls_through(tls_registry: Registry) -> None:
    put_image(tls_registry, "secure/app", "v1", [b"through the proxy"])
    with SlowProxy(tls_registry, rate=5_000_000) as proxy:
        assert proxy.url.startswith("https://") and proxy.ca_path == tls_registry.ca_path
        body, _ = RegistryClient(proxy).get_manifest("secure/app", "v1")
        assert json.loads(body)["layers"][0]["digest"] == digest(b"through the proxy")


def test_docker_config_is_an_empty_dir(docker_config: Path) -> None:
    assert docker_config.is_dir() and not any(docker_config.iterdir())
