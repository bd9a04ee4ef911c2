"""The value objects of a container's options (network mode, restart and pull policies,
published ports, mounts): parsed once, validated, and stored so that older records still load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cove.containers.model import (
    BIND,
    TMPFS,
    VOLUME,
    ContainerConfig,
    MountSpec,
    NetworkKind,
    NetworkMode,
    PortSpec,
)
from cove.containers.store import ContainerStore
from cove.db.database import Database
from cove.errors import InvalidArgument
from cove.policies import PullPolicy, RestartName, RestartPolicy

# A record as cove wrote it before these value objects (`cove run --network backend
# --restart on-failure:3 -p 127.0.0.1:8080:80/udp -p 9000-9001:90-91 --tmpfs /run:exec,size=1m
# -v /srv:/srv:ro -v data:/data alpine true`): the restart policy as a name and a separate
# count, the ports as dictionaries, the network mode as text.
OLD_RECORD = json.loads(
    r"""{"image": "alpine", "entrypoint": null, "cmd": ["true"], "env": [], "workdir": null, "user": null, "hostname": null, "domainname": "", "labels": {}, "tty": false, "open_stdin": false, "stdin_once": false, "mounts": [{"type": "bind", "target": "/srv", "source": "/srv", "readonly": true, "propagation": "", "tmpfs_size": null, "tmpfs_mode": null, "no_copy": false, "create_host_path": true, "tmpfs_options": []}, {"type": "volume", "target": "/data", "source": "data", "readonly": false, "propagation": "", "tmpfs_size": null, "tmpfs_mode": null, "no_copy": false, "create_host_path": false, "tmpfs_options": []}, {"type": "tmpfs", "target": "/run", "source": "", "readonly": false, "propagation": "flag", "tmpfs_size": 1048576, "tmpfs_mode": null, "no_copy": false, "create_host_path": false, "tmpfs_options": ["exec"]}], "read_only": false, "network": "backend", "network_aliases": [], "ip": null, "mac_address": null, "publish": [{"container_port": 80, "protocol": "udp", "host_ip": "127.0.0.1", "host_port": 8080, "host_port_end": 0}, {"container_port": 90, "protocol": "tcp", "host_ip": "", "host_port": 9000, "host_port_end": 0}, {"container_port": 91, "protocol": "tcp", "host_ip": "", "host_port": 9001, "host_port_end": 0}], "publish_all": false, "expose": [], "dns": [], "dns_search": [], "extra_hosts": [], "resources": {"memory": null, "memory_swap": null, "cpus": null, "cpu_shares": null, "pids_limit": null}, "ulimits": [], "cap_add": [], "cap_drop": [], "privileged": false, "no_new_privileges": false, "seccomp": "default", "devices": [], "restart": "on-failure", "restart_max_retries": 3, "init": false, "stop_signal": null, "stop_timeout": null, "healthcheck": null, "no_healthcheck": false, "runtime": null, "log_max_size": null, "log_max_files": null, "auto_remove": false, "sysctls": {}, "image_defaults": {}}"""  # noqa: E501
)


# --- stored records ---------------------------------------------------------------------------


def test_a_record_in_the_old_format_still_loads(tmp_path: Path) -> None:
    db = Database(tmp_path / "cove.db")
    try:
        db.execute(
            "INSERT INTO containers(id, name, image_id, image_ref, snapshot_key, created, config,"
            " runtime) VALUES ('c0ffee', 'old', 'sha256:1', 'alpine', 'c0ffee', 1.0, ?, 'runc')",
            (json.dumps(OLD_RECORD),),
        )
        config = ContainerStore(db).get("c0ffee").config
    finally:
        db.close()
    assert config.network == NetworkMode(NetworkKind.NETWORK, "backend")
    assert config.restart == RestartPolicy(RestartName.ON_FAILURE, 3)
    assert config.publish == [
        PortSpec(80, "udp", "127.0.0.1", 8080),
        PortSpec(90, "tcp", "", 9000),
        PortSpec(91, "tcp", "", 9001),
    ]
    assert config.mounts == [
        MountSpec(BIND, "/srv", "/srv", readonly=True, create_host_path=True),
        MountSpec(VOLUME, "/data", "data"),
        MountSpec(TMPFS, "/run", propagation="flag", tmpfs_size=1 << 20, tmpfs_options=("exec",)),
    ]
    assert config.cmd == ["true"]


def test_a_config_round_trips_through_its_json() -> None:
    config = ContainerConfig.from_json(OLD_RECORD)
    again = ContainerConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert again == config
    stored = config.to_json()
    assert stored["network"] == "backend" and stored["restart"] == {"name": "on-failure", "max_retries": 3}


@pytest.mark.parametrize("network", ["private", "none", "host", "bridge", "container:web"])
def test_old_network_texts_load(network: str) -> None:
    mode = ContainerConfig.from_json({**OLD_RECORD, "network": network}).network
    assert str(mode) == {"private": "none"}.get(network, network)


def test_a_record_with_a_hostile_port_is_refused() -> None:
    bad = {**OLD_RECORD, "publish": [{"container_port": 70000, "protocol": "tcp"}]}
    with pytest.raises(InvalidArgument):
        ContainerConfig.from_json(bad)
    with pytest.raises(InvalidArgument):
        ContainerConfig.from_json({**OLD_RECORD, "publish": [{"container_port": "80"}]})
    with pytest.raises(InvalidArgument):
        ContainerConfig.from_json({**OLD_RECORD, "restart": "sometimes"})
    with pytest.raises(InvalidArgument):
        ContainerConfig.from_json({**OLD_RECORD, "restart": {"name": "always", "max_retries": 2}})


# --- network modes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "network"),
    [
        ("default", NetworkKind.BRIDGE, "bridge"),
        ("bridge", NetworkKind.BRIDGE, "bridge"),
        ("none", NetworkKind.NONE, None),
        ("private", NetworkKind.NONE, None),
        ("host", NetworkKind.HOST, None),
        ("container:web", NetworkKind.CONTAINER, None),
        ("backend", NetworkKind.NETWORK, "backend"),
    ],
)
def test_network_modes(text: str, kind: NetworkKind, network: str | None) -> None:
    mode = NetworkMode.parse(text)
    assert mode.kind is kind and mode.network == network and mode.own_namespace == (network is not None)
    assert NetworkMode.parse(str(mode)) == mode


@pytest.mark.parametrize("text", ["container:", "x" * 300, "a/b", "a\n"])
def test_bad_network_modes_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument):
        NetworkMode.parse(text)


# --- restart and pull policies ----------------------------------------------------------------


def test_restart_policy_decisions() -> None:
    on_failure = RestartPolicy.parse("on-failure:2")
    assert on_failure.should_restart(1, 0, stopped=False)
    assert on_failure.should_restart(1, 1, stopped=False)
    assert not on_failure.should_restart(1, 2, stopped=False)  # its retries are used up
    assert not on_failure.should_restart(0, 0, stopped=False)  # it did not fail
    assert RestartPolicy.parse("on-failure").should_restart(1, 1000, stopped=False)  # no limit
    for name in ("always", "unless-stopped"):
        policy = RestartPolicy.parse(name)
        assert policy.should_restart(0, 50, stopped=False) and not policy.should_restart(0, 0, stopped=True)
    assert not RestartPolicy().should_restart(1, 0, stopped=False)


@pytest.mark.parametrize("text", ["on-failure:99999999999", "always:1", "on-failure:", "x"])
def test_bad_restart_policies(text: str) -> None:
    with pytest.raises(InvalidArgument):
        RestartPolicy.parse(text)


def test_restart_policies_are_checked_however_made() -> None:
    with pytest.raises(InvalidArgument):
        RestartPolicy(RestartName.ALWAYS, 3)
    with pytest.raises(InvalidArgument):
        RestartPolicy(RestartName.ON_FAILURE, -1)


def test_pull_policy() -> None:
    assert PullPolicy.parse("missing") is PullPolicy.MISSING and PullPolicy.NEVER == "never"
    with pytest.raises(InvalidArgument, match="must be one of"):
        PullPolicy.parse("sometimes")


# --- mounts and ports -------------------------------------------------------------------------


def test_mount_specs_are_immutable() -> None:
    mount = MountSpec(VOLUME, "/data")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mount.source = "elsewhere"  # type: ignore[misc]
    assert dataclasses.replace(mount, source="named").source == "named"
    with pytest.raises(InvalidArgument):
        MountSpec("overlay", "/x")


def test_port_specs_are_checked_however_made() -> None:
    with pytest.raises(InvalidArgument):
        PortSpec(0)
    with pytest.raises(InvalidArgument):
        PortSpec(80, "icmp")
    with pytest.raises(InvalidArgument):
        PortSpec(80, host_port=9000, host_port_end=8000)
