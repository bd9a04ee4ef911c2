"""Namespace wiring: a container's network namespace, a veth pair to each of its networks'
bridges with its address and routes, made at start and taken apart at removal; links added
to and removed from a running container (network connect and disconnect)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from cove.engine.networks.addresses import Addresses, mac_for, prefix_of
from cove.engine.networks.hostnames import HostNames, veth_name
from cove.engine.networks.model import INTERNAL_ONLY_MODES, Attachment, StoreLock
from cove.errors import Conflict, FailedPrecondition
from cove.host.netlink import NetHost, Veth
from cove.host.seam import Host
from cove.network.store import Endpoint, NetworkRecord, NetworkStore


class Wiring:
    def __init__(
        self, records: NetworkStore, names: HostNames, host: Host, net: NetHost, lock: StoreLock,
        addresses: Addresses, network: Callable[[str], NetworkRecord], firewall: str | None,
        sync_rules: Callable[[], None], publish_names: Callable[[], None],
        container_name: Callable[[str], str],
    ) -> None:  # fmt: skip
        self.records = records
        self.names = names
        self.host = host
        self.net = net
        self.lock = lock
        self.addresses = addresses
        self.network = network
        self.firewall = firewall
        self.sync_rules = sync_rules  # the host's rules from the store (lock held)
        self.publish_names = publish_names  # the DNS server's records from the store
        self.container_name = container_name

    def wired(self, container_id: str) -> bool:
        """Has the container its namespace now (started, not yet unwired)?"""
        return self.host.netns_exists(self.names.netns(container_id))

    def plan(self, container_id: str, mode: str, attachments: Sequence[Attachment]) -> None:
        """Take addresses for a new container on the networks it asks for (at create)."""
        if mode in INTERNAL_ONLY_MODES or mode.startswith("container:"):
            return
        wanted = list(attachments) or [Attachment(mode)]
        for attachment in wanted:
            self.addresses.add_endpoint(container_id, attachment)

    def wire(self, container_id: str) -> Path | None:
        """Make the container's namespace and links (at start); None when it has no endpoints."""
        endpoints = self.records.endpoints(container_id=container_id)
        if not endpoints:
            return None
        if self.firewall is None:
            raise FailedPrecondition(
                "bridge networks need nftables (nft) or iptables, and this host has neither",
                hint="install nftables (apt install nftables), or run with --network host or none",
            )
        name = self.names.netns(container_id)
        with self.lock():
            self.host.write_sysctl("net/ipv4/ip_forward", "1")
            veths, bridges = [], {}
            named = False  # on a user-defined network: its DNS server must learn the name
            for endpoint in endpoints:
                network = self.records.get(endpoint.network_id)
                named = named or network.user_defined
                if not self.host.link_exists(network.bridge):  # gone since (a reboot): subnet still free?
                    self.addresses.check_still_free(network)
                veths.append(self._veth(network, endpoint))
                bridges[network.bridge] = (
                    network.bridge,
                    f"{network.gateway}/{prefix_of(network)}",
                    mac_for(network.gateway),
                )
            self.net.create_sandbox(name, veths, list(bridges.values()))
            for bridge in bridges:
                # Published ports answer on 127.0.0.1 too: DNAT'ed loopback packets may use the bridge.
                self.host.write_sysctl(f"net/ipv4/conf/{bridge}/route_localnet", "1")
            self.sync_rules()
            if named:
                self.publish_names()
        return self.host.netns_path(name)

    def _veth(self, network: NetworkRecord, endpoint: Endpoint) -> Veth:
        return Veth(
            host_name=veth_name(endpoint.container_id, network.id),
            bridge=network.bridge,
            inner_name=f"eth{endpoint.position}",
            address=f"{endpoint.ip}/{prefix_of(network)}",
            mac=endpoint.mac,
            gateway=network.gateway if endpoint.position == 0 and not network.internal else None,
        )

    def _wire_one(self, netns: str, endpoint: Endpoint) -> None:
        """A link into a running container's namespace (network connect)."""
        network = self.records.get(endpoint.network_id)
        self.net.ensure_bridge(
            network.bridge, f"{network.gateway}/{prefix_of(network)}", mac_for(network.gateway)
        )
        self.host.write_sysctl(f"net/ipv4/conf/{network.bridge}/route_localnet", "1")
        self.net.add_veth(netns, self._veth(network, endpoint))

    def unwire(self, container_id: str, *, forget: bool = False) -> None:
        """Remove the container's namespace (its veths go with it); ``forget`` frees its addresses."""
        with self.lock():
            self.net.delete_netns(self.names.netns(container_id))
            endpoints = self.records.endpoints(container_id=container_id)
            if forget:
                for endpoint in endpoints:
                    self.records.remove_endpoint(container_id, endpoint.network_id)
            self.sync_rules()
            if any(self.records.get(e.network_id).user_defined for e in endpoints):
                self.publish_names()

    def connect(
        self, network_ref: str, container_id: str, *, aliases: Sequence[str] = (), ip: str | None = None,
        running: bool = False,
    ) -> Endpoint:  # fmt: skip
        network = self.network(network_ref)
        if any(e.network_id == network.id for e in self.records.endpoints(container_id=container_id)):
            name = self.container_name(container_id)
            raise Conflict(f"endpoint with name {name} already exists in network {network.name}")
        endpoint = self.addresses.add_endpoint(container_id, Attachment(network.id, tuple(aliases), ip))
        if running and self.wired(container_id):
            with self.lock():
                self._wire_one(self.names.netns(container_id), endpoint)
                self.sync_rules()
        self.publish_names()
        return endpoint

    def disconnect(self, network_ref: str, container_id: str, *, running: bool = False) -> None:
        network = self.network(network_ref)
        found = [e for e in self.records.endpoints(container_id=container_id) if e.network_id == network.id]
        if not found:
            raise FailedPrecondition(
                f"container {self.container_name(container_id)} is not connected to network {network.name}"
            )
        with self.lock():
            if running and self.wired(container_id):
                self.net.remove_link_in(self.names.netns(container_id), f"eth{found[0].position}")
            self.records.remove_endpoint(container_id, network.id)
            self.sync_rules()
            self.publish_names()
