#!/usr/bin/env python3
"""Import and first unpack: cove against podman and docker, on this machine, in one run.

Cases:
  rootfs import   a Debian bookworm minbase rootfs tarball (about 170 MB, 8,700 files)
                  cove import / podman import / docker import
  5-layer load    the same files split into a 5-layer docker-archive
                  cove load / podman load / docker load

Each tool starts from an empty store for every run; runs alternate between tools so that
the machine's noise spreads evenly. Prints medians and the ratio of cove to the fastest peer.

    .venv/bin/python bench/import_unpack.py [--runs 5] [--tarball PATH] [--only cove,podman,docker]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from _common import COVE, REPO, Dockerd, Podman, Timings, fresh_cove_env, inputs_dir, run, timed, workdir

LAYER_GROUPS = (("usr/lib",), ("usr/share",), ("usr/bin", "usr/sbin", "usr/libexec"), ("var", "etc"), ())


def debian_tarball(given: str | None) -> Path:
    if given:
        return Path(given)
    for path in sorted((REPO / ".cache").glob("debian-bookworm-minbase-*.tar")):
        return path
    sys.exit("no Debian tarball: run the test suite once (it caches one in .cache/) or pass --tarball")


def five_layer_archive(rootfs: Path, out: Path) -> None:
    """Split a rootfs tarball into a 5-layer docker-archive (uncompressed layers, as docker save writes)."""
    buffers = [io.BytesIO() for _ in LAYER_GROUPS]
    writers = [tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) for b in buffers]  # noqa: SIM115
    with tarfile.open(rootfs) as src:
        for member in src:
            name = member.name.removeprefix("./")
            index = next(
                (
                    i
                    for i, group in enumerate(LAYER_GROUPS)
                    if any(name == g or name.startswith(g + "/") for g in group)
                ),
                len(LAYER_GROUPS) - 1,
            )
            writers[index].addfile(member, src.extractfile(member) if member.isreg() else None)
    for w in writers:
        w.close()
    layers = [b.getvalue() for b in buffers]
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["bash"]},
         "rootfs": {"type": "layers", "diff_ids": diff_ids},
         "history": [{"created_by": f"layer {i}"} for i in range(len(layers))]}
    ).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    with tarfile.open(out, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        paths = []
        for diff_id, layer in zip(diff_ids, layers, strict=True):
            path = f"{diff_id[7:]}/layer.tar"
            add(path, layer)
            paths.append(path)
        add(config_name, config)
        add(
            "manifest.json",
            json.dumps([{"Config": config_name, "RepoTags": ["bench/five:1"], "Layers": paths}]).encode(),
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tarball", help="a rootfs tarball (default: the Debian one in .cache/)")
    parser.add_argument("--only", default="cove,podman,docker")
    args = parser.parse_args()
    tools = args.only.split(",")
    base = workdir()
    inputs = inputs_dir()
    rootfs = inputs / "rootfs.tar"
    shutil.copyfile(debian_tarball(args.tarball), rootfs)
    archive = inputs / "five-layers.tar"
    five_layer_archive(rootfs, archive)
    mb = 1e6
    print(f"rootfs {rootfs.stat().st_size / mb:.0f} MB; 5-layer archive {archive.stat().st_size / mb:.0f} MB")
    timings = Timings()
    docker = Dockerd(base / "docker") if "docker" in tools and Dockerd.available() else None
    podman = Podman(base / "podman") if "podman" in tools and Podman.available() else None
    for name, present in (("docker", docker), ("podman", podman)):
        if name in tools and present is None:
            print(f"{name}: not installed, left out")
    try:
        if docker:
            docker.start()
        for _ in range(args.runs):
            if "cove" in tools:
                cove_import = [str(COVE), "import", str(rootfs), "deb:1"]
                timings.add(
                    "rootfs import", "cove", timed(run, cove_import, env=fresh_cove_env(base / "cove"))
                )
                cove_load = [str(COVE), "load", "-i", str(archive)]
                timings.add("5-layer load", "cove", timed(run, cove_load, env=fresh_cove_env(base / "cove")))
            for name, peer in (("podman", podman), ("docker", docker)):
                if peer is None:
                    continue
                peer.reset()
                timings.add("rootfs import", name, timed(run, peer.cli("import", str(rootfs), "deb:1")))
                peer.reset()
                timings.add("5-layer load", name, timed(run, peer.cli("load", "-i", str(archive))))
                peer.reset()
    finally:
        if docker:
            docker.stop()
        if podman:
            podman.reset()
        subprocess.run(["umount", "-R", str(base)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(inputs, ignore_errors=True)
    print(timings.report())


if __name__ == "__main__":
    main()
