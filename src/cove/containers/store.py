"""Container records in SQLite: identity, name, image, snapshot and the options it was made with."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cove.containers.names import random_name
from cove.db.database import Database
from cove.errors import Conflict, InvalidArgument, NotFound

if TYPE_CHECKING:
    from cove.containers.model import ContainerConfig

_HEX = re.compile(r"^[a-f0-9]{1,64}$")


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    name: str
    image_id: str
    image_ref: str
    snapshot_key: str
    created: float
    config: ContainerConfig
    runtime: str


class ContainerNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such container: {ref}", hint="`cove ps -a` lists the containers")


def _record(row: sqlite3.Row) -> ContainerRecord:
    return ContainerRecord(
        id=row["id"],
        name=row["name"],
        image_id=row["image_id"],
        image_ref=row["image_ref"],
        snapshot_key=row["snapshot_key"],
        created=row["created"],
        config=_config(row["config"]),
        runtime=row["runtime"],
    )


class ContainerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[ContainerRecord]:
        return [_record(r) for r in self.db.query("SELECT * FROM containers ORDER BY created DESC")]

    def get(self, container_id: str) -> ContainerRecord:
        row = self.db.query_one("SELECT * FROM containers WHERE id = ?", (container_id,))
        if row is None:
            raise ContainerNotFound(container_id)
        return _record(row)

    def resolve(self, ref: str) -> ContainerRecord:
        """By full ID, name (with or without a leading slash), or unique ID prefix, as Docker does."""
        if not ref:
            raise InvalidArgument("empty container name or ID")
        row = self.db.query_one("SELECT * FROM containers WHERE id = ? OR name = ?", (ref, ref.lstrip("/")))
        if row is not None:
            return _record(row)
        if _HEX.match(ref):
            rows = self.db.query("SELECT * FROM containers WHERE id >= ? AND id < ?", (ref, ref + "g"))
            if len(rows) > 1:
                raise InvalidArgument(f"multiple containers found with provided prefix: {ref}")
            if rows:
                return _record(rows[0])
        raise ContainerNotFound(ref)

    def add(self, record: ContainerRecord, *, pick_name: bool) -> ContainerRecord:
        """Insert; with ``pick_name`` a free random name is chosen (the record's is ignored)."""
        for attempt in range(100):
            name = record.name
            if pick_name:
                name = random_name() if attempt < 50 else f"{random_name()}_{attempt}"
            try:
                with self.db.transaction() as tx:
                    tx.execute(
                        "INSERT INTO containers(id, name, image_id, image_ref, snapshot_key, created, "
                        "config, runtime) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (record.id, name, record.image_id, record.image_ref, record.snapshot_key,
                         record.created or time.time(), json.dumps(record.config.to_json()), record.runtime),
                    )  # fmt: skip
            except sqlite3.IntegrityError:
                if not pick_name:
                    owner = self.db.query_one("SELECT id FROM containers WHERE name = ?", (name,))
                    who = owner["id"] if owner else "another container"
                    raise Conflict(
                        f'the container name "/{name}" is already in use by container "{who}"',
                        hint="remove (or rename) that container to reuse the name",
                    ) from None
                continue
            return self.get(record.id)
        raise Conflict("could not find a free container name")

    def ids(self) -> set[str]:
        return {r["id"] for r in self.db.query("SELECT id FROM containers")}

    def snapshot_keys(self) -> set[str]:
        """The keys of the containers' writable snapshots (what the garbage collector keeps)."""
        return {r["snapshot_key"] for r in self.db.query("SELECT snapshot_key FROM containers")}

    def image_counts(self) -> dict[str, int]:
        """How many containers (in any state) each image ID has."""
        rows = self.db.query("SELECT image_id, COUNT(*) AS n FROM containers GROUP BY image_id")
        return {r["image_id"]: int(r["n"]) for r in rows}

    def of_image(self, image_id: str) -> list[tuple[str, str]]:
        """(container ID, name) of every container created from ``image_id``, oldest first."""
        rows = self.db.query(
            "SELECT id, name FROM containers WHERE image_id = ? ORDER BY created", (image_id,)
        )
        return [(r["id"], r["name"]) for r in rows]

    def rename(self, container_id: str, new_name: str) -> None:
        try:
            self.db.execute("UPDATE containers SET name = ? WHERE id = ?", (new_name, container_id))
        except sqlite3.IntegrityError:
            raise Conflict(f'the container name "/{new_name}" is already in use') from None

    def update_config(self, container_id: str, config: ContainerConfig) -> None:
        self.db.execute(
            "UPDATE containers SET config = ? WHERE id = ?", (json.dumps(config.to_json()), container_id)
        )

    def delete(self, container_id: str) -> None:
        # Durable: the container's files are removed next, and must not outlive their record.
        with self.db.transaction(durable=True) as tx:
            tx.execute("DELETE FROM containers WHERE id = ?", (container_id,))


def _config(text: str) -> ContainerConfig:
    # The options' model (many dataclasses) loads when a record is read: counting an image's
    # containers, as `cove images` does, needs none of it.
    from cove.containers.model import ContainerConfig  # noqa: PLC0415

    return ContainerConfig.from_json(json.loads(text))
