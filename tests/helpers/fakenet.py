"""A recording Runner that plays a very small kernel for the network service's unit tests.

It records every command (as :class:`~tests.helpers.fakehost.RecordingRunner` does), and
applies what the `ip` input says of links and namespaces to a
:class:`~tests.helpers.fakehost.RecordingHost`'s tables (a bridge made, a veth put on it, a
namespace added or deleted with its veths), so that a later step sees the host that the
earlier ones made. It also notes, per command, whether the host-wide network lock was held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cove.engine.networks.hostnames import HOST_NETWORKS_LOCK
from cove.host.runner import RunResult
from tests.helpers.fakehost import RecordingHost, RecordingRunner


@dataclass
class KernelRunner(RecordingRunner):
    """Records each command, whether the host-wide network lock was held then, and applies
    the `ip` input's link and namespace changes to the fake host's tables."""

    host: RecordingHost = field(default_factory=RecordingHost)
    under_host_lock: list[bool] = field(default_factory=list)
    veths_into: dict[str, list[str]] = field(default_factory=dict)  # namespace -> host ends

    def __post_init__(self) -> None:
        for table in ("filter", "nat"):  # no jump of cove's in the host's chains to delete
            self.results[("iptables", "-w", "-t", table, "-D")] = (1, b"", b"Bad rule")

    def run(
        self, argv: Sequence[str], *, input: bytes | None = None, check: bool = True, **kw: object
    ) -> RunResult:
        self.under_host_lock.append(HOST_NETWORKS_LOCK in self.host.locks_held)
        result = super().run(argv, input=input, check=check)
        command = tuple(argv)
        if command[:3] == ("ip", "netns", "delete"):
            self._drop_netns(command[3])
        elif command[0] == "ip" and "-batch" in command and "-n" not in command:
            for line in (input or b"").decode().splitlines():
                self._apply(line.split())
        return result

    def _apply(self, words: list[str]) -> None:
        host = self.host
        if words[:3] == ["link", "add", "name"] and "bridge" in words:
            host.links[words[3]] = False
        elif words[:3] == ["link", "add", "name"] and "veth" in words:
            host.links[words[3]] = False
            self.veths_into.setdefault(words[-1], []).append(words[3])
        elif words[:2] == ["link", "set"] and words[3:] == ["up"]:
            host.links[words[2]] = True
        elif words[:2] == ["link", "set"] and words[3:4] == ["master"]:
            host.masters[words[2]] = words[4]
        elif words[:2] == ["link", "delete"]:
            host.links.pop(words[2], None)
            host.masters.pop(words[2], None)
            for port in [p for p, master in host.masters.items() if master == words[2]]:
                del host.masters[port]
        elif words[:2] == ["netns", "add"]:
            host.netns.add(words[2])

    def _drop_netns(self, name: str) -> None:
        # A namespace's veths go with it: the host's ends of those made into it.
        self.host.netns.discard(name)
        for link in self.veths_into.pop(name, []):
            self.host.links.pop(link, None)
            self.host.masters.pop(link, None)

    # -- what the tests read -------------------------------------------------------------------

    def batches(self, netns: str | None = None) -> list[str]:
        """Every line of the `ip -batch` input run on the host (or in ``netns``)."""
        lines = []
        for command, data in zip(self.commands, self.inputs, strict=True):
            if command[0] != "ip" or "-batch" not in command:
                continue
            inside = command[2] if command[1] == "-n" else None
            if inside == netns:
                lines += (data or b"").decode().splitlines()
        return lines

    def input_of(self, *prefix: str) -> list[str]:
        """The inputs of the commands that start with ``prefix``, in order."""
        return [
            (data or b"").decode()
            for command, data in zip(self.commands, self.inputs, strict=True)
            if command[: len(prefix)] == prefix
        ]

    def clear(self) -> None:
        self.commands.clear()
        self.inputs.clear()
        self.under_host_lock.clear()
