"""cove build for real: RUN in the OCI runtime on overlay snapshots, layers, the step cache."""

from __future__ import annotations

import http.server
import io
import json
import os
import signal
import sqlite3
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.registry import Registry
from tests.helpers.store import check_store

pytestmark = pytest.mark.integration


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def plain(cove: CoveRunner, *args: str, check: bool = True) -> str:
    """A build with --progress plain; returns its progress output (stderr)."""
    result = cove("build", "--progress", "plain", *args, check=check)
    return result.err


def step_lines(progress: str, marker: str) -> list[str]:
    """The names of the steps whose number is followed by ``marker`` (CACHED, cache miss...)."""
    names: dict[str, str] = {}
    hits = []
    for line in progress.splitlines():
        number, _, rest = line.partition(" ")
        if rest.startswith("["):
            names[number] = rest
        elif rest.startswith(marker) and number in names:
            hits.append(names[number])
    return hits


def image_id(cove: CoveRunner, name: str) -> str:
    return cove("image", "inspect", "--format", "{{.Id}}", name).out.strip()


def run_out(cove: CoveRunner, image: str, *command: str) -> str:
    return cove.proc("run", "--rm", image, *command).stdout.decode()


def leftovers(cove: CoveRunner) -> dict[str, object]:
    db = sqlite3.connect(cove.root / "cove.db")
    try:
        active = db.execute("SELECT key FROM snapshots WHERE kind != 'committed'").fetchall()
        containers = db.execute("SELECT id FROM containers").fetchall()
    finally:
        db.close()
    work = cove.root / "build" / "work"
    runtime_state = cove.runtime_dir / "runtime" / "runc"
    return {
        "snapshots": active,
        "containers": containers,
        "work": sorted(p.name for p in work.iterdir()) if work.exists() else [],
        "runtime": sorted(p.name for p in runtime_state.iterdir()) if runtime_state.exists() else [],
        "mounts": [
            line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(cove.root) in line
        ],
    }


NOTHING_LEFT = {"snapshots": [], "containers": [], "work": [], "runtime": [], "mounts": []}


# --------------------------------------------------------------------------- multi-stage builds


MULTI_STAGE = """\
# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS base
ARG GREETING=hello
ENV APP=/app \\
    MODE=test
WORKDIR $APP
RUN echo "$GREETING from $MODE" > greeting.txt
COPY src/ ./src/

FROM base AS unused
RUN echo this stage is not needed && exit 1

FROM busybox
LABEL org.example.kind=demo
COPY --from=base /app/ /srv/
USER 1000:1000
EXPOSE 8080/tcp
ENTRYPOINT ["cat"]
CMD ["/srv/greeting.txt"]
"""


