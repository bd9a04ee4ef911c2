"""cove against real registries on 127.0.0.1: pull, push, login, TLS, interop with skopeo."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.images import build_image, digest, write_multiarch_layout
from tests.helpers.registry import (
    Registry,
    SlowProxy,
    TokenServer,
    push_oci_layout,
    put_image,
    put_index,
    skopeo_inspect,
)
from tests.helpers.store import check_store
from tests.helpers.tars import file, make_tar
from tests.helpers.terminal import pty_session, read_until


def empty_store(tmp_path: Path, name: str = "other") -> CoveRunner:
    """A second cove store (the ``cove`` and ``cove_busybox`` fixtures share one directory)."""
    base = tmp_path / name
    base.mkdir()
    (base / "cove.toml").write_text("")
    return CoveRunner(base / "root", base / "run", base / "cove.toml")


def configure(cove: CoveRunner, text: str) -> None:
    Path(cove.env["COVE_CONFIG"]).write_text(text)


def busybox_layer(cove: CoveRunner) -> bytes:
    """The plain tar of cove's busybox image (to build other images from)."""
    engine = cove.engine()
    try:
        record = engine.store.images.resolve("busybox")
        [layer] = engine.store.images.manifest(record).layers
        data = engine.store.content.read(layer.digest)
    finally:
        engine.close()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def push_busybox(cove: CoveRunner, registry: Registry, name: str = "bb:1") -> str:
    cove("tag", "busybox", f"{registry.host}/{name}")
    out = cove("push", f"{registry.host}/{name}").out
    return out.strip().splitlines()[-1].split("digest: ")[1].split()[0]


# -- pull and push, plain HTTP --------------------------------------------------------------


def test_push_pull_run_round_trip(cove_busybox: CoveRunner, registry: Registry, tmp_path: Path) -> None:
    name = f"{registry.host}/team/bb:1"
    cove_busybox("tag", "busybox", name)
    pushed = cove_busybox("push", name)
    assert pushed.out.startswith(f"The push refers to repository [{registry.host}/team/bb]\n")
    assert ": Pushed\n" in pushed.out
    manifest_digest = pushed.out.strip().splitlines()[-1].split()[2]
    assert skopeo_inspect(registry, "team/bb:1")["Digest"] == manifest_digest
    again = cove_busybox("push", name)
    assert ": Layer already exists\n" in again.out and manifest_digest in again.out

    other = empty_store(tmp_path)
    pulled = other("pull", name)
    assert "1: Pulling from team/bb\n" in pulled.out
    assert f"Digest: {manifest_digest}\n" in pulled.out
    assert f"Status: Downloaded newer image for {name}\n" in pulled.out
    assert pulled.out.endswith(f"{name}\n")
    assert "Image is up to date" in other("pull", name).out
    assert other("pull", "-q", name).out == f"{name}\n"
    digests = other("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}").out
    assert digests == f"{registry.host}/team/bb 1 {manifest_digest}\n"
    assert other.proc("run", "--rm", name, "echo", "pulled").stdout == b"pulled\n"
    engine = other.engine()
    try:
        check_store(engine)
    finally:
        engine.close()


@pytest.mark.slow
def test_pull_by_digest_and_by_tag_with_digest(
    cove_busybox: CoveRunner, registry: Registry, tmp_path: Path
) -> None:
    cove = empty_store(tmp_path)
    manifest_digest = push_busybox(cove_busybox, registry)
    by_digest = f"{registry.host}/bb@{manifest_digest}"
    out = cove("pull", by_digest).out
    assert out.endswith(f"{by_digest}\n")
    listed = cove("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}").out
    assert listed == f"{registry.host}/bb <none> {manifest_digest}\n"
    # A tag and a digest together: the digest decides.
    both = cove("pull", f"{registry.host}/bb:whatever@{manifest_digest}", check=False)
    assert both.rc == 0, both
    assert cove.proc("run", "--rm", by_digest, "true").returncode == 0


