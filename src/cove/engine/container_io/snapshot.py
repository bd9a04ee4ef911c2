"""What a container changed in its image's files: ``diff``, ``commit`` (a new image of them)
and ``export`` (a tar of its whole filesystem)."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from cove.archive.treetar import TreeTar
from cove.build.changes import apply_changes
from cove.containers.spec import command
from cove.containers.state import Status
from cove.containers.store import ContainerRecord
from cove.engine.container_files import stopped_view
from cove.engine.containers import ContainerService
from cove.errors import Conflict, CoveError
from cove.host.atomic import atomic_output
from cove.images import diff as snapshot_diff
from cove.images.diff import Change
from cove.images.importer import now_rfc3339, store_unpacked
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.oci.image import Descriptor, ImageConfig
from cove.oci.reference import parse_reference


class Snapshots:
    def __init__(self, containers: ContainerService) -> None:
        self.c = containers
        self.store = containers.store

    def _mount_points(self, record: ContainerRecord) -> set[str]:
        """Paths the runtime creates in the container's layer only to mount something there."""
        spec_path = self.c.dir(record.id) / "bundle" / "config.json"
        points = {"etc/hostname", "etc/hosts", "etc/resolv.conf"}
        with contextlib.suppress(OSError, ValueError):
            for mount in json.loads(spec_path.read_text())["mounts"]:
                points.add(mount["destination"].strip("/"))
        return points

    def diff(self, ref: str) -> list[Change]:
        record = self.c.records.resolve(ref)
        return snapshot_diff.changes(self.store.snapshotter, record.snapshot_key, self._mount_points(record))

    def commit(
        self,
        ref: str,
        reference: str | None = None,
        *,
        changes: list[str] | None = None,
        message: str = "",
        author: str = "",
        pause: bool = True,
    ) -> Digest:
        container = self.c.get(ref)
        record = container.record
        paused_here = False
        if pause and container.status.status == Status.RUNNING:
            with contextlib.suppress(CoveError):
                self.c.pause(record.id)
                paused_here = True
        try:
            with self.store.writing():
                return self._commit(record, reference, changes or [], message, author)
        finally:
            if paused_here:
                with contextlib.suppress(CoveError):
                    self.c.unpause(record.id)

    def _layer_tar(self, record: ContainerRecord, out: BinaryIO) -> None:
        snapshot_diff.write_layer(
            self.store.snapshotter, record.snapshot_key, out, self._mount_points(record)
        )

    def _commit(
        self, record: ContainerRecord, reference: str | None, changes: list[str], message: str, author: str
    ) -> Digest:
        content = self.store.content
        images = self.store.images
        try:
            base = images.get(record.image_id)
        except CoveError:
            raise Conflict(
                f"the image of container {record.name} was removed, so it cannot be committed"
            ) from None
        base_config = images.config(base)
        base_manifest = images.manifest(base)
        self.store.tmp_dir.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool:
            self._layer_tar(record, spool)
            spool.seek(0)
            with content.writer() as writer:
                while chunk := spool.read(1 << 20):
                    writer.write(chunk)
                blob = writer.commit(what="layer")  # a plain tar: its digest is its diffID
        image_defaults = dict(base_config.config)
        container_config = apply_changes(self._committed_config(record, image_defaults), changes)
        created = now_rfc3339()
        raw = dict(base_config.raw)
        raw["created"] = created
        raw["config"] = container_config
        raw["rootfs"] = {"type": "layers", "diff_ids": [*map(str, base_config.diff_ids), str(blob)]}
        entry: dict[str, Any] = {
            "created": created,
            "created_by": " ".join(self._command(record, image_defaults)),
        }
        if message:
            entry["comment"] = message
        if author:
            entry["author"] = author
            raw["author"] = author
        raw["history"] = [*base_config.history, entry]
        config = ImageConfig(raw)
        layers = [*base_manifest.layers, Descriptor(mt.OCI_LAYER, blob, writer.size)]
        tags = [parse_reference(reference)] if reference else []
        return store_unpacked(content, images, self.store.unpacker, config, layers, tags=tags).id

    @staticmethod
    def _command(record: ContainerRecord, image: dict[str, Any]) -> list[str]:
        try:
            return command(record.config, image)
        except CoveError:
            return []

    @staticmethod
    def _committed_config(record: ContainerRecord, image: dict[str, Any]) -> dict[str, Any]:
        config = dict(image)
        c = record.config
        env: dict[str, str] = {}
        for item in list(image.get("Env") or []) + list(c.env):
            key, _, value = item.partition("=")
            env[key] = value
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
        if c.entrypoint is not None:
            config["Entrypoint"] = c.entrypoint or None
            config["Cmd"] = c.cmd
        elif c.cmd is not None:
            config["Cmd"] = c.cmd
        if c.workdir:
            config["WorkingDir"] = c.workdir
        if c.user is not None:
            config["User"] = c.user
        if c.labels:
            config["Labels"] = {**(image.get("Labels") or {}), **c.labels}
        return config

    def export(self, ref: str, out: BinaryIO) -> None:
        record = self.c.records.resolve(ref)
        points = self._mount_points(record)
        with stopped_view(self.c, record) as root:
            tar = TreeTar(out)
            tar.add_tree(
                str(root), skip=lambda rel: rel in points and rel.startswith(("proc", "sys", "dev/"))
            )
            tar.close()

    def export_to(self, ref: str, output: Path) -> None:
        """``export -o``: the archive is written under a temporary name and takes ``output``'s
        when whole, so that a failed export leaves no partial file."""
        with atomic_output(output) as tmp, open(tmp, "wb") as f:
            self.export(ref, f)