@pytest.mark.slow
def test_multi_stage_build_on_busybox(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    ctx = tmp_path / "ctx"
    write(ctx, {"Dockerfile": MULTI_STAGE, "src/a.txt": "a\n", "src/sub/b.txt": "b\n"})
    progress = plain(cove, "-t", "demo:1", "--build-arg", "GREETING=hi", "--label", "extra=yes", str(ctx))
    assert "this stage is not needed" not in progress  # the stage the target does not need was skipped
    assert "[unused" not in progress
    assert run_out(cove, "demo:1") == "hi from test\n"
    assert run_out(cove, "demo:1", "/srv/src/sub/b.txt") == "b\n"
    config = json.loads(cove("image", "inspect", "demo:1").out)[0]["Config"]
    assert config["Entrypoint"] == ["cat"] and config["Cmd"] == ["/srv/greeting.txt"]
    assert config["User"] == "1000:1000"
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["Labels"] == {"org.example.kind": "demo", "extra": "yes"}
    assert "APP=/app" not in config["Env"]  # the first stage's ENV stays in that stage
    history = cove("history", "--no-trunc", "--format", "{{.CreatedBy}}", "demo:1").out.splitlines()
    assert history[:5] == [
        'CMD ["/srv/greeting.txt"]',
        'ENTRYPOINT ["cat"]',
        "EXPOSE 8080/tcp",
        "USER 1000:1000",
        "COPY --from=base /app/ /srv/",
    ]
    # The image's files are the user's (uid 1000 could not write /srv).
    assert (
        cove.proc("run", "--rm", "--entrypoint", "sh", "demo:1", "-c", "touch /srv/x", check=False).returncode
        != 0
    )


def test_target_builds_a_named_stage_only(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    write(tmp_path, {"Dockerfile": MULTI_STAGE, "src/a.txt": "a\n"})
    cove("build", "-q", "--target", "base", "-t", "base:1", str(tmp_path))
    assert run_out(cove, "base:1", "cat", "greeting.txt") == "hello from test\n"
    failed = cove("build", "-q", "--target", "unused", str(tmp_path), check=False)
    assert failed.rc == 1 and "exited with code 1" in failed.err
    missing = cove("build", "--target", "nope", str(tmp_path), check=False)
    assert missing.rc == 1 and "nope" in missing.err


@pytest.mark.slow
def test_independent_stages_build_side_by_side(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Dockerfile": "FROM busybox AS a\nRUN sleep 1; echo a > /a\n"
            "FROM busybox AS b\nRUN sleep 1; echo b > /b\n"
            "FROM busybox\nCOPY --from=a /a /\nCOPY --from=b /b /\n"
        },
    )
    lines = plain(cove_busybox, "-t", "both", str(tmp_path)).splitlines()
    runs = {line.split()[0]: n for n, line in enumerate(lines) if "RUN sleep 1" in line}
    first_done = min(n for n, line in enumerate(lines) if line.split(" ")[0] in runs and " DONE " in line)
    assert len(runs) == 2 and max(runs.values()) < first_done  # the second RUN began before the first ended
    assert run_out(cove_busybox, "both", "cat", "/a", "/b") == "a\nb\n"


@pytest.mark.slow
def test_debian_multi_stage_with_users_and_chown(
    cove_busybox: CoveRunner, debian_tarball: Path, tmp_path: Path
) -> None:
    cove = cove_busybox
    cove("import", "-q", str(debian_tarball), "debian:bookworm")
    write(
        tmp_path,
        {
            "Dockerfile": "FROM debian:bookworm AS build\n"
            "RUN useradd --create-home --uid 1234 app \\\n"
            "  && printf 'built on %s\\n' \"$(cat /etc/debian_version)\" > /built\n"
            "FROM build\n"
            "COPY --chown=app:app --chmod=0640 conf.txt /home/app/conf.txt\n"
            "USER app\n"
            "WORKDIR /home/app\n"
            "RUN id -un > whoami && stat -c '%U %G %a' conf.txt > owner\n"
            'CMD ["sh", "-c", "cat /built whoami owner"]\n',
            "conf.txt": "x=1\n",
        },
    )
    cove("build", "-q", "-t", "deb:1", str(tmp_path))
    out = run_out(cove, "deb:1").splitlines()
    assert out[0].startswith("built on 12")
    assert out[1:] == ["app", "app app 640"]


def test_saved_build_is_a_docker_archive(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    """What cove save writes of a built image is a docker-archive: skopeo (Docker's format
    code) reads its config, and cove loads it back."""
    cove = cove_busybox
    write(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM busybox\nENV A=1\nWORKDIR /w\nRUN echo hi > /hi\n"
            'USER 1000\nCMD ["cat", "/hi"]\n'
        },
    )
    cove("build", "-q", "-t", "saved:1", str(tmp_path / "ctx"))
    cove("save", "-o", str(tmp_path / "saved.tar"), "saved:1")
    with tarfile.open(tmp_path / "saved.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["saved:1"] and len(manifest[0]["Layers"]) == 2
    inspected = subprocess.run(
        ["skopeo", "inspect", "--config", f"docker-archive:{tmp_path / 'saved.tar'}"],
        capture_output=True,
        check=True,
    )
    config = json.loads(inspected.stdout)
    assert config["config"]["Cmd"] == ["cat", "/hi"] and config["config"]["User"] == "1000"
    assert config["config"]["WorkingDir"] == "/w" and "A=1" in config["config"]["Env"]
    assert [h["created_by"] for h in config["history"]][-5:] == [
        "ENV A=1",
        "WORKDIR /w",
        "RUN /bin/sh -c echo hi > /hi",
        "USER 1000",
        'CMD ["cat", "/hi"]',
    ]
    cove("rmi", "saved:1")
    cove("load", "-i", str(tmp_path / "saved.tar"))
    assert run_out(cove, "saved:1") == "hi\n"


# --------------------------------------------------------------------------- the cache


CACHED_FILE = """\
FROM busybox
COPY a.txt /a.txt
RUN cat /a.txt > /from-a && echo ran
COPY b.txt /b.txt
RUN cat /b.txt
"""


def test_rebuild_with_nothing_changed_is_fully_cached_and_identical(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    write(tmp_path, {"Dockerfile": CACHED_FILE, "a.txt": "a\n", "b.txt": "b\n"})
    first = plain(cove, "-t", "c:1", str(tmp_path))
    assert step_lines(first, "CACHED") == []
    first_id = image_id(cove, "c:1")
    again = plain(cove, "-t", "c:1", str(tmp_path))
    assert len(step_lines(again, "CACHED")) == 4 and "#3 0." not in again  # no command ran
    assert image_id(cove, "c:1") == first_id
    # touch changes mtimes only: still cached
    for name in ("a.txt", "b.txt", "Dockerfile"):
        os.utime(tmp_path / name, (time.time() + 100, time.time() + 100))
    touched = plain(cove, "-t", "c:1", str(tmp_path))
    assert len(step_lines(touched, "CACHED")) == 4
    assert image_id(cove, "c:1") == first_id


@pytest.mark.slow
def test_a_changed_file_invalidates_its_copy_and_later_steps_only(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    write(tmp_path, {"Dockerfile": CACHED_FILE, "a.txt": "a\n", "b.txt": "b\n"})
    cove("build", "-q", str(tmp_path))
    (tmp_path / "b.txt").write_text("B\n")
    progress = plain(cove, "-t", "c:2", str(tmp_path))
    assert step_lines(progress, "CACHED") == [
        "[stage-0 2/5] COPY a.txt /a.txt",
        "[stage-0 3/5] RUN cat /a.txt > /from-a && echo ran",
    ]
    assert step_lines(progress, "cache miss: the files it copies changed") == [
        "[stage-0 4/5] COPY b.txt /b.txt"
    ]
    assert step_lines(progress, "cache miss: an earlier step was rebuilt") == ["[stage-0 5/5] RUN cat /b.txt"]
    assert run_out(cove, "c:2", "cat", "/b.txt") == "B\n"


def test_same_size_and_mtime_but_new_content_misses(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\n", "a.txt": "aaaa\n"})
    cove("build", "-q", str(tmp_path))
    before = os.stat(tmp_path / "a.txt")
    (tmp_path / "a.txt").write_text("bbbb\n")
    os.utime(tmp_path / "a.txt", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(tmp_path / "a.txt").st_mtime_ns == before.st_mtime_ns
    progress = plain(cove, "-t", "same:1", str(tmp_path))
    assert step_lines(progress, "cache miss") == ["[stage-0 2/2] COPY a.txt /a.txt"]
    assert run_out(cove, "same:1", "cat", "/a.txt") == "bbbb\n"


def test_no_cache_and_build_args(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    write(tmp_path, {"Dockerfile": "FROM busybox\nARG V=1\nRUN echo v=$V\nRUN echo second\n"})
    cove("build", "-q", str(tmp_path))
    assert len(step_lines(plain(cove, str(tmp_path)), "CACHED")) == 2
    assert step_lines(plain(cove, "--no-cache", str(tmp_path)), "cache miss: --no-cache") == [
        "[stage-0 2/3] RUN echo v=$V",
        "[stage-0 3/3] RUN echo second",
    ]
    changed = plain(cove, "--build-arg", "V=2", str(tmp_path))
    assert "v=2" in changed
    assert step_lines(changed, "cache miss: a setting before it changed (ARG V=1)") == [
        "[stage-0 2/3] RUN echo v=$V"
    ]
    # A build arg no stage declares changes nothing (and is reported).
    unused = plain(cove, "--build-arg", "OTHER=x", str(tmp_path))
    assert len(step_lines(unused, "CACHED")) == 2
    assert "WARNING: build args were given but not used by any stage: OTHER" in unused


def test_dockerignore_patterns(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    ctx = tmp_path / "ctx"
    write(
        ctx,
        {
            "Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
            ".dockerignore": "# comment\n*.log\n!keep.log\n**/secret*\nbuild/\n"
            "docs/**/*.md\n!docs/README.md\n",
            "app.py": "",
            "debug.log": "",
            "keep.log": "",
            "deep/er/secret.key": "",
            "deep/er/ok.txt": "",
            "build/out.o": "",
            "docs/README.md": "",
            "docs/guide/x.md": "",
            "docs/guide/x.txt": "",
        },
    )
    cove("build", "-q", "-t", "ign:1", str(ctx))
    files = run_out(cove, "ign:1", "find", "/ctx", "-type", "f").split()
    assert sorted(files) == [
        "/ctx/.dockerignore",
        "/ctx/Dockerfile",
        "/ctx/app.py",
        "/ctx/deep/er/ok.txt",
        "/ctx/docs/README.md",
        "/ctx/docs/guide/x.txt",
        "/ctx/keep.log",
    ]
    # A change to an ignored file does not touch the cache.
    (ctx / "debug.log").write_text("noise")
    assert len(step_lines(plain(cove, str(ctx)), "CACHED")) == 1


def test_build_cache_in_system_df_and_builder_prune(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN head -c 300000 /dev/urandom > /blob\n"})
    cove("build", "-q", str(tmp_path))  # untagged: its layer is held by the image
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN head -c 200000 /dev/urandom > /blob\n"})
    cove("build", "-q", "-t", "kept:1", str(tmp_path))
    cove("rmi", image_id(cove, "kept:1"))  # now only the cache holds that layer

    def cache_row() -> dict[str, str]:
        rows = [json.loads(line) for line in cove("system", "df", "--format", "json").out.splitlines()]
        return next(r for r in rows if r["Type"] == "Build Cache")

    row = cache_row()
    assert int(row["TotalCount"]) >= 2 and row["Size"].endswith("kB") and float(row["Size"][:-2]) > 190
    pruned = cove("builder", "prune", "-f")
    assert "Deleted build cache objects:" in pruned.out
    assert cache_row()["Size"] == "0B"
    assert step_lines(plain(cove, str(tmp_path)), "cache miss: not built before") == [
        "[stage-0 2/2] RUN head -c 200000 /dev/urandom > /blob"
    ]
    cove("builder", "prune", "-af")
    assert cache_row()["TotalCount"] == "0"
    cove("build", "-q", str(tmp_path))
    assert cache_row()["TotalCount"] != "0"
    cove("system", "prune", "-af")  # system prune -a takes the build cache too
    assert cache_row()["TotalCount"] == "0" and cache_row()["Size"] == "0B"


# --------------------------------------------------------------------------- failures


def test_failing_run_shows_output_and_code_and_leaves_nothing(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    write(
        tmp_path,
        {"Dockerfile": "FROM busybox\nRUN echo prepared\nRUN echo to-stderr >&2; echo out; exit 7\n"},
    )
    images_before = cove("images", "-aq").out
    result = cove("build", "--progress", "plain", "-t", "broken:1", str(tmp_path), check=False)
    assert result.rc == 1
    assert "to-stderr" in result.err and "out" in result.err
    assert (
        "ERROR: line 3: RUN echo to-stderr >&2; echo out; exit 7: the command exited with code 7"
        in result.err
    )
    # BuildKit's excerpt: the file and line, the lines around, the failing one marked
    assert "Dockerfile:3\n--------------------\n   1 |     FROM busybox\n" in result.err
    assert "   3 | >>> RUN echo to-stderr" in result.err
    assert cove("images", "-aq").out == images_before
    assert leftovers(cove) == NOTHING_LEFT
    # The steps before the failure are cached for the next try.
    retry = plain(cove, str(tmp_path), check=False)
    assert step_lines(retry, "CACHED") == ["[stage-0 2/3] RUN echo prepared"]


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (
            "FROM busybox\nCOPY missing.txt /x\n",
            "line 2: COPY source 'missing.txt' not found in the build context",
        ),
        (
            'FROM busybox\nRUN ["/no/such/program"]\n',
            'line 2: RUN ["/no/such/program"]: the command could not start',
        ),
        ("FROM busybox\nCOPY a\n", "line 2: COPY requires at least two arguments"),
        ("FROM nosuchimage:1\n", "line 1: base image nosuchimage:1"),
        (
            "FROM busybox\nRUN --network=wifi true\n",
            "line 2: invalid network mode 'wifi'",
        ),
    ],
)
def test_bad_dockerfiles_fail_with_the_line(
    cove_busybox: CoveRunner, tmp_path: Path, dockerfile: str, message: str
) -> None:
    write(tmp_path, {"Dockerfile": dockerfile})
    result = cove_busybox("build", "-q", str(tmp_path), check=False)
    assert result.rc == 1
    assert message in result.err
    assert "Traceback" not in result.err
    assert leftovers(cove_busybox) == NOTHING_LEFT


@pytest.mark.slow
def test_killed_build_leaves_nothing_after_the_next_command(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN touch /started; sleep 30\n"})
    proc = cove.popen(
        "build", "--progress", "plain", str(tmp_path), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        seen = b""
        while b"RUN touch" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.read1(4096)  # type: ignore[attr-defined]
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    cove("images")  # any command clears what the killed build left
    deadline = time.monotonic() + 10
    while leftovers(cove) != NOTHING_LEFT and time.monotonic() < deadline:
        time.sleep(0.2)
        cove("images")
    assert leftovers(cove) == NOTHING_LEFT


# --------------------------------------------------------------------------- instructions


def test_heredocs_and_shell(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Dockerfile": "FROM busybox\nARG NAME=world\n"
            "RUN <<EOF\nset -e\necho one > /one\necho two > /two\nEOF\n"
            "COPY <<EOT /hello.txt\nhello $NAME\nEOT\n"
            "COPY <<'EOT' /raw.txt\nhello $NAME\nEOT\n"
            'SHELL ["/bin/sh", "-ec"]\nRUN test "$0" = /bin/sh && echo "shell ok" > /shell\n'
        },
    )
    cove_busybox("build", "-q", "-t", "here:1", str(tmp_path))
    assert run_out(cove_busybox, "here:1", "cat", "/one", "/two", "/hello.txt", "/raw.txt", "/shell") == (
        "one\ntwo\nhello world\nhello $NAME\nshell ok\n"
    )


def test_heredoc_contents_as_buildkit_writes_them(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    """Cases of BuildKit's dockerfile_heredoc_test.go (testCopyHeredocSpecialSymbols,
    testHeredocVarSubstitution, testHeredocIndent): quotes stay, ``$`` expands, and RUN heredocs
    go to the shell as written; a heredoc and a file in one COPY."""
    write(
        tmp_path / "ctx",
        {
            "file.txt": "from the context\n",
            "Dockerfile": "FROM busybox AS build\nARG name=world\n"
            'COPY <<EOF /dest/config.json\n{"key": "value", "name": "${name}"}\nEOF\n'
            "COPY <<EOF /dest/q1\nHello '${name}'!\nEOF\n"
            "COPY <<'EOF' /dest/qsingle1\nit's '${name}'\nEOF\n"
            "COPY <<EOF /dest/slash\n\\$\nEOF\n"
            "COPY <<EOF file.txt /dest/both/\ninline\nEOF\n"
            'RUN <<EOF\nname="new world"\necho "Hello ${name}!" > /dest/r2\nEOF\n'
            'RUN <<-EOF sh > /dest/bar3-run\necho "\n\tbar"\nEOF\n'
            "FROM scratch\nCOPY --from=build /dest /\n",
        },
    )
    out = tmp_path / "out"
    cove_busybox("build", "-q", "--output", f"type=local,dest={out}", str(tmp_path / "ctx"))
    assert {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.is_file()} == {
        "config.json": '{"key": "value", "name": "world"}\n',
        "q1": "Hello 'world'!\n",
        "qsingle1": "it's '${name}'\n",
        "slash": "$\n",
        "both/EOF": "inline\n",
        "both/file.txt": "from the context\n",
        "r2": "Hello new world!\n",
        "bar3-run": "\nbar\n",
    }


def test_run_heredoc_with_a_shebang_runs_its_interpreter(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    """BuildKit's testRunShebangHeredoc (awk where this busybox has it): the document is a
    program of its own, read by the interpreter its #! line names, with <<- too."""
    awk = 'BEGIN {\n\tprint "hello" >> "./out1"\n\tprint "world" >> "./out1"\n}\n'
    write(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM busybox AS build\nWORKDIR /dest\n"
            f"RUN <<EOF\n#!/usr/bin/awk -f\n{awk}EOF\n"
            "RUN <<-EOF\n\t#!/usr/bin/awk -f\n"
            + "".join(f"\t{line}\n" for line in awk.replace("out1", "out2").splitlines())
            + "EOF\nFROM scratch\nCOPY --from=build /dest /\n",
        },
    )
    out = tmp_path / "out"
    cove_busybox("build", "-q", "--output", f"type=local,dest={out}", str(tmp_path / "ctx"))
    assert (out / "out1").read_text() == (out / "out2").read_text() == "hello\nworld\n"


def test_a_bad_dockerfile_is_shown_with_an_excerpt(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Dockerfile": "FROM busybox\nWORKDIR /app\nCOPY --form=build \\\n    /out /out\n"
            "RUN true\nRUN true\n"
        },
    )
    result = cove_busybox("build", "-q", str(tmp_path), check=False)
    assert result.rc == 1
    assert "Traceback" not in result.err
    assert result.err.endswith(
        "Dockerfile:3\n"
        "--------------------\n"
        "   2 |     WORKDIR /app\n"
        "   3 | >>> COPY --form=build \\\n"
        "   4 | >>>     /out /out\n"
        "   5 |     RUN true\n"
        "--------------------\n"
        "ERROR: line 3: unknown flag: --form\n"
        "hint: did you mean --from?\n"
    )


def test_old_forms_buildkit_accepts(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    """LABEL key value (with a warning), ARG with several names and a quoted value."""
    write(
        tmp_path,
        {"Dockerfile": 'FROM busybox\nLABEL key some value\nARG a b=c abc="123 456"\nLABEL b=$b abc=$abc\n'},
    )
    result = cove_busybox("build", "--progress", "plain", "-t", "old:1", str(tmp_path))
    assert "LegacyKeyValueFormat" in result.err
    labels = json.loads(cove_busybox("inspect", "--format", "{{json .Config.Labels}}", "old:1").out)
    assert labels == {"key": "some value", "b": "c", "abc": "123 456"}


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A tiny HTTP server on 127.0.0.1 serving a directory; (its base URL, the directory)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()
    thread.join()


def _tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.slow
def test_add_archives_urls_and_checksums(
    cove_busybox: CoveRunner, tmp_path: Path, http_files: tuple[str, Path]
) -> None:
    cove = cove_busybox
    base, www = http_files
    (www / "remote.txt").write_text("from the web\n")
    digest = "sha256:" + __import__("hashlib").sha256(b"from the web\n").hexdigest()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "bundle.tar.gz").write_bytes(_tar_bytes({"pkg/one.txt": b"1\n", "pkg/two.txt": b"2\n"}))
    (ctx / "plain.txt").write_text("not an archive\n")
    write(
        ctx,
        {
            "Dockerfile": "FROM busybox\n"
            "ADD bundle.tar.gz /opt/\n"
            "ADD plain.txt /opt/\n"
            f"ADD --checksum={digest} {base}/remote.txt /web/\n"
            f"ADD {base}/remote.txt /web/renamed.txt\n"
            "COPY bundle.tar.gz /copied/\n"
        },
    )
    cove("build", "-q", "-t", "add:1", str(ctx))
    out = run_out(
        cove,
        "add:1",
        "sh",
        "-c",
        "cat /opt/pkg/one.txt /opt/pkg/two.txt /opt/plain.txt /web/remote.txt /web/renamed.txt; "
        "ls /copied; stat -c %a /web/remote.txt",
    )
    assert out == "1\n2\nnot an archive\nfrom the web\nfrom the web\nbundle.tar.gz\n600\n"
    write(ctx, {"Dockerfile": f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {base}/remote.txt /web/\n"})
    bad = cove("build", "-q", str(ctx), check=False)
    assert bad.rc == 1 and f"the content's digest is {digest}" in bad.err


@pytest.mark.slow
def test_run_mounts_cache_secret_tmpfs_bind(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    (tmp_path / "token").write_text("s3cret")
    ctx = tmp_path / "ctx"
    write(
        ctx,
        {
            "data/input.txt": "input\n",
            "Dockerfile": "FROM busybox\n"
            "RUN --mount=type=cache,target=/cache \\\n"
            "  echo run >> /cache/runs && wc -l < /cache/runs > /runs-seen\n"
            "RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /secret-size\n"
            "RUN --mount=type=tmpfs,target=/scratch touch /scratch/x \\\n"
            "  && grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs > /tmpfs-seen\n"
            "RUN --mount=type=bind,source=data,target=/data cat /data/input.txt > /copied-input\n"
            "RUN --network=none sh -c 'ip link 2>/dev/null | grep -c \"^[0-9]\" > /links'\n",
        },
    )
    cove("build", "-q", "-t", "mounts:1", "--secret", f"id=token,src={tmp_path / 'token'}", str(ctx))
    out = run_out(
        cove,
        "mounts:1",
        "sh",
        "-c",
        "cat /runs-seen /secret-size /tmpfs-seen /copied-input /links",
    )
    lines = out.split()
    assert lines == ["1", "6", "tmpfs", "input", "1"]  # the netns of --network none holds lo only
    # The cache mount outlives the build and is shared by the next one (even with --no-cache).
    cove(
        "build",
        "-q",
        "--no-cache",
        "-t",
        "mounts:2",
        "--secret",
        f"id=token,src={tmp_path / 'token'}",
        str(ctx),
    )
    assert run_out(cove, "mounts:2", "cat", "/runs-seen") == "2\n"
    # Nothing of the secret is in any layer.
    cove("save", "-o", str(tmp_path / "m.tar"), "mounts:2")
    assert b"s3cret" not in (tmp_path / "m.tar").read_bytes()
    missing = cove("build", "-q", str(ctx), check=False)  # the secret mount is optional: no --secret, no file
    assert missing.rc == 1 and "line 4" in missing.err


@pytest.mark.slow
def test_onbuild_triggers_run_in_the_child(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    write(
        tmp_path / "parent",
        {
            "Dockerfile": "FROM busybox\nONBUILD COPY marker.txt /marker.txt\n"
            "ONBUILD RUN echo triggered > /t\n"
        },
    )
    cove("build", "-q", "-t", "parent:1", str(tmp_path / "parent"))
    write(tmp_path / "child", {"Dockerfile": "FROM parent:1\n", "marker.txt": "m\n"})
    cove("build", "-q", "-t", "child:1", str(tmp_path / "child"))
    assert run_out(cove, "child:1", "cat", "/marker.txt", "/t") == "m\ntriggered\n"
    config = json.loads(cove("image", "inspect", "child:1").out)[0]["Config"]
    assert not config.get("OnBuild")


# --------------------------------------------------------------------------- contexts and outputs


@pytest.mark.slow
def test_contexts_from_stdin_and_dockerfile_from_stdin(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    archive = _tar_bytes({"Dockerfile": b"FROM busybox\nCOPY f.txt /f.txt\n", "f.txt": b"from tar\n"})
    proc = cove.proc("build", "-q", "-t", "tarctx:1", "-", input=archive)
    assert proc.stdout.decode().startswith("sha256:")
    assert run_out(cove, "tarctx:1", "cat", "/f.txt") == "from tar\n"
    proc = cove.proc(
        "build", "-q", "-t", "nocontext:1", "-", input=b"FROM busybox\nRUN echo no context > /n\n"
    )
    assert run_out(cove, "nocontext:1", "cat", "/n") == "no context\n"
    write(tmp_path, {"g.txt": "dir context\n"})
    cove.proc(
        "build", "-q", "-t", "stdinfile:1", "-f", "-", str(tmp_path), input=b"FROM busybox\nCOPY g.txt /\n"
    )
    assert run_out(cove, "stdinfile:1", "cat", "/g.txt") == "dir context\n"


@pytest.mark.slow
def test_context_from_a_url(cove_busybox: CoveRunner, http_files: tuple[str, Path]) -> None:
    base, www = http_files
    (www / "ctx.tar.gz").write_bytes(
        _tar_bytes({"Dockerfile": b"FROM busybox\nCOPY u.txt /\n", "u.txt": b"from a url\n"})
    )
    cove_busybox("build", "-q", "-t", "urlctx:1", f"{base}/ctx.tar.gz")
    assert run_out(cove_busybox, "urlctx:1", "cat", "/u.txt") == "from a url\n"
    missing = cove_busybox("build", "-q", f"{base}/nothing.tar", check=False)
    assert missing.rc == 1 and "cannot download" in missing.err


def test_output_local_and_tar_and_iidfile(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    write(tmp_path / "ctx", {"Dockerfile": "FROM scratch AS files\nCOPY a.txt /out/a.txt\n", "a.txt": "A\n"})
    cove("build", "-q", "--output", f"type=local,dest={tmp_path / 'local'}", str(tmp_path / "ctx"))
    assert (tmp_path / "local" / "out" / "a.txt").read_text() == "A\n"
    cove("build", "-q", "--output", f"type=tar,dest={tmp_path / 'out.tar'}", str(tmp_path / "ctx"))
    with tarfile.open(tmp_path / "out.tar") as tar:
        assert tar.extractfile("out/a.txt").read() == b"A\n"  # type: ignore[union-attr]
    images = cove("images", "-aq").out
    assert images.count("\n") == 1  # an export stores no image (busybox only)
    cove("build", "-q", "--iidfile", str(tmp_path / "iid"), "-t", "iid:1", str(tmp_path / "ctx"))
    assert (tmp_path / "iid").read_text() == image_id(cove, "iid:1")


def test_build_help_and_usage_errors(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    assert b"--build-arg" in cove_busybox.proc("build", "--help").stdout
    missing = cove_busybox("build", str(tmp_path / "nope"), check=False)
    assert missing.rc == 1 and "is not a directory" in missing.err
    no_file = cove_busybox("build", str(tmp_path), check=False)
    assert no_file.rc == 1 and "cannot read the Dockerfile" in no_file.err


# --------------------------------------------------------------------------- with a registry


@pytest.mark.slow
def test_base_images_are_pulled_and_built_images_pushed(
    cove_busybox: CoveRunner, registry: Registry, tmp_path: Path
) -> None:
    base = f"{registry.host}/lib/bb:1"
    cove_busybox("tag", "busybox", base)
    cove_busybox("push", "-q", base)
    other = CoveRunner(tmp_path / "other" / "root", tmp_path / "other" / "run", tmp_path / "other.toml")
    (tmp_path / "other.toml").write_text("")
    write(tmp_path / "ctx", {"Dockerfile": f"FROM {base}\nRUN echo built > /built\n"})
    built = f"{registry.host}/app/built:1"
    progress = plain(other, "-t", built, str(tmp_path / "ctx"))  # the base is missing: pulled
    assert "CACHED" not in progress
    assert len(step_lines(plain(other, "--pull", "-t", built, str(tmp_path / "ctx")), "CACHED")) == 1
    other("push", "-q", built)
    cove_busybox("pull", "-q", built)
    assert run_out(cove_busybox, built, "cat", "/built") == "built\n"
    engine = other.engine()
    try:
        check_store(engine)
    finally:
        engine.close()


@pytest.mark.slow
def test_dockerfile_specific_ignore_file_and_secret_from_env(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    ctx = tmp_path / "ctx"
    write(
        ctx,
        {
            "a.txt": "a",
            "b.txt": "b",
            ".dockerignore": "a.txt\n",
            "docker/app.Dockerfile": "FROM busybox\nCOPY . /c/\n"
            "RUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok > /seen\n",
            "docker/app.Dockerfile.dockerignore": "b.txt\ndocker\n",
        },
    )
    cove.env["TOKEN_VALUE"] = "from-env"
    cove(
        "build", "-q", "-t", "ign2:1", "-f", str(ctx / "docker/app.Dockerfile"),
        "--secret", "id=tok,env=TOKEN_VALUE", str(ctx),
    )  # fmt: skip
    # The Dockerfile's own ignore file wins over the context's: b.txt is out, a.txt is in.
    assert sorted(run_out(cove, "ign2:1", "ls", "-A", "/c").split()) == [".dockerignore", "a.txt"]
    assert run_out(cove, "ign2:1", "cat", "/seen") == "from-env"


def test_tty_progress_and_other_platforms(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo visible\nCOPY Dockerfile /\n"})
    tty = cove_busybox("build", "--progress", "tty", "-t", "tty:1", str(tmp_path))
    lines = [line for line in tty.err.replace("\r\x1b[K", "\n").splitlines() if line.startswith(" => [")]
    assert [line.split("]")[0] for line in lines] == [
        " => [stage-0 1/3",
        " => [stage-0 2/3",
        " => [stage-0 3/3",
    ]
    assert tty.err.rstrip().splitlines()[-1] == "Tagged docker.io/library/tty:1"
    other = cove_busybox("build", "-q", "--platform", "linux/s390x", str(tmp_path), check=False)
    assert other.rc == 1 and "RUN needs linux/s390x binaries" in other.err


@pytest.mark.parametrize(
    ("sharing", "expected"),
    [
        ("locked", ["start", "end", "start", "end"]),  # one RUN at a time
        ("private", ["start", "end"]),  # the second RUN got a throwaway directory
        ("shared", ["start", "start", "end", "end"]),  # both at once
    ],
)
@pytest.mark.slow
def test_cache_mount_sharing(
    cove_busybox: CoveRunner, tmp_path: Path, sharing: str, expected: list[str]
) -> None:
    run = (
        f"RUN --mount=type=cache,id=c,target=/c,sharing={sharing} "
        "sh -c 'echo start >> /c/log; sleep 1; echo end >> /c/log'\n"
    )
    write(
        tmp_path,
        {
            "Dockerfile": f"FROM busybox AS a\n{run}FROM busybox AS b\n{run.replace('start', 'start ')}"
            "FROM busybox\nCOPY --from=a /etc/passwd /a\nCOPY --from=b /etc/passwd /b\n"
            "RUN --mount=type=cache,id=c,target=/c cat /c/log > /log\n"
        },
    )
    cove_busybox("build", "-q", "-t", f"sharing:{sharing}", str(tmp_path))
    assert run_out(cove_busybox, f"sharing:{sharing}", "cat", "/log").split() == expected
