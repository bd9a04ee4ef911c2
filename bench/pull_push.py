#!/usr/bin/env python3
"""Pull and push against a local registry: cove, podman, docker (and skopeo), in one run.

The image: a Debian bookworm minbase rootfs plus 32 MB of generated files, split into 5
layers (about 200 MB unpacked, gzip'd by skopeo as it goes into the registry). Debian's
docker-registry serves it on 127.0.0.1 (HTTP; every engine treats loopback as insecure).

Cases:
  pull   into an empty store, caches dropped: `cove pull`, `podman pull`, `docker pull`;
         `skopeo copy docker://... oci:DIR` is shown for reference (it downloads and does
         not unpack, the floor for the network part)
  push   the pulled image to an empty registry (stopped, wiped, started before each run):
         `cove push`, `podman push`, `docker push`, `skopeo copy oci:DIR docker://...`

Runs alternate between tools. Prints medians and cove's ratio to the fastest peer, and to
podman for push (the issue's goals: pull <= 0.7 x the faster of podman and docker; push
<= 0.8 x podman).

    .venv/bin/python bench/pull_push.py [--runs 5] [--only cove,podman,docker,skopeo]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

from _common import (
    COVE,
    REFERENCES,
    Dockerd,
    LocalRegistry,
    Podman,
    Timings,
    close_cove_env,
    fresh_cove_env,
    inputs_dir,
    run,
    timed,
    workdir,
)
from import_unpack import debian_tarball, five_layer_archive

GOALS = {"pull": 0.7, "push": 0.8}
EXTRA_FILES = 32  # of 1 MiB each, half as compressible as text


def bench_rootfs(source: Path, out: Path) -> None:
    """The Debian rootfs with generated files under opt/bench (they land in the last layer)."""
    shutil.copyfile(source, out)
    rng = random.Random(42)
    with tarfile.open(out, "a") as tar:
        for i in range(EXTRA_FILES):
            data = rng.randbytes(1 << 19).hex().encode()
            info = tarfile.TarInfo(f"./opt/bench/file{i:02}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, BytesIO(data))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="cove,podman,docker,skopeo")
    args = parser.parse_args()
    tools = args.only.split(",")
    REFERENCES.add("skopeo (no unpack)")
    base = workdir()
    inputs = inputs_dir()
    rootfs = inputs / "rootfs.tar"
    bench_rootfs(debian_tarball(None), rootfs)
    archive = inputs / "five-layers.tar"
    five_layer_archive(rootfs, archive)
    seed = LocalRegistry(base / "seed")
    target = LocalRegistry(base / "target")
    docker = Dockerd(base / "docker") if "docker" in tools and Dockerd.available() else None
    podman = Podman(base / "podman") if "podman" in tools and Podman.available() else None
    skopeo = "skopeo" in tools and shutil.which("skopeo") is not None
    timings = Timings()
    try:
        seed.start()
        target.start()
        image = f"{seed.host}/bench/five:1"
        run(
            [
                "skopeo",
                "copy",
                "-q",
                "--dest-tls-verify=false",
                f"docker-archive:{archive}",
                f"docker://{image}",
            ]
        )
        pushed = f"{target.host}/bench/pushed:1"
        stored = sum(f.stat().st_size for f in seed.storage.rglob("*") if f.is_file())
        print(
            f"image: {rootfs.stat().st_size / 1e6:.0f} MB rootfs in 5 layers, "
            f"{stored / 1e6:.0f} MB in the registry"
        )
        if docker:
            docker.start()
        cove_env = fresh_cove_env(base / "cove")
        oci_dir = base / "skopeo-oci"
        for _ in range(args.runs):
            if "cove" in tools:
                cove_env = fresh_cove_env(base / "cove")
                timings.add("pull", "cove", timed(run, [str(COVE), "pull", "-q", image], env=cove_env))
                run([str(COVE), "tag", image, pushed], env=cove_env)
                target.wipe()
                timings.add("push", "cove", timed(run, [str(COVE), "push", "-q", pushed], env=cove_env))
            if podman:
                podman.reset()
                pull = podman.cli("pull", "-q", "--tls-verify=false", image)
                timings.add("pull", "podman", timed(run, pull, env=podman.env))
                target.wipe()
                push = podman.cli("push", "-q", "--tls-verify=false", image, f"docker://{pushed}")
                timings.add("push", "podman", timed(run, push, env=podman.env))
            if docker:
                docker.reset()
                timings.add("pull", "docker", timed(run, docker.cli("pull", "-q", image)))
                run(docker.cli("tag", image, pushed))
                target.wipe()
                timings.add("push", "docker", timed(run, docker.cli("push", "-q", pushed)))
            if skopeo:
                shutil.rmtree(oci_dir, ignore_errors=True)
                copy_in = ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{image}"]
                copy_in.append(f"oci:{oci_dir}:t")
                timings.add("pull", "skopeo (no unpack)", timed(run, copy_in))
                target.wipe()
                copy_out = ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{oci_dir}:t"]
                copy_out.append(f"docker://{pushed}")
                timings.add("push", "skopeo", timed(run, copy_out))
    finally:
        close_cove_env(base / "cove")
        if docker:
            docker.stop()
        if podman:
            podman.reset()
        seed.stop()
        target.stop()
        subprocess.run(["umount", "-R", str(base)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(inputs, ignore_errors=True)
    print(timings.report(goals=GOALS))
    if ("push", "cove") in timings.samples and ("push", "podman") in timings.samples:
        ratio = timings.median("push", "cove") / timings.median("push", "podman")
        print(f"push: cove / podman = {ratio:.2f}  (goal: <= {GOALS['push']:.2f})")


if __name__ == "__main__":
    main()
