"""Where and how to reach a registry: endpoints (mirrors, HTTPS or HTTP) and TLS settings.

Docker's rules: docker.io is served by registry-1.docker.io, after any configured mirrors;
a registry is insecure (plain HTTP allowed, TLS not verified) when configured so, and when
it is on a loopback address and has no certificates configured. Certificates for HOST:PORT
live in ``<certs_dir>/HOST:PORT/``: ``*.crt`` are CAs, ``*.cert`` with a matching ``*.key`` a
client certificate.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cove.errors import InvalidArgument

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"


@dataclass(frozen=True)
class RegistrySettings:
    insecure: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    certs_dir: Path = Path("/etc/cove/certs.d")
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    upload_chunk_size: int = 0


class Endpoint(NamedTuple):
    scheme: str  # https or http
    host: str  # host[:port] to connect to
    verify_tls: bool
    mirror: bool = False

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    name = _hostname(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str, settings: RegistrySettings) -> bool:
    if host in settings.insecure or _hostname(host) in settings.insecure:
        return True
    # A loopback registry is trusted as it is, unless certificates were set up for it.
    return is_loopback(host) and not (settings.certs_dir / host).is_dir()


def _mirror_endpoint(url: str) -> Endpoint:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https") or not rest.strip("/"):
        raise InvalidArgument(f"registry mirror {url!r} is not an http(s) URL")
    host = rest.strip("/").split("/")[0]
    return Endpoint(scheme, host, scheme == "https", mirror=True)


def endpoints(domain: str, settings: RegistrySettings, *, for_push: bool = False) -> list[Endpoint]:
    """The endpoints to try for ``domain``, in order (mirrors serve pulls only)."""
    found: list[Endpoint] = []
    if domain == DOCKER_HUB:
        if not for_push:
            found += [_mirror_endpoint(m) for m in settings.mirrors]
        return [*found, Endpoint("https", DOCKER_HUB_ENDPOINT, True)]
    if is_insecure(domain, settings):
        # HTTPS first, unverified; then plain HTTP (which most test registries speak)
        return [Endpoint("https", domain, False), Endpoint("http", domain, False)]
    return [Endpoint("https", domain, True)]


def ssl_context(host: str, settings: RegistrySettings, *, verify: bool) -> ssl.SSLContext:
    """System CAs plus the registry's own from ``certs_dir``; its client certificate if any."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    directory = settings.certs_dir / host
    if directory.is_dir():
        for ca in sorted(directory.glob("*.crt")):
            try:
                context.load_verify_locations(cafile=str(ca))
            except (ssl.SSLError, OSError) as exc:
                raise InvalidArgument(f"cannot use CA certificate {ca}: {exc}") from None
        for cert in sorted(directory.glob("*.cert")):
            key = cert.with_suffix(".key")
            if not key.exists():
                raise InvalidArgument(f"client certificate {cert} has no {key.name} beside it")
            try:
                context.load_cert_chain(str(cert), str(key))
            except (ssl.SSLError, OSError) as exc:
                raise InvalidArgument(f"cannot use client certificate {cert}: {exc}") from None
    return context
