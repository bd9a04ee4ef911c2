"""Links, addresses, routes and network namespaces, through iproute2's `ip`.

Each change is one `ip -batch -` run (a process start, then netlink at kernel speed), so
wiring a container costs two processes whatever the number of steps. Namespaces are
named ones (`/run/netns/NAME`, as `ip netns` and podman keep them): the runtime joins one
by that path, and `ip -n NAME` works in it.

:class:`NetHost` changes the host only through its Runner (the `ip` input) and asks the
host's facts (links, namespaces) of a :class:`~cove.host.seam.Host`, so that what it does
is unit-tested with recording fakes. The module's functions are those facts, read for real
(``LinuxHost`` calls them).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cove.host.runner import CommandFailed, Runner

if TYPE_CHECKING:
    from cove.host.seam import Host

NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")


def link_exists(name: str) -> bool:
    return (SYS_NET / name).exists()


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def remove_netns_file(name: str) -> None:
    """Remove ``/run/netns/NAME`` when it is a plain file (left by a crash), not a mount."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(netns_path(name))


def netns_names() -> list[str]:
    """The named network namespaces on the host."""
    try:
        return sorted(entry.name for entry in os.scandir(NETNS_DIR))
    except FileNotFoundError:
        return []


def links_on(bridges: Iterable[str]) -> list[str]:
    """The host's links that are ports of one of ``bridges``."""
    wanted = set(bridges)
    found = []
    for entry in os.scandir(SYS_NET):
        with contextlib.suppress(OSError):
            if os.path.basename(os.readlink(f"{entry.path}/master")) in wanted:
                found.append(entry.name)
    return sorted(found)


class NetHost:
    def __init__(self, runner: Runner, host: Host) -> None:
        self.runner = runner
        self.host = host

    def batch(self, commands: Sequence[str], *, netns: str | None = None) -> None:
        if not commands:
            return
        argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
        self.runner.run(argv, input=("\n".join(commands) + "\n").encode())

    # -- bridges ---------------------------------------------------------------------------

    def bridge_commands(self, name: str, address: str, mac: str) -> list[str]:
        """What makes a bridge with ``address`` (gateway/prefix) up; nothing when it is.

        The bridge gets a MAC address of its own: by default a bridge takes the lowest of its
        ports', so it would change when a container goes, and the others' ARP caches would
        point at a gateway that is no more."""
        exists = self.host.link_exists(name)
        if exists and self.host.link_is_up(name):
            return []  # cove made it, with its address
        commands = [] if exists else [f"link add name {name} address {mac} type bridge"]
        return [*commands, f"addr replace {address} dev {name}", f"link set {name} up"]

    def ensure_bridge(self, name: str, address: str, mac: str) -> None:
        self.batch(self.bridge_commands(name, address, mac))

    def delete_link(self, name: str) -> None:
        if self.host.link_exists(name):
            try:
                self.batch([f"link delete {name}"])
            except CommandFailed:
                if self.host.link_exists(name):
                    raise

    # -- routes ----------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str]]:
        """The host's IPv4 routes as (target, device): target a subnet or ``default``, device
        "" when the route names none."""
        found = []
        for route in self.runner.run(["ip", "-4", "route", "show"]).stdout.decode().splitlines():
            words = route.split()
            if not words:
                continue
            device = words[words.index("dev") + 1] if "dev" in words[:-1] else ""
            found.append((words[0], device))
        return found

    # -- namespaces ------------------------------------------------------------------------

    def create_sandbox(
        self, name: str, veths: Sequence[Veth], bridges: Sequence[tuple[str, str, str]]
    ) -> Path:
        """A new network namespace ``name`` (an old one is replaced) with loopback up and a
        veth pair per ``veths``; ``bridges`` (name, address, MAC) are made first where missing.
        Two `ip` runs in all: one for the host's side, one inside."""
        # The old links first, one by one: a namespace's own go away asynchronously after it.
        for veth in veths:
            self.delete_link(veth.host_name)
        if self.host.netns_exists(name):
            self.delete_netns(name)
        host = [command for bridge in bridges for command in self.bridge_commands(*bridge)]
        host.append(f"netns add {name}")
        inner = ["link set lo up"]
        for veth in veths:
            host += veth.host_commands(name)
            inner += veth.inner_commands()
        self.batch(host)
        self.batch(inner, netns=name)
        return netns_path(name)

    def delete_netns(self, name: str) -> None:
        """Remove a namespace (its veths go with it); nothing when it is not there."""
        if not self.host.netns_exists(name):
            return
        try:
            self.runner.run(["ip", "netns", "delete", name])
        except CommandFailed:
            if self.host.netns_exists(name):  # not a mount point any more: a file left by a crash
                self.host.remove_netns_file(name)

    # -- endpoints -------------------------------------------------------------------------

    def add_veth(self, netns: str, veth: Veth) -> None:
        """One more veth pair into an existing namespace (a running container's)."""
        self.delete_link(veth.host_name)
        self.batch(veth.host_commands(netns))
        self.batch(veth.inner_commands(), netns=netns)

    def remove_link_in(self, netns: str, name: str) -> None:
        with contextlib.suppress(CommandFailed):  # already gone
            self.batch([f"link delete {name}"], netns=netns)


