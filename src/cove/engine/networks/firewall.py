"""Firewall rule sync: cove's table (nftables) or chains (iptables), rendered whole from the
networks in use and loaded in one go, so that the rules never drift from the store."""

from __future__ import annotations

from collections.abc import Callable

from cove.engine.networks.hostnames import HostNames
from cove.engine.networks.ports import PortBindings
from cove.host.netfilter import Iptables, Netfilter
from cove.host.runner import Runner
from cove.host.seam import Host
from cove.network.rules import BridgeNet, render, render_iptables
from cove.network.store import NetworkStore


def choose_firewall(wanted: str, host: Host) -> str | None:
    """nftables where there is nft (or when asked for), else iptables; None when neither."""
    nft = host.has_tool("nft")
    iptables = host.has_tool("iptables-restore")  # what Iptables loads its chains with
    if wanted == "iptables":
        return "iptables" if iptables else None
    if wanted == "nftables" or nft:
        return "nftables" if nft else None
    return "iptables" if iptables else None


class Firewall:
    def __init__(
        self, kind: str | None, names: HostNames, runner: Runner, host: Host, records: NetworkStore,
        ports: PortBindings, wired: Callable[[str], bool],
    ) -> None:  # fmt: skip
        self.kind = kind  # "nftables", "iptables", or None: the host has neither
        self.names = names
        self.host = host
        self.records = records
        self.ports = ports
        self.wired = wired
        self.nft = Netfilter(runner, host.has_tool)
        self.iptables = Iptables(runner, host.has_tool)

    def sync(self) -> None:
        """Render cove's table from the networks in use: with a bridge up and a container wired
        to it (caller holds the store's network lock). No network in use, no table."""
        endpoints = self.records.endpoints()
        wired = {e.network_id for e in endpoints if self.wired(e.container_id)}
        nets = [
            BridgeNet(n.bridge, n.subnet, n.internal)
            for n in self.records.all()
            if n.id in wired and self.host.link_exists(n.bridge)
        ]
        prefix, table = self.names.chain_prefix, self.names.filter_table
        if self.kind == "iptables":
            if nets:
                self.iptables.load(prefix, render_iptables(prefix, nets, self.ports.rules()))
            else:
                self.iptables.remove(prefix)
            return
        if not nets:
            self.nft.remove(table)
            return
        self.nft.load(table, render(nets, self.ports.rules()))
        self.nft.forward_accept(table, [n.bridge for n in nets if not n.internal])
