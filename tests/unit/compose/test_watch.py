"""compose watch's pure logic: develop.watch in the model, which rule a path falls under and where
it goes in the container, the ignores, batching, and what a batch does (on a recording backend)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from cove.cli.app import Cli
from cove.cli.main import main
from cove.compose.errors import ComposeError
from cove.compose.loader import load_project
from cove.compose.model import Hook, WatchAction
from cove.compose.options import ProjectOptions
from cove.compose.watch import Debouncer, PathMapping, dockerignore_of, go_names, plan, triggers_of
from cove.compose.watch_session import Session, selected
from cove.compose.watch_sync import write_tar


def project(tmp_path: Path, text: str, **files: str):  # type: ignore[no-untyped-def]
    (tmp_path / "compose.yaml").write_text(text)
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    return load_project(ProjectOptions(working_dir=str(tmp_path), environ={}, project_name="app"))


WEB = """
services:
  web:
    image: busybox
    develop:
      watch:
        - action: sync
          path: ./src
          target: /app
          ignore: ["*.tmp", "cache/"]
        - action: sync+restart
          path: ./conf
          target: /etc/web
          include: "*.conf"
          initial_sync: true
        - action: sync+exec
          path: ./hooks
          target: /hooks
          exec:
            command: touch /ran
            user: root
            environment: [A=1, B]
"""


def test_develop_watch_is_typed_with_absolute_paths(tmp_path: Path) -> None:
    rules = project(tmp_path, WEB).services["web"].develop.watch
    assert [(r.action, r.path, r.target) for r in rules] == [
        (WatchAction.SYNC, str(tmp_path / "src"), "/app"),
        (WatchAction.SYNC_RESTART, str(tmp_path / "conf"), "/etc/web"),
        (WatchAction.SYNC_EXEC, str(tmp_path / "hooks"), "/hooks"),
    ]
    assert rules[0].ignore == ("*.tmp", "cache/") and rules[1].include == ("*.conf",)
    assert rules[1].initial_sync and not rules[0].initial_sync
    assert rules[2].exec == Hook(("touch", "/ran"), user="root", environment={"A": "1", "B": None})
    assert project(tmp_path, "services: {web: {image: busybox}}").services["web"].develop is None


def test_a_sync_rule_needs_a_target(tmp_path: Path) -> None:
    with pytest.raises(
        ComposeError, match=r"services\.web\.develop\.watch: target is required for non-rebuild"
    ):
        project(tmp_path, "services: {web: {image: b, develop: {watch: [{action: sync, path: .}]}}}")


def test_paths_map_to_the_target_plus_their_path_under_the_rule(tmp_path: Path) -> None:
    sync, conf, _ = triggers_of(project(tmp_path, WEB).services["web"])
    src = str(tmp_path / "src")
    assert sync.matches(f"{src}/index.html") == PathMapping(f"{src}/index.html", "/app/index.html")
    assert sync.matches(f"{src}/a/b/c.py") == PathMapping(f"{src}/a/b/c.py", "/app/a/b/c.py")
    assert sync.matches(src) == PathMapping(src, "/app")
    assert sync.matches(f"{tmp_path}/srcx/f") is None  # a sibling with the same prefix
    assert sync.matches(f"{tmp_path}/other") is None
    assert conf.matches(f"{tmp_path}/conf/web.conf") == PathMapping(
        f"{tmp_path}/conf/web.conf", "/etc/web/web.conf"
    )
    assert conf.matches(f"{tmp_path}/conf/notes.txt") is None  # not included


def test_ignores_the_rule_s_patterns_editors_files_and_git(tmp_path: Path) -> None:
    sync = triggers_of(project(tmp_path, WEB).services["web"])[0]
    src = str(tmp_path / "src")
    ignored = [
        "x.tmp", "cache/deep/f", ".index.html.swp", "index.html~", "4913", ".git/HEAD", "sub/.git/config",
        ".#lock", ".idea/workspace.xml",
    ]  # fmt: skip
    assert [p for p in ignored if sync.matches(f"{src}/{p}") is not None] == []
    assert sync.matches(f"{src}/x.tmpl") is not None
    assert sync.matches(f"{src}/sub/x.tmp") is not None  # the rule's patterns are relative to its path


def test_the_build_context_s_dockerignore_applies_dockerfile_specific_first(tmp_path: Path) -> None:
    text = """
