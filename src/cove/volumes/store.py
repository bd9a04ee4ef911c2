"""Volume records (SQLite) and their data directories."""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from cove.db.database import Database
from cove.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from cove.host.trees import OnFailure, remove_quietly, remove_tree

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
LOCAL = "local"


@dataclass(frozen=True)
class Volume:
    name: str
    driver: str
    mountpoint: Path
    created: float
    anonymous: bool
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)


class VolumeNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no such volume: {name}", hint="`cove volume ls` lists the volumes")


class VolumeStore:
    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.db = db
        self.root.mkdir(parents=True, exist_ok=True)

    def data_dir(self, name: str) -> Path:
        return self.root / name / "_data"

    def _volume(self, r: sqlite3.Row) -> Volume:
        return Volume(
            name=r["name"],
            driver=r["driver"],
            mountpoint=self.data_dir(r["name"]),
            created=r["created"],
            anonymous=bool(r["anonymous"]),
            labels=json.loads(r["labels"]),
            options=json.loads(r["options"]),
        )

    def get(self, name: str) -> Volume:
        row = self.db.query_one("SELECT * FROM volumes WHERE name = ?", (name,))
        if row is None:
            raise VolumeNotFound(name)
        return self._volume(row)

    def find(self, name: str) -> Volume | None:
        row = self.db.query_one("SELECT * FROM volumes WHERE name = ?", (name,))
        return None if row is None else self._volume(row)

    def all(self) -> list[Volume]:
        return [self._volume(r) for r in self.db.query("SELECT * FROM volumes ORDER BY created")]

    def create(
        self,
        name: str | None = None,
        *,
        driver: str = LOCAL,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        exist_ok: bool = True,
    ) -> Volume:
        anonymous = name is None
        name = name or secrets.token_hex(32)
        if not NAME_RE.match(name):
            raise InvalidArgument(
                f"invalid volume name {name!r}",
                hint="use letters, digits, '_', '.' and '-', starting alphanumeric",
            )
        if driver != LOCAL:
            raise InvalidArgument(f"unknown volume driver {driver!r}", hint="cove has the local driver")
        existing = self.find(name)
        if existing is not None:
            if exist_ok:
                return existing
            raise AlreadyExists(f"volume {name} already exists")
        self.data_dir(name).mkdir(parents=True, exist_ok=True)
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO volumes(name, driver, labels, options, anonymous, created) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
                (
                    name,
                    driver,
                    json.dumps(labels or {}),
                    json.dumps(options or {}),
                    int(anonymous),
                    time.time(),
                ),
            )
        return self.get(name)

    def users(self, name: str) -> list[str]:
        rows = self.db.query("SELECT DISTINCT container_id FROM container_volumes WHERE volume = ?", (name,))
        return [r["container_id"] for r in rows]

    def remove(self, name: str, *, force: bool = False) -> None:
        self.get(name)
        users = self.users(name)
        if users and not force:
            raise Conflict(
                f"remove {name}: volume is in use - [{', '.join(u for u in users)}]",
                hint="remove the containers that use it first",
            )
        with self.db.transaction(durable=True) as tx:  # the data goes next: the row first, for good
            tx.execute("DELETE FROM container_volumes WHERE volume = ?", (name,))
            tx.execute("DELETE FROM volumes WHERE name = ?", (name,))
        target = self.root / name
        if target.exists():
            trash = self.root / f".trash-{name}-{secrets.token_hex(4)}"
            target.rename(trash)
            remove_quietly(trash)  # what cannot go now, the store's cleanup retries and reports

    def attach(self, container_id: str, name: str, destination: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO container_volumes(container_id, volume, destination) VALUES (?, ?, ?)",
            (container_id, name, destination),
        )

    def of_container(self, container_id: str) -> list[tuple[str, str]]:
        rows = self.db.query(
            "SELECT volume, destination FROM container_volumes WHERE container_id = ?", (container_id,)
        )
        return [(r["volume"], r["destination"]) for r in rows]

    def clean_leftovers(self, failed: OnFailure) -> None:
        for entry in os.scandir(self.root):
            if entry.name.startswith(".trash-"):
                try:
                    remove_tree(entry.path)
                except OSError as exc:
                    failed(Path(entry.path), exc)
