"""Published ports: Docker's ``-p`` syntax, and free host ports (pure logic).

``-p [ip:][hostPort:]containerPort[/tcp|udp]``, where either port may be a range
(``8000-8009:80-89``, ``8000-8009:80``: any one of those host ports); a missing or empty
host port means a free one, picked at start.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cove.errors import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")
EPHEMERAL = (32768, 60999)  # Linux's default ip_local_port_range, where Docker picks too


@dataclass(frozen=True)
class PortSpec:
    """One container port to publish."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""  # "": every address
    host_port: int = 0  # 0: a free one (within host_port_end when a range is given)
    host_port_end: int = 0  # the end of a host port range; 0: no range

    def __post_init__(self) -> None:
        # Checked here too, not only by parse_publish: specs are also read back from records.
        ports = (self.container_port, self.host_port, self.host_port_end)
        if any(isinstance(p, bool) or not isinstance(p, int) for p in ports):
            raise InvalidArgument(f"invalid port specification {self}")
        if not 0 < self.container_port < 65536 or not 0 <= self.host_port < 65536:
            raise InvalidArgument(
                f"invalid port specification {self}", hint="ports are numbers from 1 to 65535"
            )
        if self.host_port_end and not self.host_port <= self.host_port_end < 65536:
            raise InvalidArgument(f"invalid host port range in {self}")
        if self.protocol not in PROTOCOLS or not isinstance(self.host_ip, str):
            raise InvalidArgument(f"invalid port specification {self}")


@dataclass(frozen=True)
class Binding:
    """A published port as it is at run time."""

    container_port: int
    protocol: str
    host_ip: str
    host_port: int

    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidArgument(f"invalid {what} port {text!r}", hint="ports are numbers from 1 to 65535")
    return int(text)


def _range(text: str, what: str) -> tuple[int, int]:
    start, dash, end = text.partition("-")
    first = _port(start, what)
    last = _port(end, what) if dash else first
    if last < first:
        raise InvalidArgument(f"invalid {what} port range {text!r}")
    return first, last


def parse_publish(text: str) -> list[PortSpec]:
    spec, _, protocol = text.partition("/")
    protocol = protocol.lower() or "tcp"
    if protocol not in PROTOCOLS:
        raise InvalidArgument(f"invalid protocol {protocol!r} in {text!r}", hint="use tcp or udp")
    host_ip, host_part, container_part = "", "", spec
    if spec.startswith("["):
        raise InvalidArgument(f"IPv6 host addresses are not supported: {text!r}")
    parts = spec.split(":")
    if len(parts) == 3:
        host_ip, host_part, container_part = parts
    elif len(parts) == 2:
        host_part, container_part = parts
    elif len(parts) != 1:
        raise InvalidArgument(
            f"invalid port specification {text!r}", hint="use [IP:][HOST_PORT:]PORT[/PROTO]"
        )
    if host_ip:
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise InvalidArgument(f"invalid host address {host_ip!r} in {text!r}") from None
        if host_ip == "0.0.0.0":
            host_ip = ""
    first, last = _range(container_part, "container")
    count = last - first + 1
    if not host_part:
        return [PortSpec(p, protocol, host_ip) for p in range(first, last + 1)]
    host_first, host_last = _range(host_part, "host")
    host_count = host_last - host_first + 1
    if count == host_count:
        return [PortSpec(first + i, protocol, host_ip, host_first + i) for i in range(count)]
    if count == 1:  # one container port, any free host port of the range
        return [PortSpec(first, protocol, host_ip, host_first, host_last)]
    raise InvalidArgument(f"invalid ranges in {text!r}: the host and container ranges differ in length")


def parse_expose(text: str) -> list[tuple[int, str]]:
    """``--expose 80``, ``--expose 8000-8010/udp``, or an image's ``80/tcp``."""
    ports, _, protocol = text.partition("/")
    protocol = protocol.lower() or "tcp"
    first, last = _range(ports, "exposed")
    return [(p, protocol) for p in range(first, last + 1)]


def format_binding(b: Binding) -> str:
    return f"{b.host_ip or '0.0.0.0'}:{b.host_port}->{b.container_port}/{b.protocol}"