services:
  web:
    build: {context: ., dockerfile: web.Dockerfile}
    develop: {watch: [{action: sync, path: ., target: /app}]}
"""
    p = project(
        tmp_path, text, **{".dockerignore": "*.md\n", "web.Dockerfile.dockerignore": "node_modules\n"}
    )
    trigger = triggers_of(p.services["web"], dockerignore_of(p.services["web"]))[0]
    assert trigger.matches(f"{tmp_path}/node_modules/x/index.js") is None
    assert trigger.matches(f"{tmp_path}/README.md") is not None  # the general file is not read then
    (tmp_path / "web.Dockerfile.dockerignore").unlink()
    trigger = triggers_of(p.services["web"], dockerignore_of(p.services["web"]))[0]
    assert trigger.matches(f"{tmp_path}/README.md") is None
    assert dockerignore_of(project(tmp_path, "services: {web: {image: b}}").services["web"]) is None


def test_a_batch_groups_actions_per_service(tmp_path: Path) -> None:
    triggers = triggers_of(project(tmp_path, WEB).services["web"])
    batch = plan(
        [
            f"{tmp_path}/src/a",
            f"{tmp_path}/src/b",
            f"{tmp_path}/conf/x.conf",
            f"{tmp_path}/hooks/1",
            f"{tmp_path}/hooks/2",
        ],
        triggers,
    )
    assert [m.container_path for m in batch.sync["web"]] == [
        "/app/a",
        "/app/b",
        "/etc/web/x.conf",
        "/hooks/1",
        "/hooks/2",
    ]
    assert batch.restart == ("web",) and batch.rebuild == ()
    assert batch.exec["web"] == (triggers[2].rule.exec,)  # once, however many of its files changed
    assert not plan([f"{tmp_path}/elsewhere"], triggers)


def test_the_debouncer_waits_for_a_quiet_period_and_dedupes() -> None:
    now = [0.0]
    d = Debouncer(quiet=0.2, longest=2.0, clock=lambda: now[0])
    assert d.timeout() is None and d.take() is None
    d.add(["a", "b"])
    now[0] = 0.1
    d.add(["a", "c"])  # within the quiet period: the same batch, which waits again
    assert d.take() is None
    assert d.timeout() == pytest.approx(0.2)
    now[0] = 0.31
    assert d.take() == ("a", "b", "c")
    assert d.take() is None and d.timeout() is None
    d.add([])
    assert d.timeout() is None  # nothing added: nothing pending


def test_the_debouncer_flushes_a_batch_that_keeps_growing() -> None:
    now = [10.0]
    d = Debouncer(quiet=0.2, longest=1.0, clock=lambda: now[0])
    got = None
    for i in range(10):  # a change every 0.15 s, never a quiet 0.2 s
        got = d.take()
        if got:
            break
        d.add([f"f{i}"])
        now[0] += 0.15
    assert got == tuple(f"f{i}" for i in range(7))  # due once the first has waited 1 s


def test_go_names_print_as_go_does() -> None:
    assert go_names(["web", "db"]) == '["web" "db"]'


def test_the_tar_holds_files_at_their_container_paths(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "f").write_text("deep")
    (tmp_path / "one").write_text("1")
    (tmp_path / "d" / "link").symlink_to("sub/f")
    out = io.BytesIO()
    mappings = [
        PathMapping(str(tmp_path / "one"), "/app/one"),
        PathMapping(str(tmp_path / "d"), "/app/d"),  # the directory only: its files come by themselves
        PathMapping(str(tmp_path / "d" / "sub" / "f"), "/app/d/sub/f"),
        PathMapping(str(tmp_path / "d" / "link"), "/app/d/link"),
        PathMapping(str(tmp_path / "gone"), "/app/gone"),
        PathMapping(str(tmp_path / "one"), "/app/one"),  # twice: once in the tar
        PathMapping(str(tmp_path / "one"), "/app/.wh.one"),  # never a layer's whiteout
    ]
    assert write_tar(out, mappings, owner=(1000, 1000)) == 4
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["app/d", "app/d/link", "app/d/sub/f", "app/one"]
        assert tar.extractfile("app/d/sub/f").read() == b"deep"  # type: ignore[union-attr]
        assert members["app/d/link"].issym() and members["app/d/link"].linkname == "sub/f"
        assert {(m.uid, m.gid) for m in members.values()} == {(1000, 1000)}


# -- the session, on a recording backend -----------------------------------------------------


class RecordingBackend:
    def __init__(self, running: bool = True) -> None:
        self.calls: list[tuple] = []
        self.copied: dict[str, bytes] = {}
        self.exit_code = 0
        self.containers = [
            SimpleNamespace(
                record=SimpleNamespace(id="c1", name="app-web-1", config=SimpleNamespace(user=None)),
                status=SimpleNamespace(running=running),
            )
        ]

    def list_containers(self, filters, *, all=True):  # type: ignore[no-untyped-def]
        self.calls.append(("list", tuple(filters["label"]), all))
        return [c for c in self.containers if all or c.status.running]

    def copy_to(self, ref, path, archive):  # type: ignore[no-untyped-def]
        with tarfile.open(fileobj=io.BytesIO(archive.read())) as tar:
            for m in tar.getmembers():
                f = tar.extractfile(m)
                self.copied[m.name] = f.read() if f else b""
        self.calls.append(("copy", ref, path))

    def exec_process(self, ref, argv, **kw):  # type: ignore[no-untyped-def]
        self.calls.append(("run", ref, tuple(argv), kw.get("user"), tuple(kw.get("env") or ())))
        return self.exit_code

    def restart_container(self, ref, *, timeout=None):  # type: ignore[no-untyped-def]
        self.calls.append(("restart", ref))


def session(tmp_path: Path, text: str = WEB, backend: RecordingBackend | None = None, **kw):  # type: ignore[no-untyped-def]
    lines: list[str] = []
    s = Session(
        project(tmp_path, text),
        backend or RecordingBackend(),
        log=lines.append,
        warn=lambda m: lines.append("WARN " + m),
        **kw,
    )
    return s, lines


def test_a_sync_copies_existing_files_and_removes_deleted_ones(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.html").write_text("<h1>new</h1>")
    s, lines = session(tmp_path)
    s.handle([str(tmp_path / "src" / "index.html"), str(tmp_path / "src" / "old.css")])
    backend = s.backend
    assert lines == ['Syncing service "web" after 2 changes were detected']
    assert ("run", "c1", ("rm", "-rf", "/app/old.css"), None, ()) in backend.calls
    assert ("copy", "c1", "/") in backend.calls
    assert backend.copied == {"app/index.html": b"<h1>new</h1>"}
    assert (
        "list",
        (
            "com.docker.compose.project=app",
            "com.docker.compose.service=web",
            "com.docker.compose.oneoff=False",
        ),
        True,
    ) in backend.calls


def test_deletions_are_not_run_in_a_stopped_container(tmp_path: Path) -> None:
    s, _ = session(tmp_path, backend=RecordingBackend(running=False))
    s.handle([str(tmp_path / "src" / "gone")])
    assert [c for c in s.backend.calls if c[0] == "run"] == []


def test_sync_restart_restarts_and_sync_exec_runs_its_command_once(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.conf").write_text("x")
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "1").write_text("1")
    (tmp_path / "hooks" / "2").write_text("2")
    s, lines = session(tmp_path)
    s.handle(
        [str(tmp_path / "conf" / "a.conf"), str(tmp_path / "hooks" / "1"), str(tmp_path / "hooks" / "2")]
    )
    kinds = [c[0] for c in s.backend.calls if c[0] != "list"]
    assert kinds == ["copy", "restart", "run"]  # sync, then restart, then the command
    assert ("run", "c1", ("touch", "/ran"), "root", ("A=1",)) in s.backend.calls
    assert lines == ['Syncing service "web" after 3 changes were detected', 'service(s) ["web"] restarted']


def test_a_failure_is_reported_and_the_watch_goes_on(tmp_path: Path) -> None:
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "1").write_text("1")
    backend = RecordingBackend()
    backend.exit_code = 3
    s, lines = session(tmp_path, backend=backend)
    s.handle([str(tmp_path / "hooks" / "1")])
    assert lines[-1] == "WARN Error handling changed files: exec in app-web-1 exited with code 3"


def test_rebuild_builds_then_recreates(tmp_path: Path) -> None:
    text = "services: {web: {build: ., develop: {watch: [{action: rebuild, path: ./requirements.txt}]}}}"
    done: list[tuple[str, tuple[str, ...]]] = []
    rebuilder = SimpleNamespace(
        build=lambda services: done.append(("build", tuple(services))),
        recreate=lambda services: done.append(("recreate", tuple(services))),
    )
    s, lines = session(tmp_path, text, rebuilder=rebuilder)
    s.handle([str(tmp_path / "requirements.txt")])
    assert done == [("build", ("web",)), ("recreate", ("web",))]
    assert lines == [
        'Rebuilding service(s) ["web"] after changes were detected...',
        'service(s) ["web"] successfully built',
    ]


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="none of the selected services is configured for watch"):
        session(tmp_path, "services: {web: {image: b}}")
    text = "services: {web: {image: b, develop: {watch: [{action: rebuild, path: .}]}}}"
    with pytest.raises(
        ComposeError, match='can\'t watch service "web" with action rebuild without a build context'
    ):
        session(tmp_path, text, rebuilder=SimpleNamespace())


def test_a_bind_mounted_sync_path_is_not_watched(tmp_path: Path) -> None:
    text = """
