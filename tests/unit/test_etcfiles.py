"""containers.etcfiles: the resolv.conf a container gets from the host's and its own options."""

from __future__ import annotations

from pathlib import Path

from cove.containers.etcfiles import resolv_conf

HOST = "nameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp.example\noptions edns0 trust-ad\n"


def test_the_hosts_settings_without_loopback_servers(tmp_path: Path) -> None:
    (tmp_path / "resolv.conf").write_text(HOST)
    text = resolv_conf(host_network=False, dns=[], dns_search=[], host_resolv=tmp_path / "resolv.conf")
    assert text == "nameserver 10.0.0.1\nsearch corp.example\noptions edns0 trust-ad\n"


def test_dns_options_replace_the_hosts_options(tmp_path: Path) -> None:
    (tmp_path / "resolv.conf").write_text(HOST)
    text = resolv_conf(
        host_network=False,
        dns=["10.9.9.9"],
        dns_search=["svc.example"],
        dns_options=["ndots:2", "timeout:1"],
        host_resolv=tmp_path / "resolv.conf",
    )
    assert text == "nameserver 10.9.9.9\nsearch svc.example\noptions ndots:2 timeout:1\n"
    missing = resolv_conf(
        host_network=False,
        dns=["1.1.1.1"],
        dns_search=[],
        dns_options=["ndots:1"],
        host_resolv=tmp_path / "none",
    )
    assert missing == "nameserver 1.1.1.1\noptions ndots:1\n"
