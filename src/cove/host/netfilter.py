"""The host's packet filter: cove's own nftables table, replaced whole in one transaction.

cove writes only its own table (``ip cove``; other stores on the host have their own).
Each change renders the whole table from the store and loads it with one `nft -f -`: the
"create, delete, define" idiom swaps old for new atomically, so the rules never sit
half-written and never drift from the store. Rules that others wrote (Docker's, podman's,
the administrator's) are never touched, except one jump that cove adds at the top of the
iptables FORWARD chain when that chain drops by default (Docker leaves it so): a packet
dropped by any base chain stays dropped, so an accept in cove's table alone would not let
its containers' traffic through.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable

from cove.host.runner import CommandFailed, Runner


def on_path(name: str) -> bool:
    return shutil.which(name) is not None


def chain_prefix(table: str) -> str:
    """The iptables name of cove's chains for an nftables table name: cove_ab12 -> COVE-AB12."""
    return table.upper().replace("_", "-")


class Netfilter:
    """``has_tool`` tells which programs the host has (the Host seam's, in the engine)."""

    def __init__(self, runner: Runner, has_tool: Callable[[str], bool] = on_path) -> None:
        self.runner = runner
        self.has_tool = has_tool

    def load(self, table: str, body: str) -> None:
        """Replace ``table`` with ``body`` (the table's chains)."""
        script = f"table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n{body}}}\n"
        self.runner.run(["nft", "-f", "-"], input=script.encode())

    def remove(self, table: str) -> None:
        with contextlib.suppress(CommandFailed):  # not there
            self.runner.run(["nft", "delete", "table", "ip", table])
        self.forward_accept(table, [])

    def listing(self, table: str) -> str:
        try:
            return self.runner.run(["nft", "list", "table", "ip", table]).stdout.decode()
        except CommandFailed:
            return ""

    # -- hosts where the iptables FORWARD chain drops by default -------------------------------

    def _iptables(self, *args: str, check: bool = True) -> str:
        try:
            return self.runner.run(["iptables", "-w", *args]).stdout.decode()
        except CommandFailed:
            if check:
                raise
            return ""

    def forward_drops(self) -> bool:
        return self.has_tool("iptables") and "-P FORWARD DROP" in self._iptables("-S", "FORWARD", check=False)

    def forward_accept(self, table: str, bridges: list[str]) -> None:
        """Let traffic from and to ``bridges`` through an iptables FORWARD chain that drops by
        default (cove's table still filters it): a chain of cove's own, jumped to first;
        gone again when there is nothing to let through."""
        if not self.has_tool("iptables"):
            return
        chain = chain_prefix(table) + "-FORWARD"
        jump = f"-A FORWARD -j {chain}"
        rules = self._iptables("-S", check=False)  # one look at the whole filter table
        has_chain = f"-N {chain}" in rules.splitlines()
        drops = "-P FORWARD DROP" in rules
        if not bridges or not drops:
            if has_chain:
                while jump in self._iptables("-S", "FORWARD").splitlines():
                    self._iptables("-D", "FORWARD", "-j", chain)
                self._iptables("-F", chain)
                self._iptables("-X", chain)
            return
        if not has_chain:
            self._iptables("-N", chain)
        self._iptables("-F", chain)
        for bridge in bridges:
            self._iptables("-A", chain, "-i", bridge, "-j", "ACCEPT")
            self._iptables("-A", chain, "-o", bridge, "-j", "ACCEPT")
        forward = self._iptables("-S", "FORWARD").splitlines()
        if len(forward) < 2 or forward[1] != jump:
            while jump in self._iptables("-S", "FORWARD").splitlines():
                self._iptables("-D", "FORWARD", "-j", chain)
            self._iptables("-I", "FORWARD", "1", "-j", chain)


class Iptables:
    """cove's rules in chains of its own (``PREFIX-FORWARD``, ``-POSTROUTING``, ``-PORTS``),
    for hosts without nftables: filled with one ``iptables-restore --noflush`` (atomic per
    table), entered by one jump each from the built-in chains."""

    JUMPS = (
        ("filter", "FORWARD", "-FORWARD", ()),
        ("nat", "POSTROUTING", "-POSTROUTING", ()),
        ("nat", "PREROUTING", "-PORTS", ("-m", "addrtype", "--dst-type", "LOCAL")),
        ("nat", "OUTPUT", "-PORTS", ("-m", "addrtype", "--dst-type", "LOCAL")),
    )

    def __init__(self, runner: Runner, has_tool: Callable[[str], bool] = on_path) -> None:
        self.runner = runner
        self.has_tool = has_tool

    def _run(self, *args: str) -> bool:
        try:
            self.runner.run(["iptables", "-w", *args])
        except CommandFailed:
            return False
        return True

    def load(self, prefix: str, rules: str) -> None:
        self.runner.run(["iptables-restore", "-w", "--noflush"], input=rules.encode())
        for table, chain, suffix, match in self.JUMPS:
            target = ("-j", prefix + suffix)
            if not self._run("-t", table, "-C", chain, *match, *target):
                self._run("-t", table, "-I", chain, "1", *match, *target)

    def remove(self, prefix: str) -> None:
        for table, chain, suffix, match in self.JUMPS:
            while self._run("-t", table, "-D", chain, *match, "-j", prefix + suffix):
                pass
        for table, suffix in (("filter", "-FORWARD"), ("nat", "-POSTROUTING"), ("nat", "-PORTS")):
            if self._run("-t", table, "-F", prefix + suffix):
                self._run("-t", table, "-X", prefix + suffix)
