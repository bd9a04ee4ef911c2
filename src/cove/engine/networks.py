"""NetworkService: bridge networks, container endpoints on them, and the host's rules.

Host objects a store owns are named so that stores with different roots live side by
side (the tests run many): the default store (``/var/lib/cove``) has bridge ``cove0`` and
nftables table ``cove``; any other root adds a short hash of its path to both. User
networks' bridges are ``cove-<id>`` and container namespaces ``cove-<container id>``,
unique anyway.

Life of an endpoint: made at create (the address is taken then, and kept while the
container exists, so it never changes between restarts), wired at start (a namespace, a
veth pair to the bridge, address and routes), unwired at removal or disconnect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cove.config import DEFAULT_ROOT
from cove.engine.filters import filter_networks, networks_to_prune
from cove.engine.store import Store
from cove.engine.types import PruneReport
from cove.errors import Conflict, CoveError, FailedPrecondition, InvalidArgument
from cove.host.locks import FileLock
from cove.host.netfilter import Iptables, Netfilter, chain_prefix
from cove.host.netlink import (
    NetHost,
    Veth,
    host_nameservers,
    link_exists,
    links_on,
    netns_names,
    netns_path,
    port_free,
    udp_listening,
    write_sysctl,
)
from cove.host.runner import Runner
from cove.network import ipam
from cove.network.ports import EPHEMERAL, Binding, PortSpec
from cove.network.rules import BridgeNet, PortRule, render, render_iptables
from cove.network.store import Endpoint, NetworkRecord, NetworkStore

__all__ = ["Attachment", "Binding", "Endpoint", "NetworkRecord", "NetworkService", "PortSpec", "netns_name"]

DEFAULT_NETWORK = "bridge"
PREDEFINED = frozenset({"bridge", "host", "none"})
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
INTERNAL_ONLY_MODES = frozenset({"none", "host", "private"})


@dataclass(frozen=True)
class Attachment:
    """One network a container asks for at create."""

    network: str
    aliases: tuple[str, ...] = ()
    ip: str | None = None
    mac: str | None = None


# Held while a network picks its subnet and makes its bridge: every store on the host shares it.
HOST_NETWORKS_LOCK = Path("/run/lock/cove-networks.lock")


@dataclass(frozen=True)
class HostNames:
    """The names a store gives its objects on the host, from its root alone (so that what a
    store made can be found, and released, even without its records)."""

    tag: str  # "" for the default root, else a short hash of the root's path

    @classmethod
    def of(cls, root: Path) -> HostNames:
        return cls("" if root == DEFAULT_ROOT else hashlib.sha256(str(root).encode()).hexdigest()[:6])

    @property
    def default_bridge(self) -> str:
        return f"cove0{self.tag}"

    @property
    def filter_table(self) -> str:
        return f"cove{'_' + self.tag if self.tag else ''}"

    @property
    def chain_prefix(self) -> str:
        return chain_prefix(self.filter_table)

    def netns(self, container_id: str) -> str:
        return netns_name(self.tag, container_id)


def netns_name(tag: str, container_id: str) -> str:
    """A container's namespace: the store's prefix (``cove-``, or ``cove<tag>-``), then its ID."""
    return f"cove{tag}-{container_id[:12]}"


def _veth_name(container_id: str, network_id: str) -> str:
    return "veth" + hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()[:7]


def mac_for(address: str) -> str:
    """Docker's scheme: 02:42 and the IPv4 address's bytes."""
    octets = ipaddress.IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in octets)


class NetworkService:
    def __init__(self, store: Store, container_names: Callable[[str], str] | None = None) -> None:
        self.store = store
        self.records = NetworkStore(store.db)
        self.host = NetHost(store.runner)
        self.filter = Netfilter(store.runner)
        self.iptables = Iptables(store.runner)
        self.firewall = _firewall(store.config.firewall)
        self.names = HostNames.of(store.root)
        self.filter_table = self.names.filter_table
        self.chain_prefix = self.names.chain_prefix
        self.default_bridge = self.names.default_bridge
        self.container_name = container_names or (lambda cid: cid[:12])

    def _lock(self) -> FileLock:
        return FileLock(self.store.root / "locks" / "network.lock")

    def netns_name(self, container_id: str) -> str:
        return self.names.netns(container_id)

    # -- networks ----------------------------------------------------------------------------

    def _host_routes(self, *, besides: str | None = None) -> list[tuple[str, ipaddress.IPv4Network]]:
        """The subnets the host routes (other than through the link ``besides``)."""
        taken = []
        for route in self.store.runner.run(["ip", "-4", "route", "show"]).stdout.decode().splitlines():
            words = route.split()
            target = words[0] if words else ""
            device = words[words.index("dev") + 1] if "dev" in words[:-1] else ""
            if target and target != "default" and (besides is None or device != besides):
                try:
                    taken.append((f"host route {target}", ipaddress.IPv4Network(target, strict=False)))
                except ValueError:
                    continue
        return taken

    def _taken_subnets(self) -> list[tuple[str, ipaddress.IPv4Network]]:
        taken = [(n.name, ipaddress.IPv4Network(n.subnet)) for n in self.records.all()]
        return taken + self._host_routes()

    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str | None = None,
        gateway: str | None = None,
        ip_range: str | None = None,
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> NetworkRecord:
        if driver != "bridge":
            raise InvalidArgument(
                f"network driver {driver!r} is not supported", hint="use bridge (the default)"
            )
        if name in PREDEFINED and name != DEFAULT_NETWORK:
            raise Conflict(f"{name} is a pre-defined network and cannot be created")
        _check_name(name)
        options = dict(options or {})
        # The subnet is claimed on the host at once, by the bridge that routes it, under a lock
        # every store on the host takes: so two stores (or engines) never pick the same one.
        with self._lock().exclusive(), FileLock(HOST_NETWORKS_LOCK).exclusive():
            if self.records.find(name) is not None and self.records.get(name).name == name:
                raise Conflict(f"network with name {name} already exists")
            network_id = secrets.token_hex(32)
            if name == DEFAULT_NETWORK:
                bridge = self.default_bridge
            else:
                bridge = options.get(BRIDGE_NAME_OPTION) or f"cove-{network_id[:10]}"
            if len(bridge) > 15 or not bridge.replace("-", "").replace("_", "").isalnum():
                raise InvalidArgument(f"invalid bridge name {bridge!r}: up to 15 letters, digits, - or _")
            if any(n.bridge == bridge for n in self.records.all()):
                raise Conflict(f"bridge {bridge} already exists on this host")
            if link_exists(bridge):
                if bridge != self.default_bridge:
                    raise Conflict(f"bridge {bridge} already exists on this host")
                # Named after this store's root and not in its records: left by a store that was
                # at this root before (removed without its networks). Ours to take back.
                self.host.delete_link(bridge)
            taken = self._taken_subnets()
            if subnet:
                net = ipam.parse_subnet(subnet)
                ipam.check_free(net, taken)
            else:
                net = ipam.pick_subnet(t for _, t in taken)
            gw = ipam.gateway_for(net, gateway)
            pool = ipam.range_within(net, ip_range)
            from cove.network.store import new_record

            record = new_record(
                network_id, name, bridge, str(net), str(gw), str(pool),
                internal=internal, labels=dict(labels or {}), options=options,
            )  # fmt: skip
            self.records.add(record)
            try:
                self.host.ensure_bridge(bridge, f"{gw}/{net.prefixlen}", mac_for(str(gw)))
            except BaseException as exc:
                # The host's bridge goes first: a record left (a full disk fails its removal)
                # is found again, a bridge without a record would block the name for good.
                with contextlib.suppress(CoveError):
                    self.host.delete_link(bridge)
                try:
                    self.records.remove(record.id)
                except CoveError as again:
                    exc.add_note(f"while removing the network's record: {again}")
                raise
        return record

    def default(self) -> NetworkRecord:
        """The ``bridge`` network, made on first use."""
        found = self.records.find(DEFAULT_NETWORK)
        if found is not None and found.name == DEFAULT_NETWORK:
            return found
        try:
            return self.create(DEFAULT_NETWORK)
        except Conflict:
            return self.records.get(DEFAULT_NETWORK)

    def get(self, ref: str) -> NetworkRecord:
        if ref == DEFAULT_NETWORK:
            return self.default()
        return self.records.get(ref)

    def all(self) -> list[NetworkRecord]:
        self.default()
        return self.records.all()

    def endpoints(self, network: NetworkRecord) -> list[Endpoint]:
        return self.records.endpoints(network_id=network.id)

    def remove(self, ref: str) -> NetworkRecord:
        if ref in PREDEFINED:
            raise Conflict(f"{ref} is a pre-defined network and cannot be removed")
        with self._lock().exclusive():
            record = self.records.get(ref)
            users = self.records.endpoints(network_id=record.id)
            if users:
                names = ", ".join(self.container_name(e.container_id) for e in users)
                raise Conflict(
                    f"error while removing network: network {record.name} id {record.id} has active endpoints"
                    f" ({names})",
                    hint="remove those containers, or disconnect them (cove network disconnect)",
                )
            self.records.remove(record.id)
            self.host.delete_link(record.bridge)
            self._sync_rules()
        return record

    def list_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[NetworkRecord]:
        """``network ls``, with Docker's filters."""
        return filter_networks(self.all(), filters or {}, lambda n: bool(self.endpoints(n)))

    def prune(self, filters: Mapping[str, list[str]] | None = None) -> PruneReport:
        """The user-defined networks no container is on (with Docker's prune filters); one that
        a container joined meanwhile is left, not an error."""
        removed = []
        unused = networks_to_prune(
            self.records.all(), filters or {}, lambda n: bool(self.records.endpoints(network_id=n.id))
        )
        for record in unused:
            if record.name in PREDEFINED:
                continue
            try:
                self.remove(record.id)
            except Conflict:
                continue
            removed.append(record.name)
        return PruneReport(networks=tuple(removed))

    # -- endpoints of containers -------------------------------------------------------------

    def plan(self, container_id: str, mode: str, attachments: Sequence[Attachment]) -> None:
        """Take addresses for a new container on the networks it asks for (at create)."""
        if mode in INTERNAL_ONLY_MODES or mode.startswith("container:"):
            return
        wanted = list(attachments) or [Attachment(mode)]
        for attachment in wanted:
            self._add_endpoint(container_id, attachment)

    def _add_endpoint(self, container_id: str, attachment: Attachment) -> Endpoint:
        network = self.get(attachment.network)
        if attachment.ip and network.name == DEFAULT_NETWORK:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if attachment.aliases and network.name == DEFAULT_NETWORK:
            raise InvalidArgument("network-scoped aliases are supported for user-defined networks only")
        with self._lock().exclusive():
            subnet = ipaddress.IPv4Network(network.subnet)
            address = ipam.allocate(
                subnet,
                ipaddress.IPv4Network(network.ip_range),
                ipaddress.IPv4Address(network.gateway),
                self.records.used_addresses(network.id),
                attachment.ip,
            )
            endpoint = Endpoint(
                container_id=container_id,
                network_id=network.id,
                ip=str(address),
                mac=attachment.mac or mac_for(str(address)),
                aliases=tuple(attachment.aliases),
                position=self.records.next_position(container_id),
            )
            self.records.add_endpoint(endpoint)
        return endpoint

    # -- names (the embedded DNS server of user-defined networks) ------------------------------

    @property
    def _dns_dir(self) -> Path:
        return self.store.config.runtime_dir / "dns"

    def publish_names(self) -> None:
        """Rewrite the DNS server's records from the store, and start the server if needed."""
        from cove.containers.store import ContainerStore

        containers = ContainerStore(self.store.db)
        networks: dict[str, dict[str, Any]] = {}
        clients: dict[str, list[str]] = {}  # container address -> its own upstreams (--dns)
        for network in self.records.all():
            if not network.user_defined:
                continue
            names: dict[str, list[list[str]]] = {}
            for endpoint in self.records.endpoints(network_id=network.id):
                try:
                    record = containers.get(endpoint.container_id)
                except CoveError:
                    continue
                if record.config.dns:
                    clients[endpoint.ip] = list(record.config.dns)
                aliases = {record.name, record.id[:12], record.config.hostname or "", *endpoint.aliases}
                for alias in sorted(a.lower() for a in aliases if a):
                    names.setdefault(alias, []).append([endpoint.ip, record.id])
            if names:
                networks[network.gateway] = {"internal": network.internal, "names": names}
        data = {
            "networks": networks,
            "upstreams": host_nameservers(),
            "clients": clients,
            "state_dir": str(self.store.root / "containers"),
        }
        self._dns_dir.mkdir(parents=True, exist_ok=True)
        records = self._dns_dir / "records.json"
        tmp = records.with_name(f".records.{os.getpid()}")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, records)
        if networks:
            self._ensure_dns_server()
            # A container may ask at once: wait (briefly) until the server listens on each gateway.
            deadline = time.monotonic() + 2.0
            while not udp_listening(networks) and time.monotonic() < deadline:
                time.sleep(0.01)

    def _ensure_dns_server(self) -> None:
        lock = FileLock(self._dns_dir / "dns.lock")
        if not lock.try_free():
            return  # running
        from cove.host.process import spawn_detached
        from cove.network import dns

        spawn_detached(
            [sys.executable, "-I", "-S", dns.__file__, str(self._dns_dir / "records.json"), str(lock.path)],
            stderr_path=str(self._dns_dir / "dns.log"),
        )

    def wire(self, container_id: str) -> Path | None:
        """Make the container's namespace and links (at start); None when it has no endpoints."""
        endpoints = self.records.endpoints(container_id=container_id)
        if not endpoints:
            return None
        if self.firewall is None:
            raise FailedPrecondition(
                "bridge networks need nftables (nft) or iptables, and this host has neither",
                hint="install nftables (apt install nftables), or run with --network host or none",
            )
        name = self.netns_name(container_id)
        with self._lock().exclusive():
            write_sysctl("net/ipv4/ip_forward", "1")
            veths, bridges = [], {}
            named = False  # on a user-defined network: its DNS server must learn the name
            for endpoint in endpoints:
                network = self.records.get(endpoint.network_id)
                named = named or network.user_defined
                if not link_exists(network.bridge):  # gone since (a reboot): is its subnet still free?
                    self._check_still_free(network)
                veths.append(self._veth(network, endpoint))
                bridges[network.bridge] = (
                    network.bridge,
                    f"{network.gateway}/{_prefix(network)}",
                    mac_for(network.gateway),
                )
            self.host.create_sandbox(name, veths, list(bridges.values()))
            for bridge in bridges:
                # Published ports answer on 127.0.0.1 too: DNAT'ed loopback packets may use the bridge.
                write_sysctl(f"net/ipv4/conf/{bridge}/route_localnet", "1")
            self._sync_rules()
            if named:
                self.publish_names()
        return netns_path(name)

    def _check_still_free(self, network: NetworkRecord) -> None:
        subnet = ipaddress.IPv4Network(network.subnet)
        for what, other in self._host_routes(besides=network.bridge):
            if subnet.overlaps(other):
                raise Conflict(
                    f"network {network.name}'s subnet {subnet} is in use on this host now ({what})",
                    hint=f"remove the network and create it again (cove network rm {network.name}), "
                    "or free that subnet",
                )

    def _veth(self, network: NetworkRecord, endpoint: Endpoint) -> Veth:
        return Veth(
            host_name=_veth_name(endpoint.container_id, network.id),
            bridge=network.bridge,
            inner_name=f"eth{endpoint.position}",
            address=f"{endpoint.ip}/{_prefix(network)}",
            mac=endpoint.mac,
            gateway=network.gateway if endpoint.position == 0 and not network.internal else None,
        )

    def _wire_one(self, netns: str, endpoint: Endpoint) -> None:
        """A link into a running container's namespace (network connect)."""
        network = self.records.get(endpoint.network_id)
        self.host.ensure_bridge(
            network.bridge, f"{network.gateway}/{_prefix(network)}", mac_for(network.gateway)
        )
        write_sysctl(f"net/ipv4/conf/{network.bridge}/route_localnet", "1")
        self.host.add_veth(netns, self._veth(network, endpoint))

    def unwire(self, container_id: str, *, forget: bool = False) -> None:
        """Remove the container's namespace (its veths go with it); ``forget`` frees its addresses."""
        with self._lock().exclusive():
            self.host.delete_netns(self.netns_name(container_id))
            endpoints = self.records.endpoints(container_id=container_id)
            if forget:
                for endpoint in endpoints:
                    self.records.remove_endpoint(container_id, endpoint.network_id)
            self._sync_rules()
            if any(self.records.get(e.network_id).user_defined for e in endpoints):
                self.publish_names()

    def connect(
        self, network_ref: str, container_id: str, *, aliases: Sequence[str] = (), ip: str | None = None,
        running: bool = False,
    ) -> Endpoint:  # fmt: skip
        network = self.get(network_ref)
        if any(e.network_id == network.id for e in self.records.endpoints(container_id=container_id)):
            name = self.container_name(container_id)
            raise Conflict(f"endpoint with name {name} already exists in network {network.name}")
        endpoint = self._add_endpoint(container_id, Attachment(network.id, tuple(aliases), ip))
        if running and netns_path(self.netns_name(container_id)).exists():
            with self._lock().exclusive():
                self._wire_one(self.netns_name(container_id), endpoint)
                self._sync_rules()
        self.publish_names()
        return endpoint

    def disconnect(self, network_ref: str, container_id: str, *, running: bool = False) -> None:
        network = self.get(network_ref)
        found = [e for e in self.records.endpoints(container_id=container_id) if e.network_id == network.id]
        if not found:
            raise FailedPrecondition(
                f"container {self.container_name(container_id)} is not connected to network {network.name}"
            )
        with self._lock().exclusive():
            if running and netns_path(self.netns_name(container_id)).exists():
                self.host.remove_link_in(self.netns_name(container_id), f"eth{found[0].position}")
            self.records.remove_endpoint(container_id, network.id)
            self._sync_rules()
            self.publish_names()

    # -- published ports ---------------------------------------------------------------------

    def _ports_file(self, container_id: str) -> Path:
        return self.store.root / "containers" / container_id / "ports.json"

    def bindings(self, container_id: str) -> list[Binding]:
        try:
            data = json.loads(self._ports_file(container_id).read_text())
        except (OSError, ValueError):
            return []
        return [Binding(**b) for b in data]

    def bind_ports(self, container_id: str, specs: Sequence[PortSpec]) -> list[Binding]:
        """Choose the host ports of a starting container: the given ones if free, else free ones."""
        with self._lock().exclusive():
            taken = {
                (b.protocol, b.host_port)
                for e in self.records.endpoints()
                if e.container_id != container_id
                for b in self.bindings(e.container_id)
            }
            chosen: list[Binding] = []
            for spec in specs:
                binding = _choose_port(spec, taken)
                taken.add((binding.protocol, binding.host_port))
                chosen.append(binding)
            path = self._ports_file(container_id)
            if chosen or path.exists():
                tmp = path.with_name(".ports.json.tmp")
                tmp.write_text(json.dumps([dataclasses.asdict(b) for b in chosen]))
                os.replace(tmp, path)
        return chosen

    def _port_rules(self) -> list[PortRule]:
        rules = []
        seen: set[str] = set()
        for endpoint in self.records.endpoints():
            cid = endpoint.container_id
            if cid in seen or endpoint.position != 0 or not netns_path(self.netns_name(cid)).exists():
                continue
            seen.add(cid)
            for b in self.bindings(cid):
                rules.append(PortRule(b.protocol, b.host_ip, b.host_port, endpoint.ip, b.container_port))
        return rules

    # -- the host's rules --------------------------------------------------------------------

    def _sync_rules(self) -> None:
        """Render cove's table from the networks in use: with a bridge up and a container wired
        to it (caller holds the lock). No network in use, no table."""
        endpoints = self.records.endpoints()
        wired = {e.network_id for e in endpoints if netns_path(self.netns_name(e.container_id)).exists()}
        nets = [
            BridgeNet(n.bridge, n.subnet, n.internal)
            for n in self.records.all()
            if n.id in wired and link_exists(n.bridge)
        ]
        if self.firewall == "iptables":
            if nets:
                self.iptables.load(
                    self.chain_prefix, render_iptables(self.chain_prefix, nets, self._port_rules())
                )
            else:
                self.iptables.remove(self.chain_prefix)
            return
        if not nets:
            self.filter.remove(self.filter_table)
            return
        self.filter.load(self.filter_table, render(nets, self._port_rules()))
        self.filter.forward_accept(self.filter_table, [n.bridge for n in nets if not n.internal])

    def release_host(self) -> None:
        """Remove everything this store made on the host, recorded or not (see
        :func:`release_host_objects`), its user networks' bridges included."""
        with self._lock().exclusive():
            bridges = [n.bridge for n in self.records.all()]
            release_host_objects(self.names, self.store.config.runtime_dir, self.store.runner, bridges)