def test_docker_media_types_and_gzip_layers(cove: CoveRunner, registry: Registry) -> None:
    layer = make_tar([file("hello.txt", b"hi from docker types\n")])
    put_image(registry, "dock", "1", [layer], media="docker", gzip_layers=True)
    cove("pull", f"{registry.host}/dock:1")
    inspect = json.loads(cove("image", "inspect", f"{registry.host}/dock:1").out)[0]
    assert inspect["RepoDigests"][0].startswith(f"{registry.host}/dock@sha256:")


@pytest.mark.slow
def test_multi_arch_index_made_by_hand(cove_busybox: CoveRunner, registry: Registry, tmp_path: Path) -> None:
    cove = empty_store(tmp_path)
    layer = busybox_layer(cove_busybox)
    amd = put_image(registry, "multi", "amd64", [layer], config={"Cmd": ["sh"]}, architecture="amd64")
    arm_layer = make_tar([file("arch", b"arm64\n")])
    arm = put_image(registry, "multi", "arm64", [arm_layer], architecture="arm64")
    index = put_index(registry, "multi", "1", {"linux/amd64": amd, "linux/arm64/v8": arm})
    out = cove("pull", f"{registry.host}/multi:1").out
    assert f"Digest: {index}\n" in out  # the index's digest, as Docker shows it
    ran = cove.proc("run", "--rm", f"{registry.host}/multi:1", "echo", "amd64 picked")
    assert ran.stdout == b"amd64 picked\n"
    cove("pull", "--platform", "linux/arm64", f"{registry.host}/multi:1")
    arch = cove("image", "inspect", "--format", "{{.Architecture}}", f"{registry.host}/multi:1").out
    assert arch == "arm64\n"
    missing = cove("pull", "--platform", "linux/s390x", f"{registry.host}/multi:1", check=False)
    assert missing.rc == 1
    assert "no matching manifest for linux/s390x" in missing.err and "linux/amd64" in missing.err


@pytest.mark.slow
def test_what_skopeo_pushes_cove_pulls_and_runs(
    cove_busybox: CoveRunner, registry: Registry, tmp_path: Path
) -> None:
    cove = empty_store(tmp_path)
    layer = busybox_layer(cove_busybox)
    images = {
        "amd64": build_image([layer], gzip_layers=True, config={"Cmd": ["sh"]}),
        "arm64": build_image([make_tar([file("x", b"arm")])], architecture="arm64"),
    }
    layout = tmp_path / "layout"
    write_multiarch_layout(layout, images, "v1")
    push_oci_layout(layout, registry, "skopeo/multi:v1")
    ran = cove.proc("run", "--rm", f"{registry.host}/skopeo/multi:v1", "echo", "via skopeo")
    assert ran.stdout == b"via skopeo\n"
    image_id = cove("image", "inspect", "--format", "{{.Id}}", f"{registry.host}/skopeo/multi:v1").out
    assert image_id.strip() == images["amd64"].id


def test_what_cove_pushes_skopeo_copies(cove_busybox: CoveRunner, registry: Registry, tmp_path: Path) -> None:
    manifest_digest = push_busybox(cove_busybox, registry, "interop:1")
    out = tmp_path / "oci"
    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
         f"docker://{registry.host}/interop:1", f"oci:{out}:copied"],
        check=True,
    )  # fmt: skip
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == manifest_digest
    raw = skopeo_inspect(registry, "interop:1", raw=True)
    for blob in [raw["config"], *raw["layers"]]:
        data = (out / "blobs" / "sha256" / blob["digest"][7:]).read_bytes()
        assert digest(data) == blob["digest"] and len(data) == blob["size"]


def test_cross_repository_mount(cove_busybox: CoveRunner, registry: Registry) -> None:
    push_busybox(cove_busybox, registry, "first/bb:1")
    cove_busybox("tag", "busybox", f"{registry.host}/second/bb:1")
    out = cove_busybox("push", f"{registry.host}/second/bb:1").out
    assert ": Mounted from first/bb\n" in out


