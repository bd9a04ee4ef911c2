"""Pulls that go wrong: dropped connections, a registry killed and restarted, a killed cove,
wrong bytes, a slow registry, a rate limit. Each ends with a whole store."""

from __future__ import annotations

import gzip
import http.server
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until
from tests.helpers.images import digest
from tests.helpers.registry import Registry, SlowProxy, put_image
from tests.helpers.store import check_store
from tests.helpers.tars import file, make_tar

MB = 1 << 20


def random_layer(size: int, name: str = "blob.bin") -> bytes:
    """A plain tar holding ``size`` random bytes (so gzip cannot shrink it)."""
    return make_tar([file(name, os.urandom(size))])


def store_is_whole(cove: CoveRunner) -> None:
    engine = cove.engine()
    try:
        check_store(engine)
    finally:
        engine.close()


def partial_files(cove: CoveRunner) -> list[Path]:
    ingest = cove.root / "content" / "ingest"
    return [p for p in ingest.glob("partial-*") if not p.name.endswith(".lock")] if ingest.exists() else []


def range_requests(proxy: SlowProxy) -> list[str]:
    return [r for r in proxy.requests if "/blobs/sha256:" in r and "range: bytes=" in r.lower()]


@pytest.fixture
def proxy(registry: Registry) -> Iterator[SlowProxy]:
    with SlowProxy(registry) as p:
        yield p


def test_dropped_connections_resume_with_range_requests(
    cove: CoveRunner, registry: Registry, proxy: SlowProxy
) -> None:
    layer = random_layer(4 * MB)
    put_image(registry, "big", "1", [layer])
    proxy.cut_after(MB, match="/blobs/sha256:", times=2)
    cove("pull", f"{proxy.host}/big:1")
    assert proxy.cuts == 2
    resumed = range_requests(proxy)
    assert len(resumed) == 2, proxy.requests
    # Each resumed where the last one broke, past what had arrived already.
    offsets = sorted(int(r.lower().split("range: bytes=")[1].split("-")[0]) for r in resumed)
    assert offsets[0] >= MB - 64 * 1024 and offsets[1] >= offsets[0] + MB - 64 * 1024
    store_is_whole(cove)


@pytest.mark.slow
def test_registry_killed_mid_pull_then_restarted(
    cove: CoveRunner, registry: Registry, proxy: SlowProxy
) -> None:
    put_image(registry, "big", "1", [random_layer(3 * MB)], config={"Cmd": ["true"]})
    proxy.rate = 1 * MB  # bytes per second
    pull = cove.popen("pull", f"{proxy.host}/big:1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: any(p.stat().st_size > MB // 2 for p in partial_files(cove)), timeout=20)
        registry.kill()
        # What the dead registry had already written to its sockets would still arrive:
        # drop the connections, as a crashed host's would be.
        proxy.cut_after(1)
        time.sleep(1.0)
        proxy.cut_after(None)
        registry.restart()
        proxy.rate = None
        _out, err = pull.communicate(timeout=60)
    finally:
        if pull.poll() is None:
            pull.kill()
            pull.wait()
    assert pull.returncode == 0, err.decode()
    assert range_requests(proxy), proxy.requests
    store_is_whole(cove)


@pytest.mark.slow
def test_killed_pull_resumes_next_time(cove: CoveRunner, registry: Registry, proxy: SlowProxy) -> None:
    layer = random_layer(3 * MB)
    put_image(registry, "big", "1", [layer])
    proxy.rate = 1 * MB
    first = cove.popen("pull", f"{proxy.host}/big:1", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any(p.stat().st_size > MB for p in partial_files(cove)), timeout=20)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    [kept] = partial_files(cove)
    had = kept.stat().st_size
    assert cove("images", "-q").out == ""  # nothing half-made is visible
    proxy.rate = None
    proxy.requests.clear()
    cove("pull", f"{proxy.host}/big:1")
    [resumed] = range_requests(proxy)
    assert f"bytes={had}-" in resumed.lower()
    store_is_whole(cove)


@pytest.mark.parametrize("compressed", [False, True])
def test_blob_with_wrong_content_is_rejected(cove: CoveRunner, registry: Registry, compressed: bool) -> None:
    layer = random_layer(MB)
    put_image(registry, "bad", "1", [layer], gzip_layers=compressed)
    stored = gzip.compress(layer, mtime=0) if compressed else layer
    path = registry.blob_path(digest(stored))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    path.write_bytes(bytes(data))
    result = cove("pull", f"{registry.host}/bad:1", check=False)
    assert result.rc == 1, result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert "digest mismatch" in result.err or "layer" in result.err, result.err
    assert cove("images", "-q").out == ""
    engine = cove.engine()
    try:
        assert list(engine.store.content.digests()) == []  # not the layer, not even the config
        assert engine.store.snapshotter.all() == []
    finally:
        engine.close()
    assert partial_files(cove) == []


def test_slow_registry_layers_download_side_by_side(
    cove: CoveRunner, registry: Registry, proxy: SlowProxy
) -> None:
    layers = [random_layer(512 * 1024, f"f{i}") for i in range(3)]
    put_image(registry, "slow", "1", layers)
    proxy.rate = 512 * 1024
    start = time.monotonic()
    out = cove("pull", f"{proxy.host}/slow:1").out
    elapsed = time.monotonic() - start
    # Three 0.5 MB layers at 0.5 MB/s per connection: about 1 s side by side, 3 s one by one.
    assert 0.9 < elapsed < 2.5, elapsed
    assert out.count(": Pull complete\n") == 3
    store_is_whole(cove)


@pytest.mark.slow
def test_two_pulls_of_one_image_at_once(cove: CoveRunner, registry: Registry, proxy: SlowProxy) -> None:
    layers = [random_layer(2 * MB, "a"), random_layer(MB, "b")]
    put_image(registry, "both", "1", layers)
    proxy.rate = 2 * MB
    pulls = [
        cove.popen("pull", "-q", f"{proxy.host}/both:1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for pull in pulls:
        _out, err = pull.communicate(timeout=60)
        assert pull.returncode == 0, err.decode()
    # Each blob came over the network once: the second puller waited, then found it stored.
    wanted = {digest(layer) for layer in layers}
    layer_gets = [r for r in proxy.requests if r.startswith("GET") and any(d in r for d in wanted)]
    assert len(layer_gets) == 2, layer_gets
    store_is_whole(cove)


class _RateLimited(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}'
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "3600")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_rate_limit_names_when_it_lifts(cove: CoveRunner) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RateLimited)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        result = cove("pull", f"{host}/limited:1", check=False)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.rc == 1
    assert f"toomanyrequests: the registry {host} rate-limits this client until " in result.err
    assert time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3600)) in result.err
