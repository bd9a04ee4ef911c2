"""The executor's logic on a recording backend: stages, the cache, what RUN is asked to do.

The backend is a fake (no runtime, no snapshots); the cache records live in a real SQLite
database, as in the engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from cove.build.backend import BaseImage, Layer, LayerWriter, RunFailed, RunRequest
from cove.build.cachestore import BuildCache
from cove.build.context import Context
from cove.build.dockerfile import DockerfileError, parse_syntax
from cove.build.executor import BuildEvent, BuildOptions, BuiltImage, Executor
from cove.build.instructions import parse_instructions
from cove.build.stages import plan
from cove.db.database import Database
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.oci.image import Descriptor
from cove.oci.platform import parse_platform

PLATFORM = "linux/amd64"


def fake_layer(seed: str) -> Layer:
    digest = Digest("sha256:" + hashlib.sha256(seed.encode()).hexdigest())
    return Layer(Descriptor(mt.OCI_LAYER, digest, len(seed)), digest)


class RecordingBackend:
    def __init__(self, db: Database, tmp: Path) -> None:
        self.cache = BuildCache(db)
        self.tmp = tmp
        self.runs: list[RunRequest] = []
        self.copies: list[set[str]] = []
        self.owners: list[dict[str, tuple[int, int]]] = []
        self.fail_with: int | None = None

    def base_image(self, name: str, platform: str, pull: bool) -> BaseImage:
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created": "2020-01-01T00:00:00Z", "created_by": f"base {name}"}],
        }
        return BaseImage("sha256:" + "b" * 64, config, (fake_layer(name),))

    def layers_present(self, layers: Sequence[Layer]) -> bool:
        return True

    def run(
        self, layers: Sequence[Layer], request: RunRequest, output: Callable[[bytes], None]
    ) -> Layer | None:
        self.runs.append(request)
        output(b"line one\nline two")
        if self.fail_with is not None:
            raise RunFailed(f"the command exited with code {self.fail_with}", self.fail_with)
        return fake_layer(json.dumps(request.argv))

    def add_layer(self, layers: Sequence[Layer], write: LayerWriter, *, mirror: bool = False) -> Layer | None:
        buf = io.BytesIO()
        write(buf, None)
        buf.seek(0)
        with tarfile.open(fileobj=buf) as tar:
            members = tar.getmembers()
        names = {m.name for m in members}
        self.copies.append(names)
        self.owners.append({m.name: (m.uid, m.gid) for m in members})
        return fake_layer(str(sorted(names)))

    @contextlib.contextmanager
    def rootfs(self, layers: Sequence[Layer]) -> Iterator[Path]:
        yield self.tmp

    def owner(self, layers: Sequence[Layer], spec: str) -> tuple[int, int]:
        return {"app": (1000, 1000), "app:staff": (1000, 50)}[spec]

    def download(self, url: str, dest: Path) -> tuple[str, float | None]:
        raise AssertionError("no downloads here")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[RecordingBackend]:
    db = Database(tmp_path / "cove.db")
    (tmp_path / "image").mkdir()
    yield RecordingBackend(db, tmp_path / "image")
    db.close()


@pytest.fixture
def context(tmp_path: Path) -> Context:
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("a\n")
    (root / "b.txt").write_text("b\n")
    return Context(root)


def build(
    backend: RecordingBackend,
    context: Context,
    dockerfile: str,
    events: list[BuildEvent] | None = None,
    **options: object,
) -> BuiltImage:
    parsed = parse_syntax(dockerfile)
    build_args = dict(options.pop("build_args", {}))  # type: ignore[call-overload]
    target = options.pop("target", None)
    p = plan(
        parse_instructions(parsed),
        build_args,
        target=target,  # type: ignore[arg-type]
        target_platform=parse_platform(PLATFORM),
        build_platform=parse_platform(PLATFORM),
    )
    opts = BuildOptions(build_args=build_args, platform=PLATFORM, build_platform=PLATFORM, **options)  # type: ignore[arg-type]
    report = events.append if events is not None else None
    return Executor(backend, p, context, opts, escape=parsed.escape, report=report).build()


def reasons(events: list[BuildEvent]) -> list[tuple[str, str]]:
    return [(e.name.split("] ", 1)[1], e.text) for e in events if e.kind == "note"]


def test_metadata_and_layers_make_the_config(backend: RecordingBackend, context: Context) -> None:
    built = build(
        backend,
        context,
        'FROM base\nENV A=1\nWORKDIR /app\nCOPY b.txt .\nRUN echo hi\nENTRYPOINT ["x"]\n',
    )
    config = built.config["config"]
    assert config["Env"] == ["PATH=/usr/bin:/bin", "A=1"]
    assert config["WorkingDir"] == "/app" and config["Entrypoint"] == ["x"] and config["Cmd"] is None
    assert [h["created_by"] for h in built.config["history"]] == [
        "base base",
        "ENV A=1",
        "WORKDIR /app",
        "COPY b.txt .",
        "RUN /bin/sh -c echo hi",
        'ENTRYPOINT ["x"]',
    ]
    assert len(built.layers) == 3 and len(built.config["rootfs"]["diff_ids"]) == 3
    assert backend.copies == [{"app", "app/b.txt"}]
    assert backend.runs[0].workdir == "/app" and backend.runs[0].argv == ["/bin/sh", "-c", "echo hi"]


def test_a_second_build_is_all_cached_and_the_same(backend: RecordingBackend, context: Context) -> None:
    text = "FROM base\nARG V=1\nRUN echo $V\nCOPY src/ /src/\nLABEL x=y\n"
    first = build(backend, context, text)
    events: list[BuildEvent] = []
    again = build(backend, context, text, events)
    assert again.config == first.config and again.layers == first.layers
    assert again.cached_steps == again.steps == 2
    assert len(backend.runs) == 1


def test_why_a_step_was_not_cached(backend: RecordingBackend, context: Context) -> None:
    text = "FROM base\nARG V=1\nRUN echo $V\nCOPY src/ /src/\nRUN echo after\n"
    events: list[BuildEvent] = []
    build(backend, context, text, events)
    assert reasons(events) == [
        ("RUN echo $V", "cache miss: not built before"),
        ("COPY src/ /src/", "cache miss: an earlier step was rebuilt"),
        ("RUN echo after", "cache miss: an earlier step was rebuilt"),
    ]
    (Path(context.root) / "src" / "a.txt").write_text("changed\n")
    events = []
    build(backend, context, text, events)
    assert reasons(events) == [
        ("COPY src/ /src/", "cache miss: the files it copies changed"),
        ("RUN echo after", "cache miss: an earlier step was rebuilt"),
    ]
    events = []
    build(backend, context, text, events, build_args={"V": "2"})
    assert reasons(events)[0] == ("RUN echo $V", "cache miss: a setting before it changed (ARG V=1)")
    events = []
    build(backend, context, text, events, build_args={"V": "2"}, no_cache=True)
    assert {r for _, r in reasons(events)} == {"cache miss: --no-cache"}


def test_build_args_reach_run_but_env_wins(backend: RecordingBackend, context: Context) -> None:
    build(
        backend,
        context,
        "FROM base\nARG A=arg\nARG B=arg\nENV B=env\nRUN true\n",
        build_args={"HTTP_PROXY": "http://proxy:3128", "A": "given"},
    )
    env = backend.runs[0].env
    assert "A=given" in env and "B=env" in env and "B=arg" not in env
    assert "HTTP_PROXY=http://proxy:3128" in env  # proxies pass without being declared


def test_target_skips_stages_it_does_not_need(backend: RecordingBackend, context: Context) -> None:
    text = (
        "FROM base AS one\nRUN echo one\nFROM base AS two\nRUN echo two\nFROM one AS three\nRUN echo three\n"
    )
    build(backend, context, text, target="three")
    assert [r.argv[-1] for r in backend.runs] == ["echo one", "echo three"]


def test_run_heredocs_and_mounts(backend: RecordingBackend, context: Context, tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_text("x")
    build(
        backend,
        context,
        "FROM base\nRUN <<EOF\necho a\necho b\nEOF\n"
        "RUN python3 <<PY\nprint(1)\nPY\n"
        "RUN --mount=type=cache,target=/root/.cache,id=pip --mount=type=tmpfs,target=/tmp,size=1m "
        "--mount=type=secret,id=tok --mount=type=bind,source=src,target=/src --network=none true\n",
        secrets={"tok": secret},
    )
    assert backend.runs[0].argv == ["/bin/sh", "-c", "echo a\necho b\n"]
    assert backend.runs[1].argv == ["/bin/sh", "-c", "python3 <<PY\nprint(1)\nPY\n"]
    mounts = {m.kind: m for m in backend.runs[2].mounts}
    assert mounts["cache"].source == "pip" and mounts["cache"].target == "/root/.cache"
    assert mounts["tmpfs"].options == ("size=1048576",)  # in bytes, as BuildKit reads it
    assert mounts["secret"].target == "/run/secrets/tok" and mounts["secret"].readonly
    bind = mounts["bind"]  # resolved inside the context by the engine
    assert (bind.source, bind.root, bind.readonly) == ("src", str(context.root), True)
    assert backend.runs[2].network == "none"


def test_a_failing_run_names_its_line_and_keeps_the_output(
    backend: RecordingBackend, context: Context
) -> None:
    backend.fail_with = 3
    events: list[BuildEvent] = []
    with pytest.raises(DockerfileError, match=r"^line 3: RUN exit 3: the command exited with code 3$"):
        build(backend, context, "FROM base\n\nRUN exit 3\n", events)
    assert [e.text for e in events if e.kind == "output"] == ["line one", "line two"]
    assert backend.cache.all() == []  # nothing recorded for a failed step (no metadata before it)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("RUN --mount=type=ssh true", "type=ssh is not supported"),
        ("RUN --mount=type=cache true", "needs a target="),
        ("RUN --mount=type=secret,id=x,required=true true", "secret x is required but was not given"),
        ("COPY --from=base --chmod=9 b.txt /", "invalid --chmod"),
        ("ADD --checksum=sha256:00 b.txt /", "--checksum is only for URL sources"),
        ("ADD git@github.com:x/y.git /src", "Git repository"),
        ("COPY --bogus=1 b.txt /", "unknown flag: --bogus"),
        ("COPY --from=other:1 /missing /", "COPY source '/missing' not found in other:1"),
    ],
)
def test_bad_instructions(backend: RecordingBackend, context: Context, line: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        build(backend, context, f"FROM base\n{line}\n")


def test_onbuild_triggers_of_the_base_run_first(backend: RecordingBackend, context: Context) -> None:
    original = backend.base_image

    def with_triggers(name: str, platform: str, pull: bool) -> BaseImage:
        image = original(name, platform, pull)
        image.config["config"]["OnBuild"] = ["RUN echo triggered"]
        return image

    backend.base_image = with_triggers  # type: ignore[method-assign]
    built = build(backend, context, "FROM base\nRUN echo own\n")
    assert [r.argv[-1] for r in backend.runs] == ["echo triggered", "echo own"]
    assert "OnBuild" not in built.config["config"]


def test_copy_exclude_and_from_an_image(backend: RecordingBackend, context: Context) -> None:
    (context.root / "src" / "skip.log").write_text("x")
    (backend.tmp / "etc").mkdir()
    (backend.tmp / "etc" / "os-release").write_text("ID=test\n")
    build(
        backend,
        context,
        "FROM base\nCOPY --exclude=*.log src/ /src/\nCOPY --from=other:1 /etc/os-release /\n",
    )
    assert backend.copies == [{"src", "src/a.txt"}, {"os-release"}]


def test_run_for_another_platform_is_refused(backend: RecordingBackend, context: Context) -> None:
    with pytest.raises(
        DockerfileError, match="RUN needs linux/arm64 binaries to run on this linux/amd64 host"
    ):
        build(backend, context, "FROM --platform=linux/arm64 base\nRUN true\n")
    # A stage for another platform without RUN is fine (it only copies files).
    build(backend, context, "FROM --platform=linux/arm64 base\nCOPY b.txt /\n")


def test_copy_chown_with_names(backend: RecordingBackend, context: Context) -> None:
    built = build(backend, context, "FROM base\nCOPY --chown=app b.txt /\nCOPY --chown=app:staff b.txt /c\n")
    assert len(built.layers) == 3
    assert backend.owners == [{"b.txt": (1000, 1000)}, {"c": (1000, 50)}]  # a user alone: its uid as gid
    steps = [h["created_by"] for h in built.config["history"][1:]]
    assert steps == ["COPY --chown=app b.txt /", "COPY --chown=app:staff b.txt /c"]


def test_a_stage_copies_from_a_later_one(backend: RecordingBackend, context: Context) -> None:
    """A forward --from builds the later stage first (it raised KeyError before)."""
    (backend.tmp / "etc").mkdir(exist_ok=True)
    (backend.tmp / "etc" / "os-release").write_text("ID=test\n")
    built = build(
        backend,
        context,
        "FROM base AS a\nCOPY --from=b /etc/os-release /\nFROM base AS b\nRUN touch /made\n",
        target="a",
    )
    assert backend.copies == [{"os-release"}]
    assert len(built.layers) == 2  # base's, then the copy


def test_a_stage_copying_from_itself_is_refused_without_waiting(
    backend: RecordingBackend, context: Context
) -> None:
    """It could only wait on itself (build() never returned): the plan refuses it up front."""
    with pytest.raises(DockerfileError, match="circular dependency detected on stage: a"):
        build(backend, context, "FROM base AS a\nCOPY --from=a /x /x\n")
    assert backend.copies == []


def test_copy_parents_keeps_the_source_paths(backend: RecordingBackend, context: Context) -> None:
    (context.root / "src" / "deep").mkdir()
    (context.root / "src" / "deep" / "c.txt").write_text("c\n")
    build(
        backend,
        context,
        "FROM base\nCOPY --parents src/a.txt b.txt /dest/\nCOPY --parents ./src/./deep/c.txt /p/\n",
    )
    assert backend.copies[0] == {"dest", "dest/src", "dest/src/a.txt", "dest/b.txt"}
    assert backend.copies[1] == {"p", "p/deep", "p/deep/c.txt"}  # below the "/./" pivot


def test_add_unpack_false_copies_an_archive_as_a_file(backend: RecordingBackend, context: Context) -> None:
    with tarfile.open(context.root / "a.tar", "w") as tar:
        tar.add(context.root / "b.txt", arcname="inside.txt")
    build(backend, context, "FROM base\nADD --unpack=false a.tar /x/\nADD a.tar /y/\n")
    assert backend.copies[0] == {"x", "x/a.tar"}
    assert "y/inside.txt" in backend.copies[1]


def test_run_security_insecure_is_refused(backend: RecordingBackend, context: Context) -> None:
    with pytest.raises(DockerfileError, match="line 2: RUN --security=insecure is not allowed"):
        build(backend, context, "FROM base\nRUN --security=insecure true\n")
    assert backend.runs == []


def test_add_of_a_url_with_parents_unset(backend: RecordingBackend, context: Context, tmp_path: Path) -> None:
    """ADD of a URL goes by the URL branch (no --parents bookkeeping there)."""

    def download(url: str, dest: Path) -> tuple[str, float | None]:
        dest.write_text("web\n")
        return "remote.txt", None

    backend.download = download  # type: ignore[method-assign]
    build(backend, context, "FROM base\nADD https://example.com/remote.txt /web/\n")
    assert backend.copies == [{"web", "web/remote.txt"}]


def test_secret_mount_as_an_environment_variable(
    backend: RecordingBackend, context: Context, tmp_path: Path
) -> None:
    secret = tmp_path / "s"
    secret.write_text("hush")
    build(
        backend,
        context,
        "FROM base\nRUN --mount=type=secret,id=tok,env=TOKEN true\n"
        "RUN --mount=type=secret,id=tok,env=TOKEN,target=/t true\n",
        secrets={"tok": secret},
    )
    only_env, both = backend.runs
    assert "TOKEN=hush" in only_env.env and only_env.mounts == []  # env= alone: no file
    assert "TOKEN=hush" in both.env and [m.target for m in both.mounts] == ["/t"]


def test_heredoc_beside_a_directory_keeps_its_excludes(backend: RecordingBackend, context: Context) -> None:
    (context.root / "src" / "skip.log").write_text("log\n")
    build(backend, context, "FROM base\nCOPY --exclude=*.log <<EOF src /out/\ninline\nEOF\n")
    assert backend.copies == [{"out", "out/EOF", "out/a.txt"}]


def test_a_cached_copy_from_another_stage_mounts_nothing(backend: RecordingBackend, context: Context) -> None:
    """Its key is what identifies the other stage's files (that stage's last key) and the
    sources as written: a cached multi-stage rebuild reads no stage's files (it mounted the
    stage, and started a guard process for the mount, on every rebuild)."""
    mounted: list[int] = []
    original = backend.rootfs

    def counting(layers: Sequence[Layer]) -> contextlib.AbstractContextManager[Path]:
        mounted.append(len(layers))
        return original(layers)

    backend.rootfs = counting  # type: ignore[method-assign]
    (backend.tmp / "app").mkdir()
    (backend.tmp / "app" / "bin").write_text("built\n")
    dockerfile = "FROM base AS build\nRUN make\nFROM base\nCOPY --from=build /app/bin /usr/bin/app\n"
    first = build(backend, context, dockerfile)
    assert mounted and backend.copies == [{"usr", "usr/bin", "usr/bin/app"}]
    mounted.clear()
    again = build(backend, context, dockerfile)
    assert mounted == [] and again.cached_steps == again.steps
    assert again.config == first.config
    # Another stage result (its RUN changed) is another COPY, however alike its files look.
    changed = build(backend, context, dockerfile.replace("RUN make", "RUN make all"))
    assert changed.cached_steps == 0 and mounted


def test_a_missing_source_in_another_stage_is_still_an_error(
    backend: RecordingBackend, context: Context
) -> None:
    with pytest.raises(DockerfileError, match=r"^line 4: COPY source '/nowhere' not found in build"):
        build(backend, context, "FROM base AS build\nRUN make\nFROM base\nCOPY --from=build /nowhere /x\n")