def test_chunked_upload(cove: CoveRunner, registry: Registry, tmp_path: Path) -> None:
    # 64 KiB PATCHes for a ~600 KB layer: the registry checks every range and the digest.
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(make_tar([file("random.bin", os.urandom(600_000))]))
    cove("import", str(rootfs), f"{registry.host}/chunked:1")
    configure(cove, "[registry]\nupload_chunk_size = 65536\n")
    out = cove("push", f"{registry.host}/chunked:1").out
    assert ": Pushed\n" in out
    assert skopeo_inspect(registry, "chunked:1")["Digest"] in out
    other = empty_store(tmp_path)
    other("pull", f"{registry.host}/chunked:1")
    assert other("image", "inspect", "--format", "{{.Id}}", f"{registry.host}/chunked:1").out == (
        cove("image", "inspect", "--format", "{{.Id}}", f"{registry.host}/chunked:1").out
    )


def test_push_all_tags_and_errors(cove_busybox: CoveRunner, registry: Registry) -> None:
    for tag in ("a", "b"):
        cove_busybox("tag", "busybox", f"{registry.host}/tags:{tag}")
    out = cove_busybox("push", "-a", f"{registry.host}/tags").out
    assert "a: digest: sha256:" in out and "b: digest: sha256:" in out
    assert sorted(skopeo_inspect(registry, "tags:a")["RepoTags"]) == ["a", "b"]
    missing = cove_busybox("push", f"{registry.host}/nothing:1", check=False)
    assert missing.rc == 1
    assert "An image does not exist locally with the tag: " in missing.err


@pytest.mark.slow
def test_run_and_create_pull_missing_images(
    cove_busybox: CoveRunner, registry: Registry, tmp_path: Path
) -> None:
    cove = empty_store(tmp_path)
    name = f"{registry.host}/bb:1"
    push_busybox(cove_busybox, registry)
    never = cove.proc("run", "--rm", "--pull", "never", name, "true", check=False)
    assert never.returncode == 125 and b"No such image" in never.stderr
    ran = cove.proc("run", "--rm", name, "echo", "ran")
    assert ran.stdout == b"ran\n"
    assert f"Unable to find image '{name}' locally".encode() in ran.stderr
    assert b"Status: Downloaded newer image" in ran.stderr
    always = cove.proc("create", "--pull", "always", name)
    assert b"Status: Image is up to date" in always.stderr
    cove("rm", always.stdout.decode().strip())
    quiet = cove.proc("run", "--rm", "--pull", "always", "-q", name, "true")
    assert quiet.stderr == b""


# -- errors ---------------------------------------------------------------------------------


def test_registry_errors_in_one_line(cove: CoveRunner, registry: Registry) -> None:
    cases = [
        (f"{registry.host}/nope:1", "manifest unknown: manifest for"),
        (f"{registry.host}/bb@sha256:{'0' * 64}", "manifest unknown"),
        ("127.0.0.1:1/bb:1", "cannot reach registry 127.0.0.1:1: connection refused"),
    ]
    for ref, text in cases:
        result = cove("pull", ref, check=False)
        assert result.rc == 1, result
        assert text in result.err, result.err
        assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert cove("images", "-q").out == ""


# -- TLS -----------------------------------------------------------------------------------


def test_tls_registry_with_its_ca_in_certs_d(
    cove_busybox: CoveRunner, tls_registry: Registry, tmp_path: Path
) -> None:
    certs = tmp_path / "certs.d"
    host_dir = certs / tls_registry.host
    host_dir.mkdir(parents=True)
    configure(cove_busybox, f'[registry]\ncerts_dir = "{certs}"\n')
    name = f"{tls_registry.host}/tls/bb:1"
    cove_busybox("tag", "busybox", name)
    refused = cove_busybox("push", name, check=False)
    assert refused.rc == 1
    assert f"TLS certificate of {tls_registry.host} is not trusted" in refused.err
    assert f"{host_dir}/ca.crt" in refused.err and "insecure" in refused.err
    assert tls_registry.ca_path is not None
    (host_dir / "ca.crt").write_bytes(tls_registry.ca_path.read_bytes())
    assert "digest: sha256:" in cove_busybox("push", name).out
    cove_busybox("rmi", name)
    assert cove_busybox("pull", "-q", name).out == f"{name}\n"


