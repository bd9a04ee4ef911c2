"""The one filter module (volumes, networks, labels), the volume service's prune, and the one
renderer of every prune's report."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.cli.prune import render_prune
from cove.db.database import Database
from cove.engine.filters import (
    filter_networks,
    filter_volumes,
    label_filters_match,
    labels_match,
    networks_to_prune,
)
from cove.engine.types import PruneReport
from cove.engine.volumes import VolumeService
from cove.errors import InvalidArgument
from cove.network.store import NetworkRecord
from cove.volumes.store import VolumeStore


def _network(name: str, labels: dict[str, str] | None = None) -> NetworkRecord:
    return NetworkRecord(
        id=name.encode().hex().ljust(64, "0"),
        name=name,
        driver="bridge",
        bridge="br-" + name,
        subnet="172.20.0.0/16",
        gateway="172.20.0.1",
        ip_range="172.20.0.0/16",
        internal=False,
        created=0.0,
        labels=labels or {},
    )


def test_labels_match_keys_and_values() -> None:
    labels = {"a": "1", "b": ""}
    assert labels_match(labels, ["a"])
    assert labels_match(labels, ["a=1", "b"])
    assert labels_match(labels, ["b="])
    assert not labels_match(labels, ["a=2"])
    assert not labels_match(labels, ["c"])
    assert not labels_match(labels, ["a", "c"])  # all of them


def test_label_and_not_label() -> None:
    labels = {"tier": "web", "keep": ""}
    assert label_filters_match(labels, {})
    assert label_filters_match(labels, {"label": ["tier=web"], "label!": ["tier=db"]})
    assert not label_filters_match(labels, {"label!": ["keep"]})
    assert not label_filters_match(labels, {"label!": ["other", "tier=web"]})  # any of them excludes


def test_networks_to_prune() -> None:
    old, new = _network("old", {"tier": "web"}), _network("new")
    new = NetworkRecord(**{**new.__dict__, "created": 2e9})
    networks = [_network("bridge"), old, new, _network("busy")]

    def names(filters: dict[str, list[str]]) -> list[str]:
        return [n.name for n in networks_to_prune(networks, filters, lambda n: n.name == "busy")]

    assert names({}) == ["old", "new"]  # never the built-in one, nor one in use
    assert names({"until": ["1000000000"]}) == ["old"]
    assert names({"label!": ["tier"]}) == ["new"]
    with pytest.raises(InvalidArgument):
        names({"dangling": ["true"]})


def test_network_filters() -> None:
    networks = [_network("bridge"), _network("front", {"tier": "web"}), _network("back")]
    used = {"back"}

    def names(filters: dict[str, list[str]]) -> list[str]:
        return [n.name for n in filter_networks(networks, filters, lambda n: n.name in used)]

    assert names({"label": ["tier=web"]}) == ["front"]
    assert names({"type": ["builtin"]}) == ["bridge"]
    assert names({"dangling": ["true"]}) == ["front"]  # the built-in network is never dangling
    assert names({"dangling": ["false"]}) == ["bridge", "back"]
    assert names({"name": ["ro"], "id": [networks[1].id[:6]]}) == ["front"]
    with pytest.raises(InvalidArgument):
        names({"dangling": ["maybe"]})
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        names({"colour": ["red"]})


@pytest.fixture
def volumes(tmp_path: Path) -> Iterator[VolumeService]:
    db = Database(tmp_path / "cove.db")
    yield VolumeService(VolumeStore(tmp_path / "volumes", db))
    db.close()


def test_volume_filters(volumes: VolumeService) -> None:
    volumes.create("data", labels={"keep": "yes"})
    volumes.create("cache")
    all_ = volumes.store.all()
    in_use = {"data"}
    assert [v.name for v in filter_volumes(all_, {"label": ["keep"]}, in_use.__contains__)] == ["data"]
    assert [v.name for v in filter_volumes(all_, {"dangling": ["1"]}, in_use.__contains__)] == ["cache"]
    assert [v.name for v in volumes.list_volumes({"name": ["ach"]})] == ["cache"]
    with pytest.raises(InvalidArgument):
        volumes.list_volumes({"until": ["1h"]})


def test_volume_prune_takes_anonymous_unless_all(volumes: VolumeService) -> None:
    named = volumes.create("named")
    anonymous = volumes.create(None)
    (anonymous.mountpoint / "file").write_bytes(b"x" * 10000)
    report = volumes.prune()
    assert report.volumes == (anonymous.name,)
    assert report.space_reclaimed is not None and report.space_reclaimed >= 10000
    assert [v.name for v in volumes.store.all()] == [named.name]
    assert volumes.prune(filters={"label!": ["x"], "all": ["true"]}).volumes == ("named",)
    assert volumes.store.all() == []


def test_volume_prune_leaves_volumes_in_use_and_filtered_out(volumes: VolumeService, tmp_path: Path) -> None:
    volumes.create("used")
    volumes.create("labelled", labels={"tier": "db"})
    volumes.create("other")
    volumes.store.db.execute(
        "INSERT INTO containers(id, name, image_id, image_ref, snapshot_key, created) "
        "VALUES ('c1', 'one', 'i', 'busybox', 'k', 0)"
    )
    volumes.store.attach("c1", "used", "/data")
    assert volumes.prune(all=True, filters={"label": ["tier=db"]}).volumes == ("labelled",)
    with pytest.raises(InvalidArgument):
        volumes.prune(filters={"dangling": ["true"]})  # not one of prune's filters, as in Docker
    assert volumes.prune(all=True).volumes == ("other",)
    assert [v.name for v in volumes.store.all()] == ["used"]


def test_reports_add_up() -> None:
    total = PruneReport(containers=("c",), space_reclaimed=5) + PruneReport(networks=("n",))
    assert total == PruneReport(containers=("c",), networks=("n",), space_reclaimed=5)
    assert (PruneReport(networks=("a",)) + PruneReport(networks=("b",))).space_reclaimed is None


def _rendered(report: PruneReport) -> str:
    out = io.StringIO()
    render_prune(report, out)
    return out.getvalue()


def test_render_prune_as_docker() -> None:
    assert _rendered(PruneReport(networks=("front",))) == "Deleted Networks:\nfront\n"
    assert _rendered(PruneReport(space_reclaimed=0)) == "Total reclaimed space: 0B\n"
    report = PruneReport(
        containers=("c1",),
        untagged=("busybox:latest",),
        images=("sha256:ab",),
        build_cache=("k1",),
        space_reclaimed=2048,
    )
    assert _rendered(report) == (
        "Deleted Containers:\nc1\n\n"
        "Deleted Images:\nuntagged: busybox:latest\ndeleted: sha256:ab\n\n"
        "Deleted build cache objects:\nk1\n\n"
        "Total reclaimed space: 2.05kB\n"
    )
