"""A service's ``ports`` (long form, as the loader leaves them) and ``expose`` as the engine's."""

from __future__ import annotations

import ipaddress

from cove.compose.errors import ComposeError
from cove.compose.model import Service
from cove.engine.requests import PortSpec, parse_expose
from cove.errors import InvalidArgument


def published_ports(service: Service) -> list[PortSpec]:
    """One PortSpec per published container port; ``published`` a port, a range (a free host
    port within it) or absent (a free one); ``host_ip`` 0.0.0.0 is every address."""
    out = []
    for i, port in enumerate(service.ports):
        where = f"services.{service.name}.ports[{i}]"
        host_ip = port.host_ip or ""
        if host_ip:
            try:
                address = ipaddress.ip_address(host_ip)
            except ValueError:
                raise ComposeError(f'{where}: invalid host_ip "{host_ip}"') from None
            if address.version == 6:
                raise ComposeError(f"{where}: IPv6 host addresses are not supported by cove's engine")
            host_ip = "" if host_ip == "0.0.0.0" else host_ip
        low = high = 0
        if port.published:
            first, _, last = port.published.partition("-")
            if not first.isdigit() or (last and not last.isdigit()):
                raise ComposeError(f'{where}: invalid published port "{port.published}"')
            low, high = int(first), int(last or first)
        try:
            out.append(PortSpec(port.target, port.protocol.lower(), host_ip, low, high if high != low else 0))
        except InvalidArgument as exc:
            raise ComposeError(f"{where}: {exc}") from None
    return out


def exposed_ports(service: Service) -> list[str]:
    for i, text in enumerate(service.expose):
        try:
            parse_expose(text)
        except InvalidArgument as exc:
            raise ComposeError(f"services.{service.name}.expose[{i}]: {exc}") from None
    return list(service.expose)
