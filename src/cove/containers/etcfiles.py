"""The /etc/hosts, /etc/hostname and /etc/resolv.conf cove writes for each container."""

from __future__ import annotations

import ipaddress
from pathlib import Path

LOCALHOST_HOSTS = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""


def hosts_file(
    extra_hosts: list[tuple[str, str]], host_network: bool, host_hosts: Path = Path("/etc/hosts")
) -> str:
    """``extra_hosts`` are (name, address) pairs from --add-host."""
    if host_network:
        try:
            text = host_hosts.read_text()
        except OSError:
            text = LOCALHOST_HOSTS
    else:
        text = LOCALHOST_HOSTS
    if not text.endswith("\n"):
        text += "\n"
    return text + "".join(f"{address}\t{name}\n" for name, address in extra_hosts)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolv_conf(
    *,
    host_network: bool,
    dns: list[str],
    dns_search: list[str],
    dns_options: list[str] | None = None,
    host_resolv: Path = Path("/etc/resolv.conf"),
) -> str:
    """The host's resolver settings, without loopback servers a private namespace cannot reach;
    ``dns`` / ``dns_search`` / ``dns_options`` replace the host's servers, search list and
    options lines, as Docker's do."""
    try:
        lines = host_resolv.read_text().splitlines()
    except OSError:
        lines = []
    nameservers: list[str] = []
    search: list[str] = []
    other: list[str] = []
    for line in lines:
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            if host_network or not _loopback(words[1]):
                nameservers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        else:
            other.append(line)
    if dns:
        nameservers = list(dns)
    if dns_search:
        search = [] if dns_search == ["."] else list(dns_search)
    out = [f"nameserver {ns}" for ns in nameservers]
    if search:
        out.append("search " + " ".join(search))
    if dns_options:
        other = [line for line in other if line.split()[0] != "options"]
        other.append("options " + " ".join(dns_options))
    out += other
    return "\n".join(out) + "\n" if out else ""
