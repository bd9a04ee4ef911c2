"""cove's packet filter rules, rendered from the store (pure: records in, nft text out).

Per network (bridge ``br``, subnet ``net``):

- forward: traffic between two containers of one network passes; into a network from
  elsewhere only answers (established) and published ports (DNAT'ed); out of a network
  anywhere, unless the network is internal (then nothing in or out); between two
  networks nothing (Docker's isolation).
- postrouting: masquerade what leaves a non-internal network for the outside; what a
  published port brought in from the host's loopback (127/8 cannot travel on a bridge
  unmasked); and hairpin connections (a container reaching a published port of its own
  network through a host address).
- prerouting/output: published ports, for packets to the host's own addresses
  (``fib daddr type local``), optionally only one host address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BridgeNet:
    bridge: str
    subnet: str
    internal: bool


@dataclass(frozen=True)
class PortRule:
    protocol: str  # tcp or udp
    host_ip: str  # "" for every host address
    host_port: int
    container_ip: str
    container_port: int


def render(networks: Sequence[BridgeNet], ports: Sequence[PortRule]) -> str:
    forward = [
        "\t\ttype filter hook forward priority filter; policy accept;",
    ]
    post = ["\t\ttype nat hook postrouting priority srcnat; policy accept;"]
    bridges = [n.bridge for n in networks]
    for net in networks:
        br = f'"{net.bridge}"'
        forward.append(f"\t\tiifname {br} oifname {br} accept")
        if net.internal:
            forward.append(f"\t\tiifname {br} drop")
            forward.append(f"\t\toifname {br} drop")
            continue
        forward.append(f"\t\toifname {br} ct state established,related accept")
        forward.append(f"\t\toifname {br} ct status dnat accept")
        others = [f'"{b}"' for b in bridges if b != net.bridge]
        if others:
            forward.append(f"\t\tiifname {br} oifname {{ {', '.join(others)} }} drop")
        forward.append(f"\t\toifname {br} drop")
        post.append(f"\t\tip saddr {net.subnet} oifname != {br} masquerade")
        post.append(f"\t\tip saddr 127.0.0.0/8 oifname {br} masquerade")
        post.append(f"\t\tip saddr {net.subnet} ip daddr {net.subnet} ct status dnat masquerade")
    ports_chain = []
    for rule in ports:
        match = f"ip daddr {rule.host_ip} " if rule.host_ip else ""
        ports_chain.append(
            f"\t\t{match}{rule.protocol} dport {rule.host_port} "
            f"dnat to {rule.container_ip}:{rule.container_port}"
        )
    chains = [
        ("forward", forward),
        ("postrouting", post),
        ("prerouting", ["\t\ttype nat hook prerouting priority dstnat; policy accept;",
                        "\t\tfib daddr type local jump ports"]),
        ("output", ["\t\ttype nat hook output priority -100; policy accept;",
                    "\t\tfib daddr type local jump ports"]),
        ("ports", ports_chain),
    ]  # fmt: skip
    out = []
    for name, lines in chains:
        out.append(f"\tchain {name} {{\n" + "".join(line + "\n" for line in lines) + "\t}\n")
    return "".join(out)


def render_iptables(prefix: str, networks: Sequence[BridgeNet], ports: Sequence[PortRule]) -> str:
    """The same rules for hosts without nftables: ``iptables-restore --noflush`` input that
    (re)fills cove's own chains ``PREFIX-FORWARD``, ``PREFIX-POSTROUTING`` and ``PREFIX-PORTS``."""
    forward, post, nat_ports = f"{prefix}-FORWARD", f"{prefix}-POSTROUTING", f"{prefix}-PORTS"
    bridges = [n.bridge for n in networks]
    filt = [f":{forward} - [0:0]"]
    nat = [f":{post} - [0:0]", f":{nat_ports} - [0:0]"]
    for net in networks:
        br = net.bridge
        filt.append(f"-A {forward} -i {br} -o {br} -j ACCEPT")
        if net.internal:
            filt.append(f"-A {forward} -i {br} -j DROP")
            filt.append(f"-A {forward} -o {br} -j DROP")
            continue
        filt.append(f"-A {forward} -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        filt.append(f"-A {forward} -o {br} -m conntrack --ctstate DNAT -j ACCEPT")
        for other in bridges:
            if other != br:
                filt.append(f"-A {forward} -i {br} -o {other} -j DROP")
        filt.append(f"-A {forward} -o {br} -j DROP")
        filt.append(f"-A {forward} -i {br} -j ACCEPT")
        nat.append(f"-A {post} -s {net.subnet} ! -o {br} -j MASQUERADE")
        nat.append(f"-A {post} -s 127.0.0.0/8 -o {br} -j MASQUERADE")
        nat.append(f"-A {post} -s {net.subnet} -d {net.subnet} -m conntrack --ctstate DNAT -j MASQUERADE")
    for rule in ports:
        match = f"-d {rule.host_ip} " if rule.host_ip else ""
        nat.append(
            f"-A {nat_ports} {match}-p {rule.protocol} -m {rule.protocol} --dport {rule.host_port} "
            f"-j DNAT --to-destination {rule.container_ip}:{rule.container_port}"
        )
    return "*filter\n" + "\n".join(filt) + "\nCOMMIT\n*nat\n" + "\n".join(nat) + "\nCOMMIT\n"
