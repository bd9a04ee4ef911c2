"""NetworkService: one front for the network parts, with the method names the engine calls.

Each job is a part of its own: :class:`~.records.Networks` (network records),
:class:`~.addresses.Addresses` (subnets and endpoint addresses), :class:`~.wiring.Wiring`
(namespaces and links), :class:`~.ports.PortBindings`, :class:`~.firewall.Firewall` (the
rules) and :class:`~.dns.DnsPublisher` (names). They reach the host only through the
store's Runner (``ip``, ``nft``, ``iptables``) and its Host seam (links, namespaces,
sysctls, ports, processes), so a recording fake of both sees everything they do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cove.engine.filters import filter_networks
from cove.engine.networks.addresses import Addresses
from cove.engine.networks.dns import DnsPublisher
from cove.engine.networks.firewall import Firewall, choose_firewall
from cove.engine.networks.hostnames import HostNames, release_host_objects
from cove.engine.networks.model import Attachment, StoreLock
from cove.engine.networks.ports import PortBindings
from cove.engine.networks.records import Networks
from cove.engine.networks.wiring import Wiring
from cove.engine.store import Store
from cove.engine.types import PruneReport
from cove.host.netlink import NetHost
from cove.network.ports import Binding, PortSpec
from cove.network.store import Endpoint, NetworkRecord, NetworkStore


class NetworkService:
    def __init__(self, store: Store, container_names: Callable[[str], str] | None = None) -> None:
        self.store = store
        self.records = NetworkStore(store.db)
        self.names = HostNames.of(store.root)
        self.filter_table = self.names.filter_table
        self.chain_prefix = self.names.chain_prefix
        self.default_bridge = self.names.default_bridge
        self.container_name = container_names or (lambda cid: cid[:12])
        self.lock = StoreLock(store.root)
        self.net = NetHost(store.runner, store.host)
        self.firewall = choose_firewall(store.config.firewall, store.host)
        host, lock = store.host, self.lock
        self.addresses = Addresses(self.records, self.net, lock, self.get)
        self.dns = DnsPublisher(
            store.config.runtime_dir / "dns", store.root / "containers", store.db, self.records, host
        )
        self.wiring = Wiring(
            self.records, self.names, host, self.net, lock, self.addresses, self.get, self.firewall,
            self._sync_rules, self.dns.publish, self.container_name,
        )  # fmt: skip
        self.ports = PortBindings(store.root / "containers", self.records, host, lock, self.wiring.wired)
        self.rules = Firewall(
            self.firewall, self.names, store.runner, host, self.records, self.ports, self.wiring.wired
        )
        self.networks = Networks(
            self.records, self.names, host, self.net, lock, self.addresses, self._sync_rules,
            self.container_name,
        )  # fmt: skip

    def netns_name(self, container_id: str) -> str:
        return self.names.netns(container_id)

    def wired(self, container_id: str) -> bool:
        """Has the container its network namespace now (asked of the Host seam)?"""
        return self.wiring.wired(container_id)

    def _sync_rules(self) -> None:
        self.rules.sync()

    # -- networks ------------------------------------------------------------------------------

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
        return self.networks.create(
            name, driver=driver, subnet=subnet, gateway=gateway, ip_range=ip_range, internal=internal,
            labels=labels, options=options,
        )  # fmt: skip

    def default(self) -> NetworkRecord:
        return self.networks.default()

    def get(self, ref: str) -> NetworkRecord:
        return self.networks.get(ref)

    def all(self) -> list[NetworkRecord]:
        return self.networks.all()

    def endpoints(self, network: NetworkRecord) -> list[Endpoint]:
        return self.networks.endpoints(network)

    def remove(self, ref: str) -> NetworkRecord:
        return self.networks.remove(ref)

    def list_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[NetworkRecord]:
        """``network ls``, with Docker's filters."""
        return filter_networks(self.all(), filters or {}, lambda n: bool(self.endpoints(n)))

    def prune(self, filters: Mapping[str, list[str]] | None = None) -> PruneReport:
        return PruneReport(networks=tuple(self.networks.prune(filters)))

    # -- endpoints of containers ---------------------------------------------------------------

    def plan(self, container_id: str, mode: str, attachments: Sequence[Attachment]) -> None:
        self.wiring.plan(container_id, mode, attachments)

    def wire(self, container_id: str) -> Path | None:
        return self.wiring.wire(container_id)

    def unwire(self, container_id: str, *, forget: bool = False) -> None:
        self.wiring.unwire(container_id, forget=forget)

    def connect(
        self, network_ref: str, container_id: str, *, aliases: Sequence[str] = (), ip: str | None = None,
        running: bool = False,
    ) -> Endpoint:  # fmt: skip
        return self.wiring.connect(network_ref, container_id, aliases=aliases, ip=ip, running=running)

    def disconnect(self, network_ref: str, container_id: str, *, running: bool = False) -> None:
        self.wiring.disconnect(network_ref, container_id, running=running)

    # -- published ports and names -------------------------------------------------------------

    def bindings(self, container_id: str) -> list[Binding]:
        return self.ports.bindings(container_id)

    def bind_ports(self, container_id: str, specs: Sequence[PortSpec]) -> list[Binding]:
        return self.ports.bind(container_id, specs)

    def publish_names(self) -> None:
        """Rewrite the DNS server's records from the store, and start the server if needed."""
        self.dns.publish()

    # -- the host --------------------------------------------------------------------------------

    def release_host(self) -> None:
        """Remove everything this store made on the host, recorded or not (see
        :func:`release_host_objects`), its user networks' bridges included."""
        with self.lock():
            bridges = [n.bridge for n in self.records.all()]
            release_host_objects(
                self.names, self.store.config.runtime_dir, self.store.runner, bridges, self.store.host
            )
