"""Bridge networks for real: namespaces, veths, bridges, nftables, the DNS server, published ports.

Traffic stays on this machine: loopback, the test networks' bridges, and an "outside"
network namespace that each test makes itself (and removes)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.engine.networks import HostNames
from tests.conftest import CoveRunner, release_host_network
from tests.helpers.containers import wait_until

OUTSIDE_NS = "covetest-outside"
HOST_SIDE, OUTSIDE_SIDE = "10.250.0.1", "10.250.0.2"


def sh(cove: CoveRunner, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return cove.proc("run", "--rm", *args, check=check)


def web_root(tmp_path: Path, text: str = "hello from web\n") -> Path:
    root = tmp_path / "www"
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text(text)
    return root


def start_web(cove: CoveRunner, name: str, root: Path, *args: str) -> str:
    return cove(
        "run",
        "-d",
        "--name",
        name,
        "-v",
        f"{root}:/www:ro",
        *args,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ).out.strip()


def get_cmd(host: str, port: int = 80) -> list[str]:
    """A shell command that prints the body of ``GET /`` (busybox's wget crashes on names)."""
    return ["sh", "-c", f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 {host} {port} | tail -1']


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def outside() -> Iterator[str]:
    """A namespace standing for the world outside the host: routed through the host's FORWARD."""
    subprocess.run(["ip", "netns", "delete", OUTSIDE_NS], capture_output=True, check=False)
    ip("netns", "add", OUTSIDE_NS)
    try:
        ip("link", "add", "covetest-o0", "type", "veth", "peer", "name", "eth0", "netns", OUTSIDE_NS)
        ip("addr", "add", f"{HOST_SIDE}/30", "dev", "covetest-o0")
        ip("link", "set", "covetest-o0", "up")
        ip("-n", OUTSIDE_NS, "addr", "add", f"{OUTSIDE_SIDE}/30", "dev", "eth0")
        ip("-n", OUTSIDE_NS, "link", "set", "eth0", "up")
        ip("-n", OUTSIDE_NS, "link", "set", "lo", "up")
        ip("-n", OUTSIDE_NS, "route", "add", "default", "via", HOST_SIDE)
        yield OUTSIDE_NS
    finally:
        subprocess.run(["ip", "netns", "delete", OUTSIDE_NS], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", "covetest-o0"], capture_output=True, check=False)


UDP_RECEIVER = (
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('0.0.0.0', 9999))\n"
    "s.settimeout(8)\n"
    "print(s.recvfrom(512)[0])\n"
)
FETCH = (
    "import sys, urllib.request\n"
    "try:\n    print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode(), end='')\n"
    "except OSError:\n    sys.exit(1)\n"
)


def fetch(url: str, netns: str | None = None) -> str:
    """The body at ``url``, from the host or from ``netns``; "" when it cannot be had."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    argv = [*prefix, sys.executable, "-c", FETCH, url]
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).stdout.decode()


# -- networks --------------------------------------------------------------------------------


def test_network_lifecycle_and_errors(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    net_id = cove("network", "create", "--subnet", "10.231.0.0/24", "--label", "team=a", "front").out.strip()
    assert len(net_id) == 64
    listed = cove("network", "ls", "--format", "{{.Name}} {{.Driver}}").out.split("\n")
    assert "bridge bridge" in listed and "front bridge" in listed
    details = json.loads(cove("network", "inspect", "front").out)[0]
    assert details["IPAM"]["Config"] == [{"Subnet": "10.231.0.0/24", "Gateway": "10.231.0.1"}]
    assert details["Labels"] == {"team": "a"} and details["Id"] == net_id
    assert cove("network", "ls", "-q", "--filter", "label=team=a").out == net_id[:12] + "\n"
    errors = [
        (["network", "create", "front"], "network with name front already exists"),
        (["network", "create", "--subnet", "10.231.0.128/25", "other"], "overlaps 10.231.0.0/24 (front)"),
        (["network", "create", "--subnet", "10.231.5.7/24", "x"], "did you mean 10.231.5.0/24"),
        (["network", "create", "host"], "pre-defined network"),
        (["network", "create", "-d", "overlay", "x"], "not supported"),
        (["network", "rm", "bridge"], "pre-defined network"),
        (["network", "rm", "nope"], "network nope not found"),
        (["run", "--rm", "--network", "nope", "busybox", "true"], "network nope not found"),
        (["run", "--rm", "--ip", "10.231.0.9", "busybox", "true"], "user defined networks only"),
    ]
    for argv, text in errors:
        result = cove(*argv, check=False)
        assert result.rc != 0 and text in result.err, (argv, result)
        assert "Traceback" not in result.err
    cid = cove("create", "--network", "front", "busybox", "true").out.strip()
    refused = cove("network", "rm", "front", check=False)
    assert refused.rc == 1 and "has active endpoints" in refused.err
    assert cove("network", "prune", "-f").out == ""
    cove("rm", cid)
    assert cove("network", "prune", "-f").out == "Deleted Networks:\nfront\n"
    assert "front" not in cove("network", "ls").out


@pytest.mark.slow
def test_addresses_are_unique_and_kept(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("network", "create", "--subnet", "10.232.0.0/29", "tiny")
    procs = [
        cove.popen("create", "--network", "tiny", "busybox", "true", stdout=subprocess.PIPE) for _ in range(5)
    ]
    ids = [p.communicate(timeout=60)[0].decode().strip() for p in procs]
    assert all(len(i) == 64 for i in ids)
    addresses = [
        cove("inspect", "--format", "{{.NetworkSettings.Networks.tiny.IPAddress}}", i).out for i in ids
    ]
    assert sorted(a.strip() for a in addresses) == [f"10.232.0.{n}" for n in range(2, 7)]
    full = cove("create", "--network", "tiny", "busybox", "true", check=False)
    assert full.rc == 125 and "no free addresses" in full.err
    cove("rm", ids[2])
    again = cove("create", "--network", "tiny", "--ip", addresses[2].strip(), "busybox", "true").out.strip()
    assert (
        cove("inspect", "--format", "{{.NetworkSettings.Networks.tiny.IPAddress}}", again).out == addresses[2]
    )
    taken = cove("create", "--network", "tiny", "--ip", addresses[0].strip(), "busybox", "true", check=False)
    assert taken.rc == 125 and "already in use" in taken.err
    cove("rm", *ids[:2], *ids[3:], again)


# -- names -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_containers_reach_each_other_by_name(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    cove("network", "create", "app")
    start_web(
        cove, "web", web_root(tmp_path), "--network", "app", "--network-alias", "site", "--hostname", "www1"
    )
    for name in ("web", "site", "www1"):
        out = sh(cove, "--network", "app", "busybox", *get_cmd(name))
        assert out.stdout == b"hello from web\n", name
    # UDP too, by name: busybox has no UDP server, so the receiver is a socket in web's namespace.
    web_id = cove("inspect", "--format", "{{.Id}}", "web").out.strip()
    receiver = subprocess.Popen(
        ["ip", "netns", "exec", cove.netns(web_id), sys.executable, "-c", UDP_RECEIVER],
        stdout=subprocess.PIPE,
    )
    try:
        time.sleep(0.3)
        sh(
            cove,
            "--network",
            "app",
            "busybox",
            "tftp",
            "-g",
            "-r",
            "datagram",
            "-l",
            "/tmp/x",
            "site",
            "9999",
            check=False,
        )
        out, _ = receiver.communicate(timeout=10)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    assert b"datagram" in out
    # Other names go to the host's resolvers; unknown ones fail cleanly.
    missing = sh(cove, "--network", "app", "busybox", "nslookup", "no-such-container", check=False)
    assert missing.returncode != 0
    # The default bridge network has no name resolution, as with Docker.
    on_bridge = sh(cove, "busybox", "nslookup", "web", check=False)
    assert on_bridge.returncode != 0
    cove("rm", "-f", "web")


@pytest.mark.slow
def test_alias_round_robin_and_names_follow_containers(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("network", "create", "pool")
    for n in (1, 2):
        cove(
            "run",
            "-d",
            "--name",
            f"w{n}",
            "--network",
            "pool",
            "--network-alias",
            "svc",
            "busybox",
            "sleep",
            "300",
        )
    ips = {
        cove("inspect", "--format", "{{.NetworkSettings.Networks.pool.IPAddress}}", f"w{n}").out.strip()
        for n in (1, 2)
    }
    out = sh(cove, "--network", "pool", "busybox", "nslookup", "svc").stdout.decode()
    assert all(a in out for a in ips), out
    firsts = set()
    for _ in range(4):
        answer = sh(cove, "--network", "pool", "busybox", "nslookup", "svc").stdout.decode()
        firsts.add(answer.split("Name:")[1].split("Address:")[1].split()[0])
    assert firsts == ips  # round robin
    cove("stop", "-t", "0", "w1")
    out = sh(cove, "--network", "pool", "busybox", "nslookup", "w1", check=False)
    assert out.returncode != 0  # a stopped container's name does not resolve
    cove("network", "disconnect", "pool", "w2")
    assert sh(cove, "--network", "pool", "busybox", "nslookup", "w2", check=False).returncode != 0
    cove("rm", "-f", "w1", "w2")


@pytest.mark.slow
def test_containers_leaving_do_not_cut_the_others_off(cove_busybox: CoveRunner) -> None:
    # A bridge takes the lowest MAC address of its ports unless given one: when that port
    # went, the gateway's address changed under the other containers' ARP caches.
    cove = cove_busybox
    cove("network", "create", "churn")
    names = [f"c{i}" for i in range(4)]
    for name in names:
        cove("run", "-d", "--name", name, "--network", "churn", "busybox", "sleep", "300")
    gateway = json.loads(cove("network", "inspect", "churn").out)[0]["IPAM"]["Config"][0]["Gateway"]
    assert cove.proc("exec", "c3", "ping", "-c1", "-W1", gateway).returncode == 0
    cove("rm", "-f", *names[:3])
    assert cove.proc("exec", "c3", "ping", "-c1", "-W2", gateway).returncode == 0
    assert b"Address: " in cove.proc("exec", "c3", "nslookup", "c3").stdout
    cove("rm", "-f", "c3")


@pytest.mark.slow
def test_connect_and_disconnect_running_containers(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    cove("network", "create", "one")
    cove("network", "create", "two")
    start_web(cove, "web", web_root(tmp_path), "--network", "one")
    cove("run", "-d", "--name", "client", "--network", "two", "busybox", "sleep", "300")
    unreachable = cove.proc("exec", "client", *get_cmd("web"), check=False)
    assert unreachable.stdout == b""
    cove("network", "connect", "--alias", "frontdoor", "two", "web")
    links = cove.proc("exec", "web", "ls", "/sys/class/net").stdout.split()
    assert links == [b"eth0", b"eth1", b"lo"]
    ok = cove.proc("exec", "client", *get_cmd("frontdoor"))
    assert ok.stdout == b"hello from web\n"
    cove("network", "disconnect", "two", "web")
    assert cove.proc("exec", "web", "ls", "/sys/class/net").stdout.split() == [b"eth0", b"lo"]
    gone = cove.proc("exec", "client", *get_cmd("web"), check=False)
    assert gone.stdout == b""
    again = cove("network", "disconnect", "two", "web", check=False)
    assert again.rc == 1 and "is not connected to network two" in again.err
    cove("rm", "-f", "web", "client")


@pytest.mark.slow
def test_networks_are_isolated_and_internal_ones_closed(cove_busybox: CoveRunner, outside: str) -> None:
    cove = cove_busybox
    cove("network", "create", "--subnet", "10.233.0.0/24", "left")
    cove("network", "create", "--subnet", "10.234.0.0/24", "right")
    cove("network", "create", "--internal", "vault")
    cove("run", "-d", "--name", "r", "--network", "right", "busybox", "sleep", "300")
    right_ip = cove("inspect", "--format", "{{.NetworkSettings.Networks.right.IPAddress}}", "r").out.strip()
    assert (
        sh(cove, "--network", "left", "busybox", "ping", "-c1", "-W1", right_ip, check=False).returncode != 0
    )
    # out of a normal network, through NAT, to the "outside" namespace; not out of an internal one
    assert sh(cove, "--network", "left", "busybox", "ping", "-c1", "-W2", OUTSIDE_SIDE).returncode == 0
    assert (
        sh(cove, "--network", "vault", "busybox", "ping", "-c1", "-W1", OUTSIDE_SIDE, check=False).returncode
        != 0
    )
    cove("run", "-d", "--name", "v", "--network", "vault", "busybox", "sleep", "300")
    assert (
        b"Address: " in sh(cove, "--network", "vault", "busybox", "nslookup", "v").stdout
    )  # names still work
    cove("rm", "-f", "r", "v")


# -- published ports -------------------------------------------------------------------------


@pytest.mark.slow
def test_published_ports(cove_busybox: CoveRunner, tmp_path: Path, outside: str) -> None:
    cove = cove_busybox
    start_web(cove, "web", web_root(tmp_path), "-p", "18080:80", "-p", "127.0.0.1::80")
    ports = cove("port", "web").out.splitlines()
    assert ports[0] == "80/tcp -> 0.0.0.0:18080"
    random_port = int(ports[1].split(":")[-1])
    assert 32768 <= random_port <= 60999
    assert fetch("http://127.0.0.1:18080/") == "hello from web\n"
    assert fetch(f"http://127.0.0.1:{random_port}/") == "hello from web\n"
    # from outside the host, to one of its addresses
    assert fetch(f"http://{HOST_SIDE}:18080/", OUTSIDE_NS) == "hello from web\n"
    # only 127.0.0.1 was asked for the second one
    assert fetch(f"http://{HOST_SIDE}:{random_port}/", OUTSIDE_NS) == ""
    # hairpin: another container through a host address
    assert sh(cove, "busybox", *get_cmd(HOST_SIDE, 18080)).stdout == b"hello from web\n"
    ps = cove("ps", "--format", "{{.Names}} {{.Ports}}").out
    assert f"web 0.0.0.0:18080->80/tcp, 127.0.0.1:{random_port}->80/tcp" in ps
    inspect = json.loads(cove("inspect", "web").out)[0]["NetworkSettings"]["Ports"]
    assert inspect["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": "18080"}
    cove("rm", "-f", "web")
    assert fetch("http://127.0.0.1:18080/") == ""


def test_a_taken_port_is_refused_before_the_start(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = cove(
            "run",
            "-d",
            "--name",
            "clash",
            "-p",
            f"127.0.0.1:{port}:80",
            "busybox",
            "sleep",
            "30",
            check=False,
        )
    assert result.rc == 125
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in result.err
    assert cove("inspect", "--format", "{{.State.Status}}", "clash").out == "created\n"
    cove("rm", "clash")


def test_publish_all_exposed_ports(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    start_web(cove, "web", web_root(tmp_path), "--expose", "80", "-P")
    [line] = cove("port", "web").out.splitlines()
    port = int(line.split(":")[-1])
    assert fetch(f"http://127.0.0.1:{port}/") == "hello from web\n"
    cove("rm", "-f", "web")


# -- the host's rules --------------------------------------------------------------------------


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, check=True).stdout.decode()


def test_rules_are_rebuilt_after_a_reboot_and_removed_when_unused(
    cove_busybox: CoveRunner, tmp_path: Path
) -> None:
    cove = cove_busybox
    start_web(cove, "web", web_root(tmp_path), "-p", "18081:80")
    own = HostNames.of(cove.root).filter_table
    table = [line.split()[-1] for line in nft_tables().splitlines() if line.split()[-1] == own]
    assert len(table) == 1
    cove("stop", "-t", "0", "web")
    # what a reboot does: the namespace, the bridge and the rules are gone
    bridge = json.loads(cove("network", "inspect", "bridge").out)[0]["Options"][
        "com.docker.network.bridge.name"
    ]
    subprocess.run(["nft", "delete", "table", "ip", table[0]], check=True)
    cid = cove("inspect", "--format", "{{.Id}}", "web").out.strip()
    subprocess.run(["ip", "netns", "delete", cove.netns(cid)], check=True)
    subprocess.run(["ip", "link", "delete", bridge], check=True)
    cove("start", "web")
    wait_until(lambda: fetch("http://127.0.0.1:18081/") == "hello from web\n", timeout=10)
    cove("rm", "-f", "web")
    assert table[0] not in nft_tables()  # no container on a network, no rules


def cove_namespaces(cove: CoveRunner) -> set[str]:
    """The store's container namespaces on the host."""
    netns, prefix = Path("/run/netns"), cove.netns("")
    return {n.name for n in netns.iterdir() if n.name.startswith(prefix)} if netns.exists() else set()


@pytest.mark.slow
def test_killed_run_leaves_no_stale_rules(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    before = cove_namespaces(cove)
    for delay in (0.05, 0.15, 0.3, 0.6):
        argv = ("run", "-d", "-p", "18082:80", "busybox", "sleep", "300")
        proc = cove.popen(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL, wherever it was
            proc.wait()
        cove("container", "prune", "-f")
        left = cove("ps", "-aq").out.split()
        if left:
            cove("rm", "-f", *left)
        ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, check=True).stdout.decode()
        assert "18082" not in ruleset, delay
        assert cove_namespaces(cove) == before, delay


@pytest.mark.slow
def test_forward_policy_drop_as_docker_leaves_it(
    cove_busybox: CoveRunner, tmp_path: Path, outside: str
) -> None:
    cove = cove_busybox
    policy = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, check=True).stdout.decode()
    subprocess.run(["iptables", "-P", "FORWARD", "DROP"], check=True)
    try:
        start_web(cove, "web", web_root(tmp_path), "-p", "18083:80")
        assert sh(cove, "busybox", "ping", "-c1", "-W2", OUTSIDE_SIDE).returncode == 0
        assert fetch(f"http://{HOST_SIDE}:18083/", OUTSIDE_NS) == "hello from web\n"
        cove("rm", "-f", "web")
        # the rules of others stay as they were; cove's jump goes with its last container
        assert (
            "-P FORWARD DROP"
            in subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, check=True).stdout.decode()
        )
    finally:
        subprocess.run(
            ["iptables", "-P", "FORWARD", "ACCEPT" if "-P FORWARD ACCEPT" in policy else "DROP"], check=True
        )


FAKE_UPSTREAM = """
import socket, struct, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    query, peer = sock.recvfrom(512)
    end = query.index(b"\\0", 12) + 5
    header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
    record = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("10.99.99.99")
    sock.sendto(header + query[12:end] + record, peer)
"""


@pytest.mark.slow
def test_other_names_go_to_the_containers_dns_servers(cove_busybox: CoveRunner) -> None:
    # A resolver of our own on 127.0.0.2, given with --dns: the network's DNS server forwards
    # the names it does not know there, and still answers the containers' names itself.
    cove = cove_busybox
    upstream = subprocess.Popen([sys.executable, "-c", FAKE_UPSTREAM, "127.0.0.2"], stdout=subprocess.PIPE)
    try:
        assert upstream.stdout is not None and upstream.stdout.readline() == b"ready\n"
        cove("network", "create", "dnsnet")
        cove("run", "-d", "--name", "named", "--network", "dnsnet", "busybox", "sleep", "300")
        asked = ("run", "--rm", "--network", "dnsnet", "--dns", "127.0.0.2", "busybox")
        resolv = cove.proc(*asked, "cat", "/etc/resolv.conf").stdout.decode()
        assert "nameserver 127.0.0.2" not in resolv  # the container asks the network's server...
        outside = cove.proc(*asked, "nslookup", "-type=a", "outside.example").stdout.decode()
        assert "10.99.99.99" in outside  # ... which forwards to the container's own
        named_ip = cove("inspect", "--format", "{{.NetworkSettings.Networks.dnsnet.IPAddress}}", "named").out
        assert named_ip.strip() in cove.proc(*asked, "nslookup", "named").stdout.decode()
        cove("rm", "-f", "named")
    finally:
        upstream.kill()
        upstream.communicate()


@pytest.mark.slow
def test_mac_address_rename_and_system_prune(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("network", "create", "small")
    cove("run", "-d", "--name", "old", "--network", "small", "--mac-address", "92:d0:c6:0a:29:33",
         "busybox", "sleep", "300")  # fmt: skip
    assert cove.proc("exec", "old", "cat", "/sys/class/net/eth0/address").stdout == b"92:d0:c6:0a:29:33\n"
    bad = cove("run", "--rm", "--mac-address", "zz:00", "busybox", "true", check=False)
    assert bad.rc == 125 and "invalid MAC address" in bad.err
    cove("rename", "old", "new")
    assert b"Address: " in sh(cove, "--network", "small", "busybox", "nslookup", "new").stdout
    assert sh(cove, "--network", "small", "busybox", "nslookup", "old", check=False).returncode != 0
    cove("network", "create", "unused")
    pruned = cove("system", "prune", "-f").out
    assert "Deleted Networks:\nunused\n" in pruned
    assert "small" in cove("network", "ls").out
    cove("rm", "-f", "new")


@pytest.mark.slow
def test_iptables_where_there_is_no_nftables(cove_busybox: CoveRunner, tmp_path: Path, outside: str) -> None:
    # The same rules through iptables (as on a host without nft): chains of cove's own.
    cove = cove_busybox
    Path(cove.env["COVE_CONFIG"]).write_text('[network]\nfirewall = "iptables"\n')
    cove("network", "create", "--subnet", "10.235.0.0/24", "ipt")
    cove("network", "create", "--subnet", "10.236.0.0/24", "other")
    start_web(cove, "web", web_root(tmp_path), "--network", "ipt", "-p", "18084:80")
    cove("run", "-d", "--name", "o", "--network", "other", "busybox", "sleep", "300")
    assert fetch("http://127.0.0.1:18084/") == "hello from web\n"
    assert fetch(f"http://{HOST_SIDE}:18084/", OUTSIDE_NS) == "hello from web\n"
    assert sh(cove, "--network", "ipt", "busybox", "ping", "-c1", "-W2", OUTSIDE_SIDE).returncode == 0
    web_ip = cove("inspect", "--format", "{{.NetworkSettings.Networks.ipt.IPAddress}}", "web").out.strip()
    assert cove.proc("exec", "o", "ping", "-c1", "-W1", web_ip, check=False).returncode != 0  # isolated
    saved = subprocess.run(["iptables-save"], capture_output=True, check=True).stdout.decode()
    assert "-PORTS -p tcp -m tcp --dport 18084 -j DNAT --to-destination" in saved
    names = HostNames.of(cove.root)
    assert f"table ip {names.filter_table}\n" not in nft_tables()
    cove("rm", "-f", "web", "o")
    saved = subprocess.run(["iptables-save"], capture_output=True, check=True).stdout.decode()
    assert names.chain_prefix not in saved  # no container on a network, no chains, no jumps


@pytest.mark.slow
def test_container_network_mode_and_host_gateway(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    cove("network", "create", "shared")
    start_web(cove, "web", web_root(tmp_path), "--network", "shared")
    web_ip = cove("inspect", "--format", "{{.NetworkSettings.Networks.shared.IPAddress}}", "web").out.strip()
    # joined to web's namespace: the same address, and web's server on localhost
    joined = sh(
        cove, "--network", "container:web", "busybox", "sh", "-c", "ip -4 addr show eth0"
    ).stdout.decode()
    assert f"inet {web_ip}/" in joined
    assert (
        sh(cove, "--network", "container:web", "busybox", *get_cmd("127.0.0.1")).stdout == b"hello from web\n"
    )
    gateway = json.loads(cove("network", "inspect", "bridge").out)[0]["IPAM"]["Config"][0]["Gateway"]
    hosts = sh(cove, "--add-host", "dockerhost:host-gateway", "busybox", "cat", "/etc/hosts").stdout.decode()
    assert f"{gateway}\tdockerhost" in hosts
    cove("rm", "-f", "web")


@pytest.mark.slow
def test_names_resolve_for_glibc_in_a_debian_image(
    cove: CoveRunner, debian_tarball: Path, tmp_path: Path
) -> None:
    # getent goes through glibc's resolver (NSS), as most programs do; busybox has its own.
    cove("import", str(debian_tarball), "deb:nets")
    cove("network", "create", "debnet")
    cove(
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "debnet",
        "--network-alias",
        "db",
        "deb:nets",
        "sleep",
        "300",
    )
    peer_ip = cove(
        "inspect", "--format", "{{.NetworkSettings.Networks.debnet.IPAddress}}", "peer"
    ).out.strip()
    out = sh(cove, "--network", "debnet", "deb:nets", "getent", "hosts", "peer", "db").stdout.decode()
    assert out.split() == [peer_ip, "peer", peer_ip, "db"]
    cove("rm", "-f", "peer")


# -- stores side by side -------------------------------------------------------------------


def bridge_subnet(cove: CoveRunner, network: str) -> tuple[str, str]:
    details = json.loads(cove("network", "inspect", network).out)[0]
    return details["Options"]["com.docker.network.bridge.name"], details["IPAM"]["Config"][0]["Subnet"]


def test_stores_side_by_side_get_their_own_subnets(
    cove_busybox: CoveRunner, other_busybox: CoveRunner
) -> None:
    """Each network's subnet is claimed on the host when it is made, so a second store (or
    engine) sees it taken even before any container of the first one runs."""
    mine = [
        bridge_subnet(cove_busybox, "bridge"),
        bridge_subnet(cove_busybox, cove_busybox("network", "create", "app").out.strip()),
    ]
    theirs = [
        bridge_subnet(other_busybox, "bridge"),
        bridge_subnet(other_busybox, other_busybox("network", "create", "app").out.strip()),
    ]
    subnets = [s for _, s in mine + theirs]
    assert len(set(subnets)) == 4, subnets
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, check=True).stdout.decode()
    for bridge, subnet in mine + theirs:
        assert f"{subnet} dev {bridge} " in routes, (bridge, subnet, routes)


def test_wiring_refuses_a_subnet_taken_since(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("network", "create", "--subnet", "10.232.0.0/24", "app")
    bridge, _ = bridge_subnet(cove, "app")
    ip("link", "delete", bridge)  # as after a reboot, and then someone else takes the subnet:
    ip("link", "add", "covetest-taken", "type", "bridge")
    try:
        ip("addr", "add", "10.232.0.1/24", "dev", "covetest-taken")
        ip("link", "set", "covetest-taken", "up")
        result = cove("run", "--rm", "--network", "app", "busybox", "true", check=False)
        assert result.rc == 125 and "subnet 10.232.0.0/24 is in use on this host now" in result.err, result
    finally:
        ip("link", "delete", "covetest-taken")


@pytest.mark.slow
def test_releasing_one_store_leaves_another_stores_network(
    cove_busybox: CoveRunner, other_busybox: CoveRunner, tmp_path: Path
) -> None:
    """What a test's cleanup does to its own store (namespaces, bridges, rules, DNS server)
    leaves a container of another store on the same host working, by name and by port."""
    mine, theirs = cove_busybox, other_busybox
    theirs("network", "create", "app")
    web = start_web(theirs, "web", web_root(tmp_path), "--network", "app", "-p", "18084:80")
    mine("network", "create", "app")
    mine("run", "-d", "--name", "idle", "--network", "app", "busybox", "sleep", "300")
    mine("run", "-d", "--name", "idle2", "-p", "18085:80", "busybox", "sleep", "300")
    my_bridges = [bridge_subnet(mine, n)[0] for n in ("bridge", "app")]
    assert len(cove_namespaces(mine)) == 2
    release_host_network(mine)
    assert cove_namespaces(mine) == set()
    assert not any(Path("/sys/class/net", b).exists() for b in my_bridges)
    assert cove_namespaces(theirs) == {theirs.netns(web)}
    assert fetch("http://127.0.0.1:18084/") == "hello from web\n"
    assert sh(theirs, "--network", "app", "busybox", *get_cmd("web")).stdout == b"hello from web\n"
