#!/usr/bin/env python3
"""Builds: one multi-stage Dockerfile on the Debian image; cove, podman build, docker build.

The Dockerfile (written by this script): two stages on debian:bookworm, ENV/LABEL/WORKDIR,
a COPY of a 2,000-file context, three RUN steps, a COPY --from. Cases, medians of --runs:

  cold build        --no-cache: every step runs (the base image is already in each store)
  no-change build   the same build again, every step cached
  one file changed  one source file edited before each build: its COPY and what follows rerun

Tools, each with private state: cove (through its command server, the default), cove-cold
(COVE_COMMAND_SERVER=0: an interpreter start per command), `podman build --layers`,
`DOCKER_BUILDKIT=0 docker build` (the legacy builder) and `DOCKER_BUILDKIT=1 docker build`
(dockerd's embedded BuildKit), Debian's docker.io. Each build starts once the machine is
quiet again (a sync, then CPUs idle: no writeback or cleanup of the build before to pay for),
each run with the next tool first, with --network none (the
steps need no network; dockerd runs without its bridge here, which BuildKit's RUN needs).

    .venv/bin/python bench/build.py [--runs 5] [--debian .cache/debian-bookworm-minbase-amd64.tar]
                                    [--only cove,podman,docker,buildkit]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from _common import (
    COVE,
    REPO,
    Dockerd,
    Podman,
    Timings,
    close_cove_env,
    fresh_cove_env,
    inputs_dir,
    quiesce,
    run,
    workdir,
)

GOALS = {"cold build": 1.0, "no-change build": 0.5, "one file changed": 1.0}
FILES = 2000

DOCKERFILE = """\
FROM debian:bookworm AS build
ENV APP=/src LANG=C.UTF-8
LABEL org.example.stage=build
WORKDIR /src
COPY src/ ./
RUN find . -type f | wc -l > /count && find . -type f -name '*.txt' | sort | xargs cat | sha256sum > /digest
RUN echo "built for $APP" > /built

FROM debian:bookworm
LABEL org.example.bench=build
ENV MODE=bench
COPY --from=build /count /digest /built /out/
RUN cat /out/count /out/built
CMD ["cat", "/out/digest"]
"""


class Builder:
    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env

    def build(self, context: Path, *extra: str) -> float:
        quiesce()  # the previous build's after-work (writeback, cleanup) is not this one's to pay
        start = time.perf_counter()
        # --network none for all: dockerd runs here without its bridge (its firewall rules would
        # outlive it), and BuildKit's RUN needs one otherwise; the Dockerfile needs no network.
        run([*self.argv, "--network", "none", *extra, str(context)], env=self.env)
        return time.perf_counter() - start


def make_context(root: Path) -> Path:
    context = root / "context"
    for i in range(FILES):
        path = context / "src" / f"pkg{i // 50:02d}" / f"file{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n" + "x" * (i % 900) + "\n")
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / ".dockerignore").write_text("*.tmp\n")
    return context


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--debian", default=str(REPO / ".cache" / "debian-bookworm-minbase-amd64.tar"), help="rootfs tarball"
    )
    parser.add_argument("--only", default="cove,podman,docker,buildkit")
    args = parser.parse_args()
    tools = args.only.split(",")
    base = workdir()
    inputs = inputs_dir()
    context = make_context(inputs)
    cove_env = {**fresh_cove_env(base / "cove"), "COVE_COMMAND_SERVER": "1"}
    cold_env = {**cove_env, "COVE_COMMAND_SERVER": "0"}
    builders: list[Builder] = []
    docker = Dockerd(base / "docker") if {"docker", "buildkit"} & set(tools) and Dockerd.available() else None
    podman = Podman(base / "podman") if "podman" in tools and Podman.available() else None
    timings = Timings()
    try:
        run([str(COVE), "import", "-q", args.debian, "debian:bookworm"], env=cold_env)
        image = inputs / "debian.tar"
        run([str(COVE), "save", "-o", str(image), "debian:bookworm"], env=cold_env)
        if "cove" in tools:
            argv = [str(COVE), "build", "--progress", "quiet", "-t", "bench:cove"]
            builders.append(Builder("cove", argv, cove_env))
            builders.append(Builder("cove-cold", argv, cold_env))
        if podman is not None:
            run(podman.cli("load", "-q", "-i", str(image)), env=podman.env)
            argv = podman.cli("build", "-q", "--layers", "-t", "bench:podman")
            builders.append(Builder("podman", argv, podman.env))
        if docker is not None:
            docker.start()
            run(docker.cli("load", "-q", "-i", str(image)))
            if "docker" in tools:
                legacy = {**os.environ, "DOCKER_BUILDKIT": "0"}
                argv = docker.cli("build", "-q", "-t", "bench:legacy")
                builders.append(Builder("docker legacy", argv, legacy))
            if "buildkit" in tools:
                kit = {**os.environ, "DOCKER_BUILDKIT": "1"}
                argv = docker.cli("build", "-q", "-t", "bench:kit")
                builders.append(Builder("docker buildkit", argv, kit))
        info = [str(COVE), "info", "--format", "{{.DefaultRuntime}}"]
        runtime = run(info, env=cold_env).stdout.decode().strip()
        print(f"builders: {', '.join(b.name for b in builders)}; cove runs RUN steps on {runtime}")
        print(f"context: {FILES} files; Dockerfile:\n{DOCKERFILE}")
        for builder in builders:  # warm up: base image layers in page cache, cove's command server up
            builder.build(context, "--no-cache")
        changing = context / "src" / "pkg00" / "file0000.txt"
        for i in range(args.runs):
            # Each run starts with the next builder, so that none always follows the same one.
            order = builders[i % len(builders) :] + builders[: i % len(builders)]
            for builder in order:
                timings.add("cold build", builder.name, builder.build(context, "--no-cache"))
            for builder in order:
                builder.build(context)  # the cache now holds this exact context
                timings.add("no-change build", builder.name, builder.build(context))
            for builder in order:
                changing.write_text(f"changed {i} for {builder.name}\n")
                timings.add("one file changed", builder.name, builder.build(context))
        # The goal compares cove with BuildKit: show that ratio too.
        print(timings.report(goals=GOALS))
        if "docker buildkit" in {b.name for b in builders} and "cove" in {b.name for b in builders}:
            for case, goal in GOALS.items():
                ratio = timings.median(case, "cove") / timings.median(case, "docker buildkit")
                print(f"{case:<20} cove / docker buildkit = {ratio:.2f} (goal <= {goal:.2f})")
    finally:
        if docker is not None:
            docker.stop()
        if podman is not None:
            podman.reset()
        close_cove_env(base / "cove")
        subprocess.run(["rm", "-rf", str(inputs)], check=False)
        subprocess.run([str(COVE), "system", "prune", "-af"], env=cold_env, capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    main()