def test_tls_registry_trusted_by_the_system_cas(
    cove_busybox: CoveRunner, tls_registry: Registry, tmp_path: Path
) -> None:
    certs = tmp_path / "certs.d"
    (certs / tls_registry.host).mkdir(parents=True)  # no CA of its own: verified against the system's
    configure(cove_busybox, f'[registry]\ncerts_dir = "{certs}"\n')
    cove_busybox("tag", "busybox", f"{tls_registry.host}/sys:1")
    cove_busybox.env["SSL_CERT_FILE"] = str(tls_registry.ca_path)
    proc = cove_busybox.proc("push", f"{tls_registry.host}/sys:1")
    assert b"digest: sha256:" in proc.stdout


def test_tls_registry_configured_insecure(
    cove_busybox: CoveRunner, tls_registry: Registry, tmp_path: Path
) -> None:
    certs = tmp_path / "certs.d"
    (certs / tls_registry.host).mkdir(parents=True)
    configure(cove_busybox, f'[registry]\ncerts_dir = "{certs}"\ninsecure = ["{tls_registry.host}"]\n')
    cove_busybox("tag", "busybox", f"{tls_registry.host}/insecure:1")
    assert "digest:" in cove_busybox("push", f"{tls_registry.host}/insecure:1").out


def test_client_certificate_from_certs_d(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    with Registry(tmp_path / "mtls", tls=True, require_client_cert=True) as registry:
        certs = tmp_path / "certs.d"
        host_dir = certs / registry.host
        host_dir.mkdir(parents=True)
        assert registry.ca_path is not None
        (host_dir / "ca.crt").write_bytes(registry.ca_path.read_bytes())
        configure(cove_busybox, f'[registry]\ncerts_dir = "{certs}"\n')
        cove_busybox("tag", "busybox", f"{registry.host}/mtls:1")
        refused = cove_busybox("push", f"{registry.host}/mtls:1", check=False)
        assert refused.rc == 1 and "TLS" in refused.err
        registry.client_cert(host_dir)
        assert "digest:" in cove_busybox("push", f"{registry.host}/mtls:1").out


# -- logins --------------------------------------------------------------------------------


def test_basic_auth_login_push_pull_logout(
    cove_busybox: CoveRunner, basic_registry: Registry, docker_config: Path
) -> None:
    cove_busybox.env["DOCKER_CONFIG"] = str(docker_config)
    host = basic_registry.host
    cove_busybox("tag", "busybox", f"{host}/private:1")
    anonymous = cove_busybox("push", f"{host}/private:1", check=False)
    assert anonymous.rc == 1
    assert "unauthorized: authentication required" in anonymous.err and f"cove login {host}" in anonymous.err
    wrong = cove_busybox("login", host, "-u", "alice", "--password-stdin", input="nope\n", check=False)
    assert wrong.rc == 1 and "incorrect username or password" in wrong.err
    assert not (docker_config / "config.json").exists()
    ok = cove_busybox("login", host, "-u", "alice", "--password-stdin", input="wonderland\n")
    assert ok.out.endswith("Login Succeeded\n")
    assert "stored unencrypted" in ok.err
    saved = json.loads((docker_config / "config.json").read_text())
    assert saved["auths"][host]["auth"] == "YWxpY2U6d29uZGVybGFuZA=="  # alice:wonderland, as Docker writes
    cove_busybox("push", f"{host}/private:1")
    cove_busybox("rmi", f"{host}/private:1")
    cove_busybox("pull", "-q", f"{host}/private:1")
    assert cove_busybox("login", host).out == "Authenticating with existing credentials...\nLogin Succeeded\n"
    assert cove_busybox("logout", host).out == f"Removing login credentials for {host}\n"
    assert cove_busybox("logout", host).out == f"Not logged in to {host}\n"
    cove_busybox("rmi", f"{host}/private:1")
    assert cove_busybox("pull", f"{host}/private:1", check=False).rc == 1


@pytest.mark.slow
def test_token_auth_anonymous_pull_login_push_and_denial(
    cove_busybox: CoveRunner,
    token_registry: tuple[Registry, TokenServer],
    docker_config: Path,
    tmp_path: Path,
) -> None:
    registry, tokens = token_registry
    cove_busybox.env["DOCKER_CONFIG"] = str(docker_config)
    host = registry.host
    cove_busybox("tag", "busybox", f"{host}/lib/bb:1")
    refused = cove_busybox("push", f"{host}/lib/bb:1", check=False)
    assert refused.rc == 1 and "needs a login" in refused.err
    cove_busybox("login", host, "-u", "alice", "-p", "wonderland")
    before = tokens.token_fetches
    cove_busybox("push", f"{host}/lib/bb:1")
    # One token for the repository's pull+push scope, shared by every blob and the manifest.
    assert tokens.token_fetches - before == 1

    anonymous = empty_store(tmp_path, "anon")
    anonymous.env["DOCKER_CONFIG"] = str(tmp_path / "no-logins")
    ran = anonymous.proc("run", "--rm", f"{host}/lib/bb:1", "echo", "anonymous pull")
    assert ran.stdout == b"anonymous pull\n"

    cove_busybox("login", host, "-u", "mallory", "-p", "x")
    denied = cove_busybox("push", f"{host}/lib/bb:1", check=False)
    assert denied.rc == 1 and ("denied" in denied.err or "unauthorized" in denied.err), denied.err
    wrong = cove_busybox("login", host, "-u", "alice", "-p", "bad", check=False)
    assert wrong.rc == 1 and "incorrect username or password" in wrong.err


@pytest.mark.slow
def test_expired_tokens_are_fetched_again(
    cove_busybox: CoveRunner, tmp_path: Path, docker_config: Path
) -> None:
    # Tokens that live one second: a push that takes longer renews them as it goes.
    tokens = TokenServer(tmp_path / "ts", users={"alice": "wonderland"}, expires_in=1, exact_expiry=True)
    with tokens, Registry(tmp_path / "reg", token_server=tokens) as registry:
        cove_busybox.env["DOCKER_CONFIG"] = str(docker_config)
        cove_busybox("login", registry.host, "-u", "alice", "-p", "wonderland")
        engine = cove_busybox.engine()
        try:
            service = engine.registries
            for round_ in range(3):
                cove_busybox("tag", "busybox", f"{registry.host}/exp:{round_}")
                service.push(f"{registry.host}/exp:{round_}", docker_config=docker_config)
                time.sleep(1.2)
        finally:
            engine.close()
        assert tokens.token_fetches >= 3


HELPER = """#!{python}
import json, pathlib, sys
vault = pathlib.Path({vault!r})
action, data = sys.argv[1], sys.stdin.read().strip()
if action == "store":
    entry = json.loads(data)
    (vault / entry["ServerURL"].replace("/", "_")).write_text(data)
elif action == "get":
    path = vault / data.replace("/", "_")
    if not path.exists():
        print("credentials not found in native keychain")
        sys.exit(1)
    print(path.read_text())
elif action == "erase":
    (vault / data.replace("/", "_")).unlink(missing_ok=True)
"""


def test_credential_helper_is_used(
    cove_busybox: CoveRunner, basic_registry: Registry, docker_config: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    vault = tmp_path / "vault"
    vault.mkdir()
    helper = bin_dir / "docker-credential-testvault"
    helper.write_text(HELPER.format(python=sys.executable, vault=str(vault)))
    helper.chmod(0o755)
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "testvault"}))
    cove_busybox.env["DOCKER_CONFIG"] = str(docker_config)
    cove_busybox.env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    host = basic_registry.host
    out = cove_busybox.proc("login", host, "-u", "alice", "--password-stdin", input=b"wonderland")
    assert b"stored unencrypted" not in out.stderr
    saved = json.loads((docker_config / "config.json").read_text())
    assert saved["auths"] == {host: {}}  # the secret went to the helper
    assert [p.name for p in vault.iterdir()] == [host]
    cove_busybox("tag", "busybox", f"{host}/helper:1")
    cove_busybox.proc("push", f"{host}/helper:1")
    cove_busybox.proc("logout", host)
    assert list(vault.iterdir()) == []
    cove_busybox("tag", "busybox", f"{host}/helper:2")
    assert cove_busybox.proc("push", f"{host}/helper:2", check=False).returncode == 1


