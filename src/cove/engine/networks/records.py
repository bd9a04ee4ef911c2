"""Network records: create (the subnet claimed by the bridge that routes it), remove, look up,
list, the default ``bridge`` network made on first use, and prune."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Mapping

from cove.engine.filters import networks_to_prune
from cove.engine.networks.addresses import Addresses, mac_for
from cove.engine.networks.hostnames import HOST_NETWORKS_LOCK, HostNames
from cove.engine.networks.model import DEFAULT_NETWORK, PREDEFINED, StoreLock
from cove.errors import Conflict, CoveError, InvalidArgument
from cove.host.netlink import NetHost
from cove.host.seam import Host
from cove.network import ipam
from cove.network.store import Endpoint, NetworkRecord, NetworkStore, new_record

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


class Networks:
    def __init__(
        self, records: NetworkStore, names: HostNames, host: Host, net: NetHost, lock: StoreLock,
        addresses: Addresses, sync_rules: Callable[[], None], container_name: Callable[[str], str],
    ) -> None:  # fmt: skip
        self.records = records
        self.names = names
        self.host = host
        self.net = net
        self.lock = lock
        self.addresses = addresses
        self.sync_rules = sync_rules  # the host's rules after a network goes (lock held)
        self.container_name = container_name

    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str | None = None,
        gateway: str | None = None,
        ip_range: str | None = None,
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> NetworkRecord:
        if driver != "bridge":
            raise InvalidArgument(
                f"network driver {driver!r} is not supported", hint="use bridge (the default)"
            )
        if name in PREDEFINED and name != DEFAULT_NETWORK:
            raise Conflict(f"{name} is a pre-defined network and cannot be created")
        _check_name(name)
        options = dict(options or {})
        # The subnet is claimed on the host at once, by the bridge that routes it, under a lock
        # every store on the host takes: so two stores (or engines) never pick the same one.
        with self.lock(), self.host.host_lock(HOST_NETWORKS_LOCK):
            if self.records.find(name) is not None and self.records.get(name).name == name:
                raise Conflict(f"network with name {name} already exists")
            network_id = secrets.token_hex(32)
            if name == DEFAULT_NETWORK:
                bridge = self.names.default_bridge
            else:
                bridge = options.get(BRIDGE_NAME_OPTION) or f"cove-{network_id[:10]}"
            if len(bridge) > 15 or not bridge.replace("-", "").replace("_", "").isalnum():
                raise InvalidArgument(f"invalid bridge name {bridge!r}: up to 15 letters, digits, - or _")
            if any(n.bridge == bridge for n in self.records.all()):
                raise Conflict(f"bridge {bridge} already exists on this host")
            if self.host.link_exists(bridge):
                if bridge != self.names.default_bridge:
                    raise Conflict(f"bridge {bridge} already exists on this host")
                # Named after this store's root and not in its records: left by a store that was
                # at this root before (removed without its networks). Ours to take back.
                self.net.delete_link(bridge)
            net = self.addresses.choose_subnet(subnet)
            gw = ipam.gateway_for(net, gateway)
            pool = ipam.range_within(net, ip_range)
            record = new_record(
                network_id, name, bridge, str(net), str(gw), str(pool),
                internal=internal, labels=dict(labels or {}), options=options,
            )  # fmt: skip
            self.records.add(record)
            try:
                self.net.ensure_bridge(bridge, f"{gw}/{net.prefixlen}", mac_for(str(gw)))
            except BaseException as exc:
                # The host's bridge goes first: a record left (a full disk fails its removal)
                # is found again, a bridge without a record would block the name for good.
                with contextlib.suppress(CoveError):
                    self.net.delete_link(bridge)
                try:
                    self.records.remove(record.id)
                except CoveError as again:
                    exc.add_note(f"while removing the network's record: {again}")
                raise
        return record

    def default(self) -> NetworkRecord:
        """The ``bridge`` network, made on first use."""
        found = self.records.find(DEFAULT_NETWORK)
        if found is not None and found.name == DEFAULT_NETWORK:
            return found
        try:
            return self.create(DEFAULT_NETWORK)
        except Conflict:
            return self.records.get(DEFAULT_NETWORK)

    def get(self, ref: str) -> NetworkRecord:
        if ref == DEFAULT_NETWORK:
            return self.default()
        return self.records.get(ref)

    def all(self) -> list[NetworkRecord]:
        self.default()
        return self.records.all()

    def endpoints(self, network: NetworkRecord) -> list[Endpoint]:
        return self.records.endpoints(network_id=network.id)

    def remove(self, ref: str) -> NetworkRecord:
        if ref in PREDEFINED:
            raise Conflict(f"{ref} is a pre-defined network and cannot be removed")
        with self.lock():
            record = self.records.get(ref)
            users = self.records.endpoints(network_id=record.id)
            if users:
                names = ", ".join(self.container_name(e.container_id) for e in users)
                raise Conflict(
                    f"error while removing network: network {record.name} id {record.id} has active endpoints"
                    f" ({names})",
                    hint="remove those containers, or disconnect them (cove network disconnect)",
                )
            self.records.remove(record.id)
            self.net.delete_link(record.bridge)
            self.sync_rules()
        return record

    def prune(self, filters: Mapping[str, list[str]] | None = None) -> list[str]:
        """The user-defined networks no container is on (with Docker's prune filters); one that
        a container joined meanwhile is left, not an error."""
        removed = []
        unused = networks_to_prune(
            self.records.all(), filters or {}, lambda n: bool(self.records.endpoints(network_id=n.id))
        )
        for record in unused:
            if record.name in PREDEFINED:
                continue
            try:
                self.remove(record.id)
            except Conflict:
                continue
            removed.append(record.name)
        return removed


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise InvalidArgument(
            f"invalid network name {name!r}",
            hint="use letters, digits, '_', '.' and '-', starting with one of the first two",
        )
