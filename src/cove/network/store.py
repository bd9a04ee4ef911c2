"""Network and endpoint records in SQLite.

An endpoint is a container's place on a network: its address (unique per network, by a
database constraint, so two cove processes can never hand out one address twice), MAC
address and aliases. It lives as long as the container does, or until a disconnect.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field

from cove.db.database import Database
from cove.errors import Conflict, NotFound


class NetworkNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"network {ref} not found", hint="`cove network ls` lists the networks")


@dataclass(frozen=True)
class NetworkRecord:
    id: str
    name: str
    driver: str
    bridge: str  # the host's bridge device
    subnet: str
    gateway: str
    ip_range: str
    internal: bool
    created: float
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def user_defined(self) -> bool:
        """Docker's default ``bridge`` network has no name resolution; user networks do."""
        return self.name != "bridge"


@dataclass(frozen=True)
class Endpoint:
    container_id: str
    network_id: str
    ip: str
    mac: str
    aliases: tuple[str, ...]
    position: int  # 0: the container's first network (its default route, eth0)


def _network(row: sqlite3.Row) -> NetworkRecord:
    return NetworkRecord(
        id=row["id"],
        name=row["name"],
        driver=row["driver"],
        bridge=row["bridge"],
        subnet=row["subnet"],
        gateway=row["gateway"],
        ip_range=row["ip_range"],
        internal=bool(row["internal"]),
        created=row["created"],
        labels=json.loads(row["labels"]),
        options=json.loads(row["options"]),
    )


def _endpoint(row: sqlite3.Row) -> Endpoint:
    return Endpoint(
        container_id=row["container_id"],
        network_id=row["network_id"],
        ip=row["ip"],
        mac=row["mac"],
        aliases=tuple(json.loads(row["aliases"])),
        position=row["position"],
    )


class NetworkStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- networks --------------------------------------------------------------------------

    def all(self) -> list[NetworkRecord]:
        return [_network(r) for r in self.db.query("SELECT * FROM networks ORDER BY created")]

    def get(self, ref: str) -> NetworkRecord:
        """By exact name, full ID or unique ID prefix (Docker's lookup order)."""
        row = self.db.query_one("SELECT * FROM networks WHERE name = ? OR id = ?", (ref, ref))
        if row is None and ref:
            rows = self.db.query("SELECT * FROM networks WHERE id >= ? AND id < ?", (ref, ref + "g"))
            if len(rows) > 1:
                raise Conflict(
                    f"network {ref} is ambiguous ({len(rows)} matches)", hint="give more of the ID"
                )
            row = rows[0] if rows else None
        if row is None:
            raise NetworkNotFound(ref)
        return _network(row)

    def find(self, ref: str) -> NetworkRecord | None:
        try:
            return self.get(ref)
        except NetworkNotFound:
            return None

    def add(self, record: NetworkRecord) -> None:
        try:
            self.db.execute(
                "INSERT INTO networks(id, name, driver, bridge, subnet, gateway, ip_range, internal, "
                "labels, options, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.name, record.driver, record.bridge, record.subnet, record.gateway,
                 record.ip_range, int(record.internal), json.dumps(record.labels),
                 json.dumps(record.options), record.created),
            )  # fmt: skip
        except sqlite3.IntegrityError:
            raise Conflict(f"network with name {record.name} already exists") from None

    def remove(self, network_id: str) -> None:
        with self.db.transaction() as tx:
            if tx.execute("SELECT 1 FROM endpoints WHERE network_id = ?", (network_id,)).fetchone():
                raise Conflict("network has active endpoints")
            tx.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    # -- endpoints -------------------------------------------------------------------------

    def endpoints(self, *, container_id: str | None = None, network_id: str | None = None) -> list[Endpoint]:
        where, params = [], []
        if container_id is not None:
            where.append("container_id = ?")
            params.append(container_id)
        if network_id is not None:
            where.append("network_id = ?")
            params.append(network_id)
        sql = "SELECT * FROM endpoints" + (" WHERE " + " AND ".join(where) if where else "")
        return [_endpoint(r) for r in self.db.query(sql + " ORDER BY position, ip", tuple(params))]

    def used_addresses(self, network_id: str) -> list[str]:
        return [
            r["ip"] for r in self.db.query("SELECT ip FROM endpoints WHERE network_id = ?", (network_id,))
        ]

    def add_endpoint(self, endpoint: Endpoint) -> None:
        try:
            self.db.execute(
                "INSERT INTO endpoints(container_id, network_id, ip, mac, aliases, position) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (endpoint.container_id, endpoint.network_id, endpoint.ip, endpoint.mac,
                 json.dumps(list(endpoint.aliases)), endpoint.position),
            )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            if "endpoints.ip" in str(exc) or "network_id, ip" in str(exc):
                raise Conflict(f"address {endpoint.ip} is already in use") from None
            raise Conflict("the container is already connected to the network") from None

    def remove_endpoint(self, container_id: str, network_id: str) -> None:
        self.db.execute(
            "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?", (container_id, network_id)
        )

    def next_position(self, container_id: str) -> int:
        row = self.db.query_one(
            "SELECT COALESCE(MAX(position), -1) + 1 AS n FROM endpoints WHERE container_id = ?",
            (container_id,),
        )
        return int(row["n"]) if row is not None else 0


def new_record(
    network_id: str,
    name: str,
    bridge: str,
    subnet: str,
    gateway: str,
    ip_range: str,
    *,
    internal: bool = False,
    labels: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
) -> NetworkRecord:
    return NetworkRecord(
        id=network_id, name=name, driver="bridge", bridge=bridge, subnet=subnet, gateway=gateway,
        ip_range=ip_range, internal=internal, created=time.time(), labels=labels or {}, options=options or {},
    )  # fmt: skip