def test_pull_and_push_leave_the_store_consistent(
    cove_busybox: CoveRunner, registry: Registry, tmp_path: Path
) -> None:
    cove = empty_store(tmp_path)
    push_busybox(cove_busybox, registry)
    cove("pull", f"{registry.host}/bb:1")
    cove("rmi", f"{registry.host}/bb:1")
    assert cove("images", "-q").out == ""
    engine = cove.engine()
    try:
        assert list(engine.store.content.digests()) == []
        check_store(engine)
    finally:
        engine.close()


@pytest.mark.parametrize("driver", ["copy"])
def test_pull_with_the_copy_driver(
    cove_busybox: CoveRunner, registry: Registry, driver: str, tmp_path: Path
) -> None:
    cove = empty_store(tmp_path)
    layer = make_tar([file("etc/extra", b"second layer\n")])
    base = busybox_layer(cove_busybox)
    put_image(registry, "two", "1", [base, layer], config={"Cmd": ["sh"]}, gzip_layers=True)
    cove.with_driver(driver)
    cove("pull", f"{registry.host}/two:1")
    assert cove.proc("run", "--rm", f"{registry.host}/two:1", "cat", "/etc/extra").stdout == b"second layer\n"


@pytest.mark.slow
def test_progress_bars_on_a_terminal(cove_busybox: CoveRunner, registry: Registry, tmp_path: Path) -> None:
    put_image(registry, "bars", "1", [make_tar([file("big", os.urandom(1 << 20))])])
    cove = empty_store(tmp_path)
    with SlowProxy(registry, rate=1 << 20) as proxy:
        pid, master = pty_session(cove.env, "pull", f"{proxy.host}/bars:1")
        try:
            seen = read_until(master, f"{proxy.host}/bars:1\r\n".encode(), timeout=30)
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Downloading [" in seen and b"=>" in seen  # a bar, redrawn in place
    assert b"\x1b[" in seen and b"Pull complete" in seen


def test_docker_hub_names_pull_through_a_configured_mirror(
    cove_busybox: CoveRunner, registry: Registry, tmp_path: Path
) -> None:
    layer = busybox_layer(cove_busybox)
    put_image(registry, "library/mirrored", "1", [layer], config={"Cmd": ["sh"]})
    cove = empty_store(tmp_path)
    configure(cove, f'[registry]\nmirrors = ["http://{registry.host}"]\n')
    out = cove("pull", "mirrored:1").out
    assert "1: Pulling from library/mirrored\n" in out
    assert out.endswith("docker.io/library/mirrored:1\n")
    assert cove("images", "--format", "{{.Repository}}:{{.Tag}}").out == "mirrored:1\n"
    assert f"Registry Mirrors:\n  http://{registry.host}" in cove("info").out


def test_pull_of_a_current_tag_costs_one_head(
    cove_busybox: CoveRunner, registry: Registry, tmp_path: Path
) -> None:
    push_busybox(cove_busybox, registry)
    cove = empty_store(tmp_path)
    with SlowProxy(registry) as proxy:
        cove("pull", f"{proxy.host}/bb:1")
        proxy.requests.clear()
        assert "Status: Image is up to date" in cove("pull", f"{proxy.host}/bb:1").out
        lines = [r.split("\r\n")[0] for r in proxy.requests if r[:1].isalpha()]
    assert [line.split()[0] for line in lines if "/manifests/" in line] == ["HEAD"], lines
    assert not [line for line in lines if "/blobs/" in line], lines


def test_identity_token_logins_use_the_refresh_grant(
    cove_busybox: CoveRunner, token_registry: tuple[Registry, TokenServer], docker_config: Path
) -> None:
    registry, tokens = token_registry
    # An OAuth2 refresh token, as a registry's login flow hands out and Docker keeps.
    form = urllib.parse.urlencode(
        {"grant_type": "password", "username": "alice", "password": "wonderland", "service": "x"}
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(tokens.realm, data=form), timeout=10) as answer:
        refresh = json.load(answer)["refresh_token"]
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {registry.host: {"identitytoken": refresh}}})
    )
    cove_busybox.env["DOCKER_CONFIG"] = str(docker_config)
    cove_busybox("tag", "busybox", f"{registry.host}/oauth/bb:1")
    cove_busybox("push", f"{registry.host}/oauth/bb:1")
    grants = [r for r in tokens.requests if r.method == "POST" and r.user == "alice"]
    assert any(r.query.get("grant_type") == ["refresh_token"] for r in grants), tokens.requests
