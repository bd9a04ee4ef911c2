"""Address management: subnets for new networks, addresses for endpoints (pure logic).

A network's subnet comes from Docker's default pools (172.17-31.0.0/16, then
192.168.0.0/16 in /20s) unless given, skipping any that overlap a host route or another
network. An endpoint's address is the lowest free one of the network's range, never the
network address, the broadcast address or the gateway.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

from cove.errors import Conflict, InvalidArgument

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address


def default_pools() -> Iterator[Net]:
    for second in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{second}.0.0/16")
    yield from ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def parse_subnet(text: str) -> Net:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(
            f"invalid subnet {text!r}", hint="use CIDR notation, e.g. 172.28.0.0/16"
        ) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidArgument(f"subnet {text}: only IPv4 subnets are supported")
    if str(net) != text.strip():
        raise InvalidArgument(f"invalid subnet {text}: did you mean {net}?")
    if net.prefixlen > 30:
        raise InvalidArgument(f"subnet {text} is too small: it needs room for a gateway and a container")
    return net


def parse_address(text: str, what: str = "address") -> Addr:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text!r}") from None


def pick_subnet(taken: Iterable[Net]) -> Net:
    """The first default pool that overlaps nothing already in use."""
    used = list(taken)
    for pool in default_pools():
        if not any(pool.overlaps(other) for other in used):
            return pool
    raise Conflict(
        "all predefined address pools have been fully subnetted",
        hint="give the network a --subnet, or remove unused networks (cove network prune)",
    )


def check_free(subnet: Net, taken: Iterable[tuple[str, Net]]) -> None:
    for name, other in taken:
        if subnet.overlaps(other):
            raise Conflict(f"subnet {subnet} overlaps {other} ({name})", hint="choose another --subnet")


def gateway_for(subnet: Net, given: str | None) -> Addr:
    if given:
        gateway = parse_address(given, "gateway")
        if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
            raise InvalidArgument(f"gateway {gateway} is not a host address of subnet {subnet}")
        return gateway
    return subnet.network_address + 1


def range_within(subnet: Net, text: str | None) -> Net:
    if not text:
        return subnet
    pool = parse_subnet(text) if "/" in text else None
    if pool is None or not pool.subnet_of(subnet):
        raise InvalidArgument(f"ip range {text} is not a subnet of {subnet}")
    return pool


def allocate(subnet: Net, pool: Net, gateway: Addr, used: Iterable[str], wanted: str | None = None) -> Addr:
    """An address for a new endpoint: ``wanted`` if given and free, else the lowest free one."""
    taken = {ipaddress.IPv4Address(u) for u in used} | {gateway}
    reserved = {subnet.network_address, subnet.broadcast_address}
    if wanted:
        address = parse_address(wanted, "IP address")
        if address not in subnet or address in reserved:
            raise InvalidArgument(f"address {address} is not a host address of subnet {subnet}")
        if address in taken:
            raise Conflict(f"address {address} is already in use", hint="choose another --ip, or none")
        return address
    for address in pool.hosts() if pool.prefixlen < 31 else pool:
        if address not in taken and address not in reserved:
            return address
    raise Conflict(
        f"no free addresses left in {pool}", hint="remove containers from the network, or use a bigger one"
    )
