"""Links, addresses, routes and network namespaces, through iproute2's `ip`.

Each change is one `ip -batch -` run (a process start, then netlink at kernel speed), so
wiring a container costs two processes whatever the number of steps. Namespaces are
named ones (`/run/netns/NAME`, as `ip netns` and podman keep them): the runtime joins one
by that path, and `ip -n NAME` works in it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from cove.host.runner import CommandFailed, Runner

NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")


def link_exists(name: str) -> bool:
    return (SYS_NET / name).exists()


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


class NetHost:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def batch(self, commands: Sequence[str], *, netns: str | None = None) -> None:
        if not commands:
            return
        argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
        self.runner.run(argv, input=("\n".join(commands) + "\n").encode())

    # -- bridges ---------------------------------------------------------------------------

    def ensure_bridge(self, name: str, address: str) -> None:
        """A bridge with ``address`` (gateway/prefix) that is up; made when missing."""
        commands = []
        if not link_exists(name):
            commands.append(f"link add name {name} type bridge")
        commands += [f"addr replace {address} dev {name}", f"link set {name} up"]
        self.batch(commands)

    def delete_link(self, name: str) -> None:
        if link_exists(name):
            try:
                self.batch([f"link delete {name}"])
            except CommandFailed:
                if link_exists(name):
                    raise

    # -- namespaces ------------------------------------------------------------------------

    def add_netns(self, name: str) -> Path:
        """A new network namespace (its loopback up); an existing one is made anew."""
        if netns_path(name).exists():
            self.delete_netns(name)
        self.runner.run(["ip", "netns", "add", name])
        self.batch(["link set lo up"], netns=name)
        return netns_path(name)

    def delete_netns(self, name: str) -> None:
        """Remove a namespace (its veths go with it); nothing when it is not there."""
        path = netns_path(name)
        if not path.exists():
            return
        try:
            self.runner.run(["ip", "netns", "delete", name])
        except CommandFailed:
            if path.exists():  # not a mount point any more: a file left by a crash
                os.unlink(path)

    # -- endpoints -------------------------------------------------------------------------

    def add_veth(
        self,
        netns: str,
        *,
        host_name: str,
        bridge: str,
        inner_name: str,
        address: str,
        mac: str,
        gateway: str | None,
    ) -> None:
        """A veth pair: one end on ``bridge``, the other in ``netns`` as ``inner_name`` with
        ``address`` (ip/prefix), and the default route through ``gateway`` when given."""
        if link_exists(host_name):
            self.delete_link(host_name)
        temporary = f"tmp{host_name[4:]}"  # renamed inside, where eth0 cannot clash with the host's
        self.batch([
            f"link add name {host_name} type veth peer name {temporary} netns {netns}",
            f"link set {host_name} master {bridge}",
            f"link set {host_name} up",
        ])  # fmt: skip
        inner = [
            f"link set {temporary} name {inner_name}",
            f"link set {inner_name} address {mac}",
            f"addr add {address} dev {inner_name}",
            f"link set {inner_name} up",
        ]
        if gateway:
            inner.append(f"route replace default via {gateway} dev {inner_name}")
        self.batch(inner, netns=netns)

    def remove_link_in(self, netns: str, name: str) -> None:
        with contextlib.suppress(CommandFailed):  # already gone
            self.batch([f"link delete {name}"], netns=netns)


def write_sysctl(path: str, value: str) -> None:
    """Set ``/proc/sys/PATH`` when it differs (a write even of the same value may cost)."""
    full = Path("/proc/sys") / path
    if full.read_text().strip() != value:
        full.write_text(value + "\n")
