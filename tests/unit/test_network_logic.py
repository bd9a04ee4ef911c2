"""Network logic that needs no host: address management and the rendered nftables rules."""

from __future__ import annotations

import ipaddress

import pytest

from cove.engine.networks import mac_for
from cove.errors import Conflict, InvalidArgument
from cove.network import ipam
from cove.network.ports import Binding, PortSpec, format_binding, parse_expose, parse_publish
from cove.network.rules import BridgeNet, PortRule, render, render_iptables

NET = ipaddress.IPv4Network


def test_subnets_come_from_docker_pools_past_what_is_taken() -> None:
    assert ipam.pick_subnet([]) == NET("172.17.0.0/16")
    assert ipam.pick_subnet([NET("172.17.0.0/16"), NET("172.18.5.0/24")]) == NET("172.19.0.0/16")
    every_172 = [NET(f"172.{i}.0.0/16") for i in range(17, 32)]
    assert ipam.pick_subnet(every_172) == NET("192.168.0.0/20")
    assert ipam.pick_subnet([*every_172, NET("192.168.0.0/17")]) == NET("192.168.128.0/20")
    with pytest.raises(Conflict, match="fully subnetted"):
        ipam.pick_subnet([NET("0.0.0.0/0")])


def test_given_subnets_are_checked() -> None:
    assert ipam.parse_subnet("10.1.0.0/16") == NET("10.1.0.0/16")
    for bad, text in [("10.1.0.1/16", "did you mean 10.1.0.0/16"), ("nonsense", "invalid subnet"),
                      ("10.0.0.0/31", "too small"), ("fd00::/64", "only IPv4")]:  # fmt: skip
        with pytest.raises(InvalidArgument, match=text):
            ipam.parse_subnet(bad)
    with pytest.raises(Conflict, match=r"overlaps 10\.1\.0\.0/16 \(mynet\)"):
        ipam.check_free(NET("10.1.2.0/24"), [("mynet", NET("10.1.0.0/16"))])


def test_gateway_and_range() -> None:
    subnet = NET("10.5.0.0/24")
    assert str(ipam.gateway_for(subnet, None)) == "10.5.0.1"
    assert str(ipam.gateway_for(subnet, "10.5.0.254")) == "10.5.0.254"
    for bad in ("10.5.0.0", "10.5.0.255", "10.6.0.1"):
        with pytest.raises(InvalidArgument):
            ipam.gateway_for(subnet, bad)
    assert ipam.range_within(subnet, "10.5.0.128/25") == NET("10.5.0.128/25")
    with pytest.raises(InvalidArgument):
        ipam.range_within(subnet, "10.6.0.0/25")


def test_addresses_are_never_handed_out_twice() -> None:
    subnet = NET("10.5.0.0/29")  # .1 gateway, .2-.6 hosts
    gateway = ipaddress.IPv4Address("10.5.0.1")
    used: list[str] = []
    for _ in range(5):
        used.append(str(ipam.allocate(subnet, subnet, gateway, used)))
    assert used == ["10.5.0.2", "10.5.0.3", "10.5.0.4", "10.5.0.5", "10.5.0.6"]
    with pytest.raises(Conflict, match="no free addresses"):
        ipam.allocate(subnet, subnet, gateway, used)
    assert str(ipam.allocate(subnet, subnet, gateway, used[1:])) == "10.5.0.2"  # freed, then reused
    with pytest.raises(Conflict, match="already in use"):
        ipam.allocate(subnet, subnet, gateway, used, "10.5.0.3")
    with pytest.raises(InvalidArgument, match="not a host address"):
        ipam.allocate(subnet, subnet, gateway, [], "10.5.0.7")
    pool = NET("10.5.0.4/30")
    assert str(ipam.allocate(subnet, pool, gateway, [])) == "10.5.0.5"


def test_mac_addresses_follow_dockers_scheme() -> None:
    assert mac_for("172.17.0.2") == "02:42:ac:11:00:02"


def test_rules_isolate_networks_and_publish_ports() -> None:
    text = render(
        [BridgeNet("cove0", "172.17.0.0/16", False), BridgeNet("cove-a", "172.18.0.0/16", False),
         BridgeNet("cove-i", "10.9.0.0/24", True)],
        [PortRule("tcp", "", 8080, "172.17.0.2", 80), PortRule("udp", "127.0.0.1", 5353, "172.18.0.3", 53)],
    )  # fmt: skip
    assert 'iifname "cove0" oifname { "cove-a", "cove-i" } drop' in text
    assert 'iifname "cove-i" drop' in text and 'oifname "cove-i" drop' in text
    assert 'ip saddr 172.17.0.0/16 oifname != "cove0" masquerade' in text
    assert "10.9.0.0/24" not in text.split("chain postrouting")[1].split("chain")[0]  # internal: no NAT
    assert "tcp dport 8080 dnat to 172.17.0.2:80" in text
    assert "ip daddr 127.0.0.1 udp dport 5353 dnat to 172.18.0.3:53" in text
    assert text.count("fib daddr type local jump ports") == 2


def test_iptables_rules_match_the_nftables_ones() -> None:
    text = render_iptables(
        "COVE-AB",
        [BridgeNet("cove0", "172.17.0.0/16", False), BridgeNet("cove-i", "10.9.0.0/24", True)],
        [PortRule("tcp", "127.0.0.1", 8080, "172.17.0.2", 80)],
    )
    assert text.startswith("*filter\n:COVE-AB-FORWARD - [0:0]\n") and text.count("COMMIT") == 2
    assert "-A COVE-AB-FORWARD -i cove0 -o cove-i -j DROP" in text
    assert "-A COVE-AB-FORWARD -i cove-i -j DROP" in text and "-A COVE-AB-FORWARD -o cove-i -j DROP" in text
    assert "-A COVE-AB-POSTROUTING -s 172.17.0.0/16 ! -o cove0 -j MASQUERADE" in text
    assert "10.9.0.0/24 ! -o" not in text  # internal: no way out, no NAT
    assert (
        "-A COVE-AB-PORTS -d 127.0.0.1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
        in text
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80", [PortSpec(80)]),
        ("8080:80", [PortSpec(80, host_port=8080)]),
        ("127.0.0.1::53/udp", [PortSpec(53, "udp", "127.0.0.1")]),
        ("0.0.0.0:9000:90", [PortSpec(90, host_port=9000)]),
        ("8000-8001:80-81", [PortSpec(80, host_port=8000), PortSpec(81, host_port=8001)]),
        ("8000-8009:80", [PortSpec(80, host_port=8000, host_port_end=8009)]),
        ("7000-7001", [PortSpec(7000), PortSpec(7001)]),
    ],
)
def test_publish_syntax(text: str, expected: list[PortSpec]) -> None:
    assert parse_publish(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("80/icmp", "invalid protocol"),
        ("70000", "invalid container port"),
        ("a:b:c:d", "invalid port specification"),
        ("1.2.3:80:80", "invalid host address"),
        ("8000-8002:80-81", "differ in length"),
        ("90-80", "invalid container port range"),
        ("[::1]:80:80", "IPv6"),
    ],
)
def test_publish_syntax_errors(text: str, error: str) -> None:
    with pytest.raises(InvalidArgument, match=error):
        parse_publish(text)


def test_expose_and_binding_text() -> None:
    assert parse_expose("8000-8002/udp") == [(8000, "udp"), (8001, "udp"), (8002, "udp")]
    assert format_binding(Binding(80, "tcp", "", 8080)) == "0.0.0.0:8080->80/tcp"