services:
  web:
    image: b
    volumes: [./src:/app]
    develop:
      watch: [{action: sync, path: ./src, target: /app}, {action: sync+restart, path: ./conf, target: /c}]
"""
    s, lines = session(tmp_path, text)
    assert s.roots == [str(tmp_path / "conf")]
    assert lines == [
        f"WARN path '{tmp_path / 'src'}' also declared by a bind mount volume, this path won't be monitored!"
    ]


def test_named_services_bring_their_dependencies(tmp_path: Path) -> None:
    text = "services: {web: {image: b, depends_on: [db]}, db: {image: b}, other: {image: b}}"
    p = project(tmp_path, text)
    assert {s.name for s in selected(p, ["web"])} == {"web", "db"}
    assert len(selected(p, [])) == 3
    with pytest.raises(ComposeError, match="no such service: nope"):
        selected(p, ["nope"])


def test_initial_sync_copies_what_the_rule_watches_but_its_ignores(tmp_path: Path) -> None:
    (tmp_path / "conf" / "d").mkdir(parents=True)
    (tmp_path / "conf" / "a.conf").write_text("a")
    (tmp_path / "conf" / "d" / "b.conf").write_text("b")
    (tmp_path / "conf" / "notes.txt").write_text("n")
    s, _ = session(tmp_path)
    s.initial_sync()
    assert s.backend.copied == {"etc/web/a.conf": b"a"}  # include "*.conf" is relative to the rule's path


def test_the_command_refuses_a_project_without_develop_before_opening_the_engine(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services: {web: {image: busybox}}")
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["compose", "-f", str(tmp_path / "compose.yaml"), "watch", "--no-up"],
        cli=Cli(stdout=out, stderr=err, env={}),
    )
    assert code == 1
    assert "none of the selected services is configured for watch" in err.getvalue()


def test_prune_removes_the_project_s_dangling_images_but_the_new_ones(tmp_path: Path) -> None:
    from cove.compose.watch_rebuild import ProjectRebuilder  # noqa: PLC0415 - imports the images module
    from cove.errors import Conflict  # noqa: PLC0415

    class Images:
        def __init__(self) -> None:
            self.filters: list[dict] = []
            self.removed: list[str] = []

        def list_images(self, filters):  # type: ignore[no-untyped-def]
            self.filters.append(dict(filters))
            return [SimpleNamespace(id=i) for i in ("sha256:old", "sha256:new", "sha256:used")]

        def remove_image(self, name, *, force=False):  # type: ignore[no-untyped-def]
            if name == "sha256:used":
                raise Conflict("image is in use by a container")
            self.removed.append(name)

    backend = Images()
    ProjectRebuilder(
        backend, project(tmp_path, "services: {web: {build: .}}"), lambda s: None
    ).prune_dangling(["sha256:new"])
    assert backend.filters == [{"label": ["com.docker.compose.project=app"], "dangling": ["true"]}]
    assert backend.removed == ["sha256:old"]
