"""Address choice: a new network's subnet (past what the store and the host's routes hold) and
an endpoint's address on its network, glue over the pure logic of ``network/ipam.py``."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from cove.engine.networks.model import DEFAULT_NETWORK, Attachment, StoreLock
from cove.errors import Conflict, InvalidArgument
from cove.host.netlink import NetHost
from cove.network import ipam
from cove.network.store import Endpoint, NetworkRecord, NetworkStore

Taken = list[tuple[str, ipaddress.IPv4Network]]  # (what holds it, the subnet)


def mac_for(address: str) -> str:
    """Docker's scheme: 02:42 and the IPv4 address's bytes."""
    octets = ipaddress.IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in octets)


def prefix_of(network: NetworkRecord) -> int:
    return ipaddress.IPv4Network(network.subnet).prefixlen


class Addresses:
    def __init__(
        self, records: NetworkStore, net: NetHost, lock: StoreLock, network: Callable[[str], NetworkRecord]
    ) -> None:
        self.records = records
        self.net = net
        self.lock = lock
        self.network = network  # a network by reference (the default one made on first use)

    def host_routes(self, *, besides: str | None = None) -> Taken:
        """The subnets the host routes (other than through the link ``besides``)."""
        taken = []
        for target, device in self.net.routes():
            if target != "default" and (besides is None or device != besides):
                try:
                    taken.append((f"host route {target}", ipaddress.IPv4Network(target, strict=False)))
                except ValueError:
                    continue
        return taken

    def taken_subnets(self) -> Taken:
        taken = [(n.name, ipaddress.IPv4Network(n.subnet)) for n in self.records.all()]
        return taken + self.host_routes()

    def choose_subnet(self, subnet: str | None) -> ipaddress.IPv4Network:
        """The given subnet if it is free, else the first free one of Docker's pools (the
        caller holds the host-wide lock until the bridge routes it)."""
        taken = self.taken_subnets()
        if subnet:
            net = ipam.parse_subnet(subnet)
            ipam.check_free(net, taken)
            return net
        return ipam.pick_subnet(t for _, t in taken)

    def check_still_free(self, network: NetworkRecord) -> None:
        """A network whose bridge is gone (a reboot): does the host route its subnet otherwise now?"""
        subnet = ipaddress.IPv4Network(network.subnet)
        for what, other in self.host_routes(besides=network.bridge):
            if subnet.overlaps(other):
                raise Conflict(
                    f"network {network.name}'s subnet {subnet} is in use on this host now ({what})",
                    hint=f"remove the network and create it again (cove network rm {network.name}), "
                    "or free that subnet",
                )

    def add_endpoint(self, container_id: str, attachment: Attachment) -> Endpoint:
        """Take an address for the container on the attachment's network, and record it."""
        network = self.network(attachment.network)
        if attachment.ip and network.name == DEFAULT_NETWORK:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if attachment.aliases and network.name == DEFAULT_NETWORK:
            raise InvalidArgument("network-scoped aliases are supported for user-defined networks only")
        with self.lock():
            subnet = ipaddress.IPv4Network(network.subnet)
            address = ipam.allocate(
                subnet,
                ipaddress.IPv4Network(network.ip_range),
                ipaddress.IPv4Address(network.gateway),
                self.records.used_addresses(network.id),
                attachment.ip,
            )
            endpoint = Endpoint(
                container_id=container_id,
                network_id=network.id,
                ip=str(address),
                mac=attachment.mac or mac_for(str(address)),
                aliases=tuple(attachment.aliases),
                position=self.records.next_position(container_id),
            )
            self.records.add_endpoint(endpoint)
        return endpoint
