"""The image commands end to end on a real store: listing, names, removal, prune, df."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import CoveRunner


def image_id(cove: CoveRunner, name: str) -> str:
    return cove("image", "inspect", "--format", "{{.Id}}", name).out.strip()


def test_images_table_and_formats(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    out = cove("images").out.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert out[1].startswith("busybox      latest    ")
    full = image_id(cove, "busybox")
    assert full.startswith("sha256:") and len(full) == 71
    assert cove("images", "-q").out == full[7:19] + "\n"
    assert cove("images", "-q", "--no-trunc").out == full + "\n"
    row = json.loads(cove("images", "--format", "json").out)
    assert row["Repository"] == "busybox" and row["Tag"] == "latest" and row["ID"] == full[7:19]
    assert set(row) >= {"Containers", "CreatedAt", "CreatedSince", "Digest", "Size", "VirtualSize"}
    assert cove("images", "--format", "{{.Repository}}:{{.Tag}}").out == "busybox:latest\n"
    table = cove("images", "--format", "table {{.Repository}}\t{{.Size}}").out.splitlines()
    assert table[0].split() == ["REPOSITORY", "SIZE"]
    digests = cove("images", "--digests").out.splitlines()
    assert "DIGEST" in digests[0] and "<none>" in digests[1]


def test_filters(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("tag", "busybox", "example.com/team/tool:v1")
    names = cove("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
    assert sorted(names) == ["busybox:latest", "example.com/team/tool:v1"]
    assert cove("images", "--filter", "reference=busy*", "--format", "{{.Repository}}").out == "busybox\n"
    assert cove("images", "example.com/team/*", "--format", "{{.Tag}}").out == "v1\n"
    assert cove("images", "--filter", "dangling=true", "-q").out == ""
    assert cove("images", "--filter", "dangling=false", "-q").out != ""
    assert cove("images", "--filter", "label=nope", "-q").out == ""
    bad = cove("images", "--filter", "colour=red", check=False)
    assert bad.rc == 1 and "invalid filter 'colour'" in bad.err
    bad = cove("images", "--filter", "dangling", check=False)
    assert bad.rc == 125 and "expected name=value" in bad.err


def test_inspect_has_dockers_shape(cove_busybox: CoveRunner) -> None:
    data = json.loads(cove_busybox("image", "inspect", "busybox").out)
    assert len(data) == 1
    item = data[0]
    for key in (
        "Id",
        "RepoTags",
        "RepoDigests",
        "Created",
        "Config",
        "Architecture",
        "Os",
        "Size",
        "RootFS",
        "GraphDriver",
        "Metadata",
    ):
        assert key in item
    assert item["RepoTags"] == ["busybox:latest"]
    assert item["Config"]["Cmd"] == ["sh"]
    assert item["RootFS"]["Type"] == "layers" and len(item["RootFS"]["Layers"]) == 1
    missing = cove_busybox("image", "inspect", "busybox", "nope", check=False)
    assert missing.rc == 1 and "No such image: nope" in missing.err
    assert len(json.loads(missing.out)) == 1


def test_tag_and_lookup_by_id_prefix(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    full = image_id(cove, "busybox")
    cove("tag", full[7:12], "mine:1")
    cove("tag", "mine:1", "localhost:5000/mine")
    assert image_id(cove, "mine:1") == full
    assert image_id(cove, "localhost:5000/mine:latest") == full
    assert image_id(cove, full) == full
    bad = cove("tag", "busybox", "Bad:Name", check=False)
    assert bad.rc == 1 and "invalid reference format" in bad.err
    missing = cove("tag", "nope", "x", check=False)
    assert missing.rc == 1 and missing.err.startswith("Error: No such image: nope")


def test_rmi_untags_then_deletes(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    full = image_id(cove, "busybox")
    cove("tag", "busybox", "other:tag")
    by_id = cove("rmi", full[7:19], check=False)
    assert by_id.rc == 1 and "referenced in multiple repositories" in by_id.err
    assert cove("rmi", "other:tag").out == "Untagged: other:tag\n"
    out = cove("rmi", "busybox").out.splitlines()
    assert out[0] == "Untagged: busybox:latest"
    assert out[1] == f"Deleted: {full}"
    assert cove("images", "-q").out == ""
    engine = cove.engine()
    try:
        assert list(engine.store.content.digests()) == []
        assert engine.store.snapshotter.all() == []
    finally:
        engine.close()
    assert cove("rmi", "busybox", check=False).err.startswith("Error: No such image: busybox")


def test_rmi_by_id_with_force_removes_every_tag(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    full = image_id(cove, "busybox")
    cove("tag", "busybox", "other:tag")
    out = cove("rmi", "-f", full[7:19]).out.splitlines()
    assert sorted(out[:2]) == ["Untagged: busybox:latest", "Untagged: other:tag"]
    assert f"Deleted: {full}" in out


def _add_container(cove: CoveRunner, image: str, running: bool, name: str = "web") -> str:
    """A real container from ``image``: created (not started), or running."""
    if running:
        return cove("run", "-d", "--name", name, image, "sleep", "300").out.strip()
    return cove("create", "--name", name, image).out.strip()


def test_rmi_refuses_while_a_container_uses_the_image(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    full = image_id(cove, "busybox")
    cid = _add_container(cove, "busybox", running=False)
    by_name = cove("rmi", "busybox", check=False)
    assert by_name.rc == 1
    assert f"container {cid[:12]} is using its referenced image {full[7:19]}" in by_name.err
    assert "cove rm web" in by_name.err
    by_id = cove("rmi", full[7:19], check=False)
    assert f"image is being used by stopped container {cid[:12]}" in by_id.err
    assert cove("images", "-q").out.strip() == full[7:19]
    # -f removes the image record, but the container keeps its layers.
    cove("rmi", "-f", "busybox")
    assert cove("images", "-q").out == ""
    engine = cove.engine()
    try:
        keys = {s.key for s in engine.store.snapshotter.all()}
        assert f"container-{cid}" in keys and len(keys) == 2
    finally:
        engine.close()
    # ... and still runs from them.
    assert cove.proc("start", "-a", "web").returncode == 0
    cove("rm", "web")


def test_rmi_cannot_force_past_a_running_container(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = _add_container(cove, "busybox", running=True)
    try:
        forced = cove("rmi", "-f", "busybox", check=False)
        assert forced.rc == 1
        assert f"(cannot be forced) - image is being used by running container {cid[:12]}" in forced.err
        assert cove("images", "-q").out != ""
    finally:
        cove("rm", "-f", "web")


def test_history(cove_busybox: CoveRunner) -> None:
    out = cove_busybox("history", "busybox").out.splitlines()
    assert out[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert "cove image bootstrap busybox" in out[1]
    rows = [
        json.loads(line)
        for line in cove_busybox("image", "history", "--format", "json", "busybox").out.splitlines()
    ]
    assert rows[0]["CreatedBy"].startswith("cove image bootstrap busybox")
    raw = cove_busybox("history", "-H=false", "--format", "{{.Size}}", "busybox").out.strip()
    assert int(raw) > 1_000_000


def test_prune_dangling_and_all(cove_busybox: CoveRunner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cove = cove_busybox
    # A dangling image: import under a name, then move the name away.
    tarball = tmp_path / "root.tar"
    subprocess.run(["tar", "-C", "/etc", "-cf", str(tarball), "hostname"], check=True)
    cove("import", "-q", str(tarball), "thing:1")
    cove("import", "-q", "--change", "ENV X=1", str(tarball), "thing:1")
    assert len(cove("images", "-q", "--filter", "dangling=true").out.split()) == 1
    assert cove("image", "prune", input="n\n").out.endswith("[y/N] ")  # declined: nothing removed
    assert len(cove("images", "-q").out.split()) == 3
    out = cove("image", "prune", "-f").out
    assert "deleted: sha256:" in out and "Total reclaimed space:" in out
    assert len(cove("images", "-q").out.split()) == 2
    _add_container(cove, "busybox", running=False)
    cove("image", "prune", "-a", "-f")
    assert cove("images", "--format", "{{.Repository}}").out == "busybox\n"  # in use: kept


@pytest.mark.slow
def test_system_df_matches_du_and_prune_frees_space(cove_busybox: CoveRunner, debian_tarball) -> None:  # type: ignore[no-untyped-def]
    cove = cove_busybox
    cove("import", "-q", str(debian_tarball), "debian:test")
    rows = [json.loads(line) for line in cove("system", "df", "--format", "json").out.splitlines()]
    assert [r["Type"] for r in rows] == ["Images", "Containers", "Local Volumes", "Build Cache"]
    engine = cove.engine()
    try:
        usage = engine.system.df()
    finally:
        engine.close()
    du = int(
        subprocess.run(["du", "-sB1", str(cove.root)], capture_output=True, check=True).stdout.split()[0]
    )
    images_size = usage.rows[0].size
    assert abs(du - images_size) / du < 0.03, (du, images_size)
    assert usage.rows[0].reclaimable == images_size  # no container uses them
    out = cove("system", "prune", "-a", "-f").out
    assert "Total reclaimed space:" in out
    du_after = int(
        subprocess.run(
            ["du", "-sB1", "--exclude=cove.db.reserve", str(cove.root)], capture_output=True, check=True
        ).stdout.split()[0]
    )
    assert du_after < 1_000_000, du_after  # only the database (and its reserve) and empty directories
    assert cove("images", "-q").out == ""


def test_info_and_version(cove_busybox: CoveRunner) -> None:
    info = cove_busybox("info").out
    assert "Storage Driver: overlayfs" in info and "Images: 1" in info
    assert cove_busybox("info", "--format", "{{.Driver}}").out == "overlayfs\n"
    assert json.loads(cove_busybox("info", "--format", "json").out)["Images"] == 1
    assert "Version:" in cove_busybox("version").out
    assert json.loads(cove_busybox("version", "--format", "json").out)["Server"]["ApiVersion"]


@pytest.mark.parametrize(
    ("args", "rc", "message"),
    [
        (["images", "--bogus"], 125, "unrecognized arguments: --bogus"),
        (["rmi"], 125, "the following arguments are required"),
        (["image", "inspect", "nope:1"], 1, "No such image: nope:1"),
        (["images", "--format", "{{.Nope}}"], 1, "can't evaluate field Nope"),
        (["image", "bootstrap", "alpine"], 1, "cove cannot bootstrap 'alpine'"),
        (["save", "-o", "/nonexistent-dir/x.tar", "busybox"], 1, "its directory does not exist"),
    ],
)
def test_user_mistakes_get_one_line_and_no_traceback(
    cove_busybox: CoveRunner, args: list[str], rc: int, message: str
) -> None:
    proc = cove_busybox.proc(*args, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == rc, err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2