def release_host_objects(
    names: HostNames, runtime_dir: Path, runner: Runner, bridges: Sequence[str] = ()
) -> None:
    """Remove what a store made on the host, found by its names: its containers' namespaces,
    links left on its bridges (its default one, and ``bridges``), the bridges, its rules and
    its DNS server (``runtime_dir``'s). Nothing of another store's or engine's is touched.
    For a store being thrown away, with or without its records (the tests' cleanup)."""
    host = NetHost(runner)
    prefix = names.netns("")
    for name in netns_names():
        if name.startswith(prefix):
            host.delete_netns(name)
    every = {*bridges, names.default_bridge}
    for link in links_on(every):
        host.delete_link(link)
    for bridge in sorted(every):
        host.delete_link(bridge)
    Netfilter(runner).remove(names.filter_table)
    Iptables(runner).remove(names.chain_prefix)
    _stop_dns_server(runtime_dir / "dns" / "dns.lock")


def _stop_dns_server(lock_path: Path) -> None:
    lock = FileLock(lock_path)
    if not lock_path.exists() or lock.try_free():
        return
    from cove.host.process import alive, wait_exit

    try:
        pid = int(lock_path.read_text().strip() or 0)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if os.fsencode(str(lock_path)) in argv:  # the PID is still this store's server
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not wait_exit(pid, 5.0) and alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _firewall(wanted: str) -> str | None:
    """nftables where there is nft (or when asked for), else iptables; None when neither."""
    if wanted == "iptables":
        return "iptables" if Iptables.available() else None
    if wanted == "nftables" or Netfilter.available():
        return "nftables" if Netfilter.available() else None
    return "iptables" if Iptables.available() else None


def _prefix(network: NetworkRecord) -> int:
    return ipaddress.IPv4Network(network.subnet).prefixlen


def _choose_port(spec: PortSpec, taken: set[tuple[str, int]]) -> Binding:
    if spec.host_port and not spec.host_port_end:
        if (spec.protocol, spec.host_port) in taken or not port_free(
            spec.protocol, spec.host_ip, spec.host_port
        ):
            raise Conflict(
                f"Bind for {spec.host_ip or '0.0.0.0'}:{spec.host_port} failed: port is already allocated",
                hint="publish on another host port, or stop what uses it",
            )
        return Binding(spec.container_port, spec.protocol, spec.host_ip, spec.host_port)
    first, last = (spec.host_port, spec.host_port_end) if spec.host_port else EPHEMERAL
    for port in range(first, last + 1):
        if (spec.protocol, port) not in taken and port_free(spec.protocol, spec.host_ip, port):
            return Binding(spec.container_port, spec.protocol, spec.host_ip, port)
    raise Conflict(f"no free host port in {first}-{last} for {spec.container_port}/{spec.protocol}")


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise InvalidArgument(
            f"invalid network name {name!r}",
            hint="use letters, digits, '_', '.' and '-', starting with one of the first two",
        )
