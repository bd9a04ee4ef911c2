"""NetworkService without root: the `ip`, `nft` and `iptables` input it produces, and what it
asks of the host, seen through a recording Runner and Host over a real store in tmp_path.

The runner (``tests/helpers/fakenet.py``) plays a very small kernel, so that a sequence of
steps sees the host its earlier steps made.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from cove.config import EngineConfig
from cove.containers.model import ContainerConfig
from cove.containers.store import ContainerRecord, ContainerStore
from cove.content.store import ContentStore
from cove.db.database import Database
from cove.engine.networks import Attachment, HostNames, NetworkService, release_host_objects
from cove.engine.networks.hostnames import veth_name
from cove.engine.store import Store
from cove.errors import Conflict, FailedPrecondition
from cove.host.locks import FileLock
from cove.host.netlink import NetHost
from cove.host.runner import CommandFailed
from cove.images.store import ImageStore
from cove.network import dns
from cove.network.ports import Binding, PortSpec
from cove.snapshots.copy import CopySnapshotter
from tests.helpers.fakehost import FakeProcess, RecordingHost
from tests.helpers.fakenet import KernelRunner

HOST_ROUTES = (
    b"default via 192.0.2.1 dev eth0 proto dhcp metric 100\n"
    b"172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown\n"
    b"172.18.4.0/24 dev br-other proto kernel scope link src 172.18.4.1\n"
)


@dataclass
class Rig:
    service: NetworkService
    runner: KernelRunner
    host: RecordingHost
    store: Store
    names: HostNames

    def container(self, name: str, *, dns_servers: Sequence[str] = ()) -> str:
        """A container record (the DNS server's names come from it) and its directory."""
        cid = secrets.token_hex(32)
        config = ContainerConfig(image="busybox", dns=list(dns_servers))
        ContainerStore(self.store.db).add(
            ContainerRecord(cid, name, "sha256:" + "0" * 64, "busybox", f"c-{cid}", 0.0, config, "runc"),
            pick_name=False,
        )
        (self.store.root / "containers" / cid).mkdir(parents=True)
        return cid

    def netns(self, cid: str) -> str:
        return self.names.netns(cid)


def _rig(tmp_path: Path, *, firewall: str = "auto", tools: set[str] | None = None) -> Iterator[Rig]:
    root = tmp_path / "root"
    root.mkdir()
    config = EngineConfig(root=root, runtime_dir=tmp_path / "run", firewall=firewall)
    host = RecordingHost(tools=tools if tools is not None else {"nft"})
    runner = KernelRunner(host=host)
    runner.results[("ip", "-4", "route", "show")] = (0, HOST_ROUTES, b"")
    db = Database(root / "cove.db")
    content = ContentStore(root / "content")
    store = Store(
        config, root, db, content, CopySnapshotter(root / "snapshots", db, runner),
        ImageStore(db, content), runner, "test", host,
    )  # fmt: skip
    try:
        yield Rig(NetworkService(store), runner, host, store, HostNames.of(root))
    finally:
        db.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from _rig(tmp_path)


# -- network create ------------------------------------------------------------------------------


def test_create_picks_a_subnet_past_the_host_routes_and_makes_the_bridge_under_the_host_lock(
    rig: Rig,
) -> None:
    network = rig.service.create("web", labels={"tier": "front"})

    # 172.17/16 (docker0) and 172.18/16 (overlapping br-other's 172.18.4/24) are the host's.
    assert (network.subnet, network.gateway) == ("172.19.0.0/16", "172.19.0.1")
    assert network.ip_range == network.subnet
    assert network.bridge == f"cove-{network.id[:10]}"
    assert rig.runner.commands == [("ip", "-4", "route", "show"), ("ip", "-batch", "-")]
    assert rig.runner.batches() == [
        f"link add name {network.bridge} address 02:42:ac:13:00:01 type bridge",
        f"addr replace 172.19.0.1/16 dev {network.bridge}",
        f"link set {network.bridge} up",
    ]
    # The routes were read, and the bridge that claims the subnet made, under the host-wide lock.
    assert rig.runner.under_host_lock == [True, True]
    assert [c for c in rig.host.calls if c[0] in ("host_lock", "host_unlock")] == [
        ("host_lock", "cove-networks"),
        ("host_unlock", "cove-networks"),
    ]
    assert rig.service.get("web") == network
    assert rig.service.get(network.id[:8]).labels == {"tier": "front"}


def test_a_second_network_avoids_the_first_and_a_given_subnet_must_be_free(rig: Rig) -> None:
    first = rig.service.create("one")
    second = rig.service.create("two")
    assert (first.subnet, second.subnet) == ("172.19.0.0/16", "172.20.0.0/16")

    rig.runner.clear()
    with pytest.raises(Conflict, match=r"172\.18\.4\.0/24"):
        rig.service.create("clash", subnet="172.18.0.0/16")
    with pytest.raises(Conflict, match="already exists"):
        rig.service.create("one")
    assert rig.runner.batches() == []  # no bridge was made for either
    assert [n.name for n in rig.service.records.all()] == ["one", "two"]


def test_a_bridge_that_cannot_be_made_leaves_no_record(rig: Rig) -> None:
    rig.runner.results[("ip", "-batch", "-")] = (2, b"", b"RTNETLINK answers: Operation not permitted")
    with pytest.raises(CommandFailed):
        rig.service.create("web", subnet="10.9.0.0/24")
    assert rig.service.records.all() == []


def test_the_default_network_takes_back_a_stale_bridge_of_its_own_name(rig: Rig) -> None:
    rig.host.links[rig.names.default_bridge] = True  # left by an earlier store at this root
    network = rig.service.default()
    assert network.name == "bridge" and network.bridge == rig.names.default_bridge
    lines = rig.runner.batches()
    assert lines[0] == f"link delete {network.bridge}"
    assert lines[1] == f"link add name {network.bridge} address 02:42:ac:13:00:01 type bridge"


# -- wiring --------------------------------------------------------------------------------------


def test_wiring_on_the_default_bridge(rig: Rig) -> None:
    cid = rig.container("plain")
    rig.service.plan(cid, "bridge", [])
    bridge = rig.names.default_bridge
    veth = veth_name(cid, rig.service.default().id)
    assert len(veth) == 11 and veth.startswith("veth")
    rig.runner.clear()

    path = rig.service.wire(cid)

    netns = rig.netns(cid)
    assert path == Path("/run/netns") / netns
    # The bridge is up already: the namespace, and the host's end of the pair.
    assert rig.runner.batches() == [
        f"netns add {netns}",
        f"link add name {veth} type veth peer name tmp{veth[4:]} netns {netns}",
        f"link set {veth} master {bridge}",
        f"link set {veth} up",
    ]
    assert rig.runner.batches(netns) == [
        "link set lo up",
        f"link set tmp{veth[4:]} name eth0",
        "link set eth0 address 02:42:ac:13:00:02",
        "addr add 172.19.0.2/16 dev eth0",
        "link set eth0 up",
        "route replace default via 172.19.0.1 dev eth0",
    ]
    assert rig.host.sysctls == {"net/ipv4/ip_forward": "1", f"net/ipv4/conf/{bridge}/route_localnet": "1"}
    (rules,) = rig.runner.input_of("nft", "-f", "-")
    table = rig.names.filter_table
    assert rules.startswith(f"table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n")
    assert f'\t\tip saddr 172.19.0.0/16 oifname != "{bridge}" masquerade\n' in rules
    # The default network has no names: no DNS records, no server.
    assert not (rig.store.config.runtime_dir / "dns").exists()
    assert not [c for c in rig.host.calls if c[0] == "spawn_detached"]


def test_wiring_on_user_networks_with_names(rig: Rig) -> None:
    app = rig.service.create("app", subnet="10.7.0.0/24")
    back = rig.service.create("back", subnet="10.8.0.0/24", internal=True)
    cid = rig.container("db1", dns_servers=["9.9.9.9"])
    rig.service.plan(cid, "app", [Attachment("app", ("db",)), Attachment("back", ip="10.8.0.50")])
    rig.runner.clear()

    rig.service.wire(cid)

    netns = rig.netns(cid)
    inner = rig.runner.batches(netns)  # the default route through the first network's gateway only
    first, second = veth_name(cid, app.id), veth_name(cid, back.id)
    assert inner == [
        "link set lo up",
        f"link set tmp{first[4:]} name eth0",
        "link set eth0 address 02:42:0a:07:00:02",
        "addr add 10.7.0.2/24 dev eth0",
        "link set eth0 up",
        "route replace default via 10.7.0.1 dev eth0",
        f"link set tmp{second[4:]} name eth1",
        "link set eth1 address 02:42:0a:08:00:32",
        "addr add 10.8.0.50/24 dev eth1",
        "link set eth1 up",
    ]
    assert f"link set {first} master {app.bridge}" in rig.runner.batches()
    assert f"link set {second} master {back.bridge}" in rig.runner.batches()
    assert rig.host.sysctls[f"net/ipv4/conf/{back.bridge}/route_localnet"] == "1"
    (rules,) = rig.runner.input_of("nft", "-f", "-")
    assert f'\t\tiifname "{back.bridge}" drop\n' in rules  # internal: nothing in or out
    assert f'\t\tiifname "{app.bridge}" oifname {{ "{back.bridge}" }} drop\n' in rules

    # The names went to the DNS server's records, and the server was started.
    records = json.loads((rig.store.config.runtime_dir / "dns" / "records.json").read_text())
    entry = [["10.7.0.2", cid]]
    assert records["networks"]["10.7.0.1"] == {
        "internal": False,
        "names": {"db": entry, "db1": entry, cid[:12]: entry},
    }
    assert records["networks"]["10.8.0.1"]["internal"] is True
    assert records["upstreams"] == ["192.0.2.53"] and records["clients"]["10.7.0.2"] == ["9.9.9.9"]
    dns_dir = rig.store.config.runtime_dir / "dns"
    spawned = [c for c in rig.host.calls if c[0] == "spawn_detached"]
    assert spawned == [
        ("spawn_detached", (sys.executable, "-I", "-S", dns.__file__, str(dns_dir / "records.json"),
                            str(dns_dir / "dns.lock")))
    ]  # fmt: skip


def test_a_network_whose_bridge_is_gone_is_checked_against_the_host_routes_again(rig: Rig) -> None:
    network = rig.service.create("app", subnet="10.7.0.0/24")
    cid = rig.container("c")
    rig.service.plan(cid, "app", [])
    del rig.host.links[network.bridge]  # a reboot
    rig.runner.results[("ip", "-4", "route", "show")] = (0, b"10.7.0.0/16 dev wg0 scope link\n", b"")
    with pytest.raises(Conflict, match=r"in use on this host now \(host route 10\.7\.0\.0/16\)"):
        rig.service.wire(cid)
    assert rig.netns(cid) not in rig.host.netns


def test_no_firewall_no_wiring(tmp_path: Path) -> None:
    for rig in _rig(tmp_path, tools=set()):
        cid = rig.container("c")
        rig.service.plan(cid, "bridge", [])
        with pytest.raises(FailedPrecondition, match="nftables"):
            rig.service.wire(cid)
        assert rig.host.netns == set()


def test_modes_without_endpoints_plan_nothing(rig: Rig) -> None:
    for mode in ("none", "host", "private", "container:abc"):
        rig.service.plan(f"{mode}-c", mode, [])
    assert rig.service.records.endpoints() == []
    assert rig.runner.commands == []


# -- published ports -----------------------------------------------------------------------------


def test_published_ports_become_dnat_rules(rig: Rig) -> None:
    cid = rig.container("web")
    rig.service.plan(cid, "bridge", [])
    rig.host.ports_in_use.add(("tcp", 32768))
    chosen = rig.service.bind_ports(
        cid, [PortSpec(80, host_port=8080), PortSpec(53, "udp", "127.0.0.1", 5353), PortSpec(443)]
    )
    assert chosen == [
        Binding(80, "tcp", "", 8080),
        Binding(53, "udp", "127.0.0.1", 5353),
        Binding(443, "tcp", "", 32769),  # the first free ephemeral port
    ]
    assert rig.service.bindings(cid) == chosen

    rig.service.wire(cid)

    (rules,) = rig.runner.input_of("nft", "-f", "-")
    ports = rules[rules.index("\tchain ports {\n") :]
    assert ports == (
        "\tchain ports {\n"
        "\t\ttcp dport 8080 dnat to 172.19.0.2:80\n"
        "\t\tip daddr 127.0.0.1 udp dport 5353 dnat to 172.19.0.2:53\n"
        "\t\ttcp dport 32769 dnat to 172.19.0.2:443\n"
        "\t}\n"
        "}\n"  # the table's end
    )


def test_a_published_port_in_use_is_refused(rig: Rig) -> None:
    first, second = rig.container("a"), rig.container("b")
    for cid in (first, second):
        rig.service.plan(cid, "bridge", [])
    rig.service.bind_ports(first, [PortSpec(80, host_port=8080)])
    with pytest.raises(Conflict, match=r"Bind for 0\.0\.0\.0:8080 failed: port is already allocated"):
        rig.service.bind_ports(second, [PortSpec(80, host_port=8080)])  # another container's
    rig.host.ports_in_use.add(("tcp", 9090))
    with pytest.raises(Conflict, match="9090 failed"):
        rig.service.bind_ports(second, [PortSpec(80, host_port=9090)])  # something else's on the host
    with pytest.raises(Conflict, match=r"no free host port in 9090-9090"):
        rig.service.bind_ports(second, [PortSpec(80, host_port=9090, host_port_end=9090)])
    assert rig.service.bindings(second) == []


def test_published_ports_with_iptables(tmp_path: Path) -> None:
    for rig in _rig(tmp_path, firewall="iptables", tools={"nft", "iptables", "iptables-restore"}):
        cid = rig.container("web")
        rig.service.plan(cid, "bridge", [])
        rig.service.bind_ports(cid, [PortSpec(80, host_port=8080)])
        rig.runner.results[("iptables", "-w", "-t", "nat", "-C")] = (1, b"", b"no such rule")
        rig.runner.results[("iptables", "-w", "-t", "filter", "-C")] = (1, b"", b"no such rule")
        rig.service.wire(cid)

        prefix = rig.names.chain_prefix
        assert rig.runner.input_of("nft") == []
        (rules,) = rig.runner.input_of("iptables-restore", "-w", "--noflush")
        assert (
            f"-A {prefix}-PORTS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.19.0.2:80\n" in rules
        )
        assert f"-A {prefix}-FORWARD -i {rig.names.default_bridge} -j ACCEPT\n" in rules
        jumps = [c for c in rig.runner.commands if c[:2] == ("iptables", "-w") and "-I" in c]
        assert jumps == [
            ("iptables", "-w", "-t", "filter", "-I", "FORWARD", "1", "-j", f"{prefix}-FORWARD"),
            ("iptables", "-w", "-t", "nat", "-I", "POSTROUTING", "1", "-j", f"{prefix}-POSTROUTING"),
            ("iptables", "-w", "-t", "nat", "-I", "PREROUTING", "1", "-m", "addrtype", "--dst-type", "LOCAL",
             "-j", f"{prefix}-PORTS"),
            ("iptables", "-w", "-t", "nat", "-I", "OUTPUT", "1", "-m", "addrtype", "--dst-type", "LOCAL",
             "-j", f"{prefix}-PORTS"),
        ]  # fmt: skip


# -- connect, disconnect, unwire, remove ---------------------------------------------------------


def test_connect_and_disconnect_a_running_container(rig: Rig) -> None:
    cid = rig.container("web")
    rig.service.plan(cid, "bridge", [])
    rig.service.wire(cid)
    other = rig.service.create("other", subnet="10.9.0.0/24")
    rig.runner.clear()

    endpoint = rig.service.connect("other", cid, aliases=["w"], running=True)

    netns, veth = rig.netns(cid), veth_name(cid, other.id)
    assert (endpoint.ip, endpoint.position) == ("10.9.0.2", 1)
    assert rig.runner.batches() == [
        f"link add name {veth} type veth peer name tmp{veth[4:]} netns {netns}",
        f"link set {veth} master {other.bridge}",
        f"link set {veth} up",
    ]
    assert rig.runner.batches(netns) == [
        f"link set tmp{veth[4:]} name eth1",
        "link set eth1 address 02:42:0a:09:00:02",
        "addr add 10.9.0.2/24 dev eth1",
        "link set eth1 up",
    ]
    (rules,) = rig.runner.input_of("nft", "-f", "-")
    assert f'"{other.bridge}"' in rules
    with pytest.raises(Conflict, match="already exists in network other"):
        rig.service.connect("other", cid)
    rig.runner.clear()

    rig.service.disconnect("other", cid, running=True)

    assert rig.runner.batches(netns) == ["link delete eth1"]
    left = rig.service.records.endpoints(container_id=cid)
    assert [e.network_id for e in left] == [rig.service.default().id]
    (rules,) = rig.runner.input_of("nft", "-f", "-")
    assert f'"{other.bridge}"' not in rules and f'"{rig.names.default_bridge}"' in rules
    with pytest.raises(FailedPrecondition, match="is not connected to network other"):
        rig.service.disconnect("other", cid)


def test_unwire_and_network_remove(rig: Rig) -> None:
    network = rig.service.create("app", subnet="10.7.0.0/24")
    cid = rig.container("c")
    rig.service.plan(cid, "app", [])
    rig.service.wire(cid)
    with pytest.raises(Conflict, match=r"has active endpoints \(" + cid[:12] + r"\)"):
        rig.service.remove("app")
    rig.runner.clear()

    rig.service.unwire(cid, forget=True)

    table = rig.names.filter_table
    assert rig.runner.commands[:2] == [
        ("ip", "netns", "delete", rig.netns(cid)),
        ("nft", "delete", "table", "ip", table),  # no network in use any more: no table
    ]
    assert rig.service.records.endpoints() == []
    assert json.loads((rig.store.config.runtime_dir / "dns" / "records.json").read_text())["networks"] == {}
    rig.runner.clear()

    assert rig.service.remove("app") == network

    assert rig.runner.batches() == [f"link delete {network.bridge}"]
    assert ("nft", "delete", "table", "ip", table) in rig.runner.commands
    assert network.bridge not in rig.host.links
    with pytest.raises(Conflict, match="pre-defined"):
        rig.service.remove("bridge")


def test_prune_removes_the_unused_user_networks(rig: Rig) -> None:
    used = rig.service.create("used", subnet="10.7.0.0/24")
    unused = rig.service.create("unused", subnet="10.8.0.0/24")
    rig.service.plan(rig.container("c"), "used", [])
    rig.service.default()
    rig.runner.clear()
    assert rig.service.prune().networks == ("unused",)
    assert rig.runner.batches() == [f"link delete {unused.bridge}"]
    assert [n.name for n in rig.service.all()] == ["used", "bridge"] and used.bridge in rig.host.links


def test_prune_and_list_take_dockers_filters(rig: Rig) -> None:
    rig.service.create("web", subnet="10.7.0.0/24", labels={"tier": "web"})
    db = rig.service.create("db", subnet="10.8.0.0/24", labels={"tier": "db"})
    rig.service.plan(rig.container("c"), "db", [])
    assert [n.name for n in rig.service.list_networks({"label": ["tier"], "dangling": ["true"]})] == ["web"]
    assert rig.service.prune({"label": ["tier=db"]}).networks == ()  # in use
    assert rig.service.prune({"label!": ["tier=web"]}).networks == ()
    assert rig.service.prune({"until": ["1h"]}).networks == ()  # made just now
    assert rig.service.prune({"label": ["tier=web"]}).networks == ("web",)
    assert [n.name for n in rig.service.all()] == ["db", "bridge"] and db.bridge in rig.host.links


# -- release of a store's host objects -----------------------------------------------------------


def test_release_removes_the_stores_objects_and_nothing_else(rig: Rig, tmp_path: Path) -> None:
    app = rig.service.create("app", subnet="10.7.0.0/24")
    cid = rig.container("c")
    rig.service.plan(cid, "app", [])
    rig.service.wire(cid)
    left_on_bridge = "vethleft01"  # a link whose namespace went, still a port of the bridge
    rig.host.links[left_on_bridge] = True
    rig.host.masters[left_on_bridge] = app.bridge
    rig.host.netns |= {"cove-0123456789ab", "coveffffff-0123456789ab"}  # other stores'
    rig.host.masters["vethother"] = "cove0ffffff"
    # The store's DNS server: it holds its lock and has written its PID in it.
    lock_path = rig.store.config.runtime_dir / "dns" / "dns.lock"
    server = FileLock(lock_path)
    server.acquire()
    lock_path.write_text("4242\n")
    rig.host.procs[4242] = FakeProcess(("python", dns.__file__, "records.json", str(lock_path)))
    rig.host.proc_files["4242/cmdline"] = b"\0".join(
        [b"python", b"-I", b"-S", dns.__file__.encode(), b"records.json", str(lock_path).encode(), b""]
    )
    rig.runner.clear()
    try:
        rig.service.release_host()
    finally:
        server.release()

    table = rig.names.filter_table
    assert ("ip", "netns", "delete", rig.netns(cid)) in rig.runner.commands
    deleted = [line for line in rig.runner.batches() if line.startswith("link delete")]
    # The link left on the bridge, then the bridge (the default one was never made).
    assert deleted == [f"link delete {left_on_bridge}", f"link delete {app.bridge}"]
    assert ("nft", "delete", "table", "ip", table) in rig.runner.commands
    prefix = rig.names.chain_prefix
    assert ("iptables", "-w", "-t", "filter", "-F", f"{prefix}-FORWARD") in rig.runner.commands
    assert ("kill", 4242, signal.SIGTERM) in rig.host.calls
    assert rig.host.netns == {"cove-0123456789ab", "coveffffff-0123456789ab"}
    assert rig.host.masters == {"vethother": "cove0ffffff"}


def test_release_leaves_a_dns_server_whose_pid_was_reused(tmp_path: Path) -> None:
    host = RecordingHost()
    runner = KernelRunner(host=host)
    lock_path = tmp_path / "run" / "dns" / "dns.lock"
    server = FileLock(lock_path)
    server.acquire()
    lock_path.write_text("4242\n")
    host.procs[4242] = FakeProcess(("sleep", "1000"))
    host.proc_files["4242/cmdline"] = b"sleep\x001000\x00"
    try:
        release_host_objects(HostNames.of(tmp_path / "root"), tmp_path / "run", runner, (), host)
    finally:
        server.release()
    assert not [c for c in host.calls if c[0] == "kill"]
    assert ("read_proc", "4242/cmdline") in host.calls


def test_a_namespace_file_left_by_a_crash_is_removed_when_ip_cannot_delete_it() -> None:
    host = RecordingHost(netns={"cove-0123456789ab"})
    runner = KernelRunner(host=host)
    runner.results[("ip", "netns", "delete")] = (1, b"", b"Invalid argument")
    NetHost(runner, host).delete_netns("cove-0123456789ab")
    assert ("remove_netns_file", "cove-0123456789ab") in host.calls and host.netns == set()
    NetHost(runner, host).delete_netns("cove-0123456789ab")  # gone: nothing to do
    assert runner.commands == [("ip", "netns", "delete", "cove-0123456789ab")]


def test_host_routes_are_read_with_their_devices() -> None:
    runner = KernelRunner()
    runner.results[("ip", "-4", "route", "show")] = (0, HOST_ROUTES + b"\n10.1.0.0/16 via 192.0.2.9\n", b"")
    assert NetHost(runner, runner.host).routes() == [
        ("default", "eth0"),
        ("172.17.0.0/16", "docker0"),
        ("172.18.4.0/24", "br-other"),
        ("10.1.0.0/16", ""),
    ]


def test_wired_follows_the_namespace(rig: Rig) -> None:
    cid = rig.container("c")
    rig.service.plan(cid, "bridge", [])
    assert not rig.service.wired(cid)
    rig.service.wire(cid)
    assert rig.service.wired(cid)
    rig.service.unwire(cid)
    assert not rig.service.wired(cid)