@dataclass(frozen=True)
class Veth:
    """A veth pair: ``host_name`` on ``bridge``; ``inner_name`` in the namespace with
    ``address`` (ip/prefix), ``mac``, and the default route through ``gateway`` if given."""

    host_name: str
    bridge: str
    inner_name: str
    address: str
    mac: str
    gateway: str | None

    @property
    def _temporary(self) -> str:
        return f"tmp{self.host_name[4:]}"  # renamed inside, where eth0 cannot clash with the host's

    def host_commands(self, netns: str) -> list[str]:
        return [
            f"link add name {self.host_name} type veth peer name {self._temporary} netns {netns}",
            f"link set {self.host_name} master {self.bridge}",
            f"link set {self.host_name} up",
        ]

    def inner_commands(self) -> list[str]:
        commands = [
            f"link set {self._temporary} name {self.inner_name}",
            f"link set {self.inner_name} address {self.mac}",
            f"addr add {self.address} dev {self.inner_name}",
            f"link set {self.inner_name} up",
        ]
        if self.gateway:
            commands.append(f"route replace default via {self.gateway} dev {self.inner_name}")
        return commands


def link_is_up(name: str) -> bool:
    try:
        return bool(int((SYS_NET / name / "flags").read_text(), 16) & 0x1)  # IFF_UP
    except (OSError, ValueError):
        return False


def write_sysctl(path: str, value: str) -> None:
    """Set ``/proc/sys/PATH`` when it differs (a write even of the same value may cost)."""
    full = Path("/proc/sys") / path
    if full.read_text().strip() != value:
        full.write_text(value + "\n")


def port_free(protocol: str, host_ip: str, port: int) -> bool:
    """Can something bind ``host_ip:port`` right now? (Bound and released at once.)"""
    import socket  # noqa: PLC0415 - only when a port is published (every command opens the host seam)

    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            sock.bind((host_ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


def udp_listening(gateways: Iterable[str]) -> bool:
    """Does something listen on UDP port 53 of every one of ``gateways``? (/proc/net/udp)"""
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return True
    bound = {line.split()[1] for line in lines}
    import socket  # noqa: PLC0415 - as above

    return all(f"{socket.inet_aton(g)[::-1].hex().upper()}:0035" in bound for g in gateways)


def host_nameservers(path: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The host's resolvers (loopback ones too: the DNS server runs in the host's namespace)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        words = line.split()
        if len(words) > 1 and words[0] == "nameserver":
            try:
                if isinstance(ipaddress.ip_address(words[1]), ipaddress.IPv4Address):
                    found.append(words[1])
            except ValueError:
                continue
    return found
