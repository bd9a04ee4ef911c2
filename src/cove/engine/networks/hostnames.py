"""The names a store gives its objects on the host, and their release by those names alone.

The default store (``/var/lib/cove``) has bridge ``cove0`` and nftables table ``cove``; any
other root adds a short hash of its path to both, so that stores with different roots live
side by side (the tests run many). User networks' bridges are ``cove-<id>`` and container
namespaces ``cove-<container id>``, unique anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cove.config import DEFAULT_ROOT
from cove.host.netfilter import Iptables, Netfilter, chain_prefix
from cove.host.netlink import NetHost
from cove.host.runner import Runner
from cove.host.seam import Host, LinuxHost

# Held while a network picks its subnet and makes its bridge: every store on the host shares
# it (``Host.host_lock``; /run/lock/cove-networks.lock on Linux).
HOST_NETWORKS_LOCK = "cove-networks"


@dataclass(frozen=True)
class HostNames:
    """The names a store gives its objects on the host, from its root alone (so that what a
    store made can be found, and released, even without its records)."""

    tag: str  # "" for the default root, else a short hash of the root's path

    @classmethod
    def of(cls, root: Path) -> HostNames:
        return cls("" if root == DEFAULT_ROOT else hashlib.sha256(str(root).encode()).hexdigest()[:6])

    @property
    def default_bridge(self) -> str:
        return f"cove0{self.tag}"

    @property
    def filter_table(self) -> str:
        return f"cove{'_' + self.tag if self.tag else ''}"

    @property
    def chain_prefix(self) -> str:
        return chain_prefix(self.filter_table)

    def netns(self, container_id: str) -> str:
        return netns_name(self.tag, container_id)


def netns_name(tag: str, container_id: str) -> str:
    """A container's namespace: the store's prefix (``cove-``, or ``cove<tag>-``), then its ID."""
    return f"cove{tag}-{container_id[:12]}"


def veth_name(container_id: str, network_id: str) -> str:
    """The host's end of a container's link to a network (unique per pair, 11 characters)."""
    return "veth" + hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()[:7]


def release_host_objects(
    names: HostNames, runtime_dir: Path, runner: Runner, bridges: Sequence[str] = (), host: Host | None = None
) -> None:
    """Remove what a store made on the host, found by its names: its containers' namespaces,
    links left on its bridges (its default one, and ``bridges``), the bridges, its rules and
    its DNS server (``runtime_dir``'s). Nothing of another store's or engine's is touched.
    For a store being thrown away, with or without its records (the tests' cleanup)."""
    from cove.engine.networks.dns import stop_dns_server

    host = host or LinuxHost()
    net = NetHost(runner, host)
    prefix = names.netns("")
    for name in host.netns_names():
        if name.startswith(prefix):
            net.delete_netns(name)
    every = {*bridges, names.default_bridge}
    for link in host.links_on(every):
        net.delete_link(link)
    for bridge in sorted(every):
        net.delete_link(bridge)
    Netfilter(runner, host.has_tool).remove(names.filter_table)
    Iptables(runner, host.has_tool).remove(names.chain_prefix)
    stop_dns_server(host, runtime_dir / "dns" / "dns.lock")
