"""compose.convert: service snippets (YAML through the real loader) -> the engine's ContainerConfig,
with the meanings cove run's flags have; and the config hash's stability."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from cove.compose.convert import config_hash, pull_policy, service_container
from cove.compose.errors import ComposeError
from cove.compose.loader import load_project
from cove.compose.model import Project
from cove.compose.options import ProjectOptions
from cove.engine.requests import (
    BIND,
    TMPFS,
    VOLUME,
    DeviceRequest,
    HealthConfig,
    MountSpec,
    NetworkKind,
    NetworkMode,
    PortSpec,
    PullPolicy,
    Resources,
    RestartName,
    RestartPolicy,
    Ulimit,
)
from cove.oci.platform import host_platform

TOP = """
volumes: {data: {}, named: {name: custom-name}, outside: {external: true}}
networks: {front: {}, back: {}, shared: {external: true, name: the-shared-net}}
"""


def project_of(
    tmp_path: Path, service: str, *, top: str = TOP, environ: dict[str, str] | None = None
) -> Project:
    body = textwrap.indent(textwrap.dedent(service).strip(), "    ")
    (tmp_path / "compose.yaml").write_text(f"name: proj\nservices:\n  s:\n{body}\n{top}")
    return load_project(ProjectOptions(working_dir=str(tmp_path), environ=environ or {}))


def convert(tmp_path: Path, service: str, **kw: Any) -> Any:
    project = project_of(tmp_path, service)
    return service_container(project, project.services["s"], 1, **kw)


def config(tmp_path: Path, service: str, **kw: Any) -> Any:
    return convert(tmp_path, service, **kw).config


def error(tmp_path: Path, service: str, **kw: Any) -> str:
    with pytest.raises(ComposeError) as info:
        convert(tmp_path, service, **kw)
    return str(info.value)


BASE = "image: busybox\n"

# (service body, ContainerConfig attribute, expected value)
FIELDS: list[tuple[str, str, Any]] = [
    ("", "image", "busybox"),
    ("command: echo 'a b' c", "cmd", ["echo", "a b", "c"]),
    ("command: [sh, -c, 'exit 0']", "cmd", ["sh", "-c", "exit 0"]),
    ("", "cmd", None),
    ("entrypoint: /bin/sh -c", "entrypoint", ["/bin/sh", "-c"]),
    ("entrypoint: []", "entrypoint", []),
    ("environment: {A: '1', B: ''}", "env", ["A=1", "B="]),
    ("environment: [A=1, C]", "env", ["A=1", "C"]),
    ("user: '1000:100'", "user", "1000:100"),
    ("working_dir: /srv", "workdir", "/srv"),
    ("hostname: box", "hostname", "box"),
    ("domainname: example.org", "domainname", "example.org"),
    ("stop_signal: SIGINT", "stop_signal", "SIGINT"),
    ("stop_grace_period: 1m30s", "stop_timeout", 90),
    ("stop_grace_period: 2500ms", "stop_timeout", 2),
    ("", "stop_timeout", None),
    ("init: true", "init", True),
    ("", "init", False),
    ("read_only: true", "read_only", True),
    ("privileged: true", "privileged", True),
    ("tty: true", "tty", True),
    ("stdin_open: true", "open_stdin", True),
    ("cap_add: [NET_ADMIN]\ncap_drop: [ALL]", "cap_add", ["NET_ADMIN"]),
    ("cap_add: [NET_ADMIN]\ncap_drop: [ALL]", "cap_drop", ["ALL"]),
    ("sysctls: {net.core.somaxconn: 1024}", "sysctls", {"net.core.somaxconn": "1024"}),
    ("sysctls: [net.ipv4.ip_forward=1]", "sysctls", {"net.ipv4.ip_forward": "1"}),
    ("ulimits: {nproc: 65535, nofile: {soft: 1024, hard: 2048}}", "ulimits",
     [Ulimit("nproc", 65535, 65535), Ulimit("nofile", 1024, 2048)]),
    ("devices: [/dev/fuse, '/dev/null:/dev/mynull:r']", "devices",
     [DeviceRequest("/dev/fuse", "/dev/fuse"), DeviceRequest("/dev/null", "/dev/mynull", "r")]),
    ("extra_hosts: ['a:1.2.3.4', 'b=5.6.7.8']", "extra_hosts", ["a:1.2.3.4", "b:5.6.7.8"]),
    ("extra_hosts: {c: 10.0.0.1, d: 'host-gateway'}", "extra_hosts", ["c:10.0.0.1", "d:host-gateway"]),
    ("extra_hosts: ['v6:::1']", "extra_hosts", ["v6:::1"]),
    ("dns: 8.8.8.8", "dns", ["8.8.8.8"]),
    ("dns: [1.1.1.1, 8.8.4.4]\ndns_search: example.org", "dns_search", ["example.org"]),
    ("dns_opt: [ndots:2, 'timeout:1']", "dns_options", ["ndots:2", "timeout:1"]),
    ("expose: ['80', '8000-8010/udp']", "expose", ["80", "8000-8010/udp"]),
    ("mac_address: 02:42:AC:11:00:02", "mac_address", "02:42:ac:11:00:02"),
    ("runtime: runc", "runtime", "runc"),
    ("platform: linux", "image", "busybox"),
    ("restart: always", "restart", RestartPolicy(RestartName.ALWAYS)),
    ("restart: 'no'", "restart", RestartPolicy(RestartName.NO)),
    ("", "restart", RestartPolicy(RestartName.NO)),
    ("restart: unless-stopped", "restart", RestartPolicy(RestartName.UNLESS_STOPPED)),
    ("restart: on-failure:3", "restart", RestartPolicy(RestartName.ON_FAILURE, 3)),
    ("restart: always\ndeploy: {restart_policy: {condition: on-failure, max_attempts: 2}}", "restart",
     RestartPolicy(RestartName.ON_FAILURE, 2)),
    ("deploy: {restart_policy: {condition: any}}", "restart", RestartPolicy(RestartName.ALWAYS)),
    ("deploy: {restart_policy: {condition: none}}", "restart", RestartPolicy(RestartName.NO)),
    ("mem_limit: 64m\nmemswap_limit: 128m\ncpus: 0.5\ncpu_shares: 512\npids_limit: 100", "resources",
     Resources(memory=64 << 20, memory_swap=128 << 20, cpus=0.5, cpu_shares=512, pids_limit=100)),
    ("deploy: {resources: {limits: {cpus: '1.5', memory: 1g, pids: 50}}}", "resources",
     Resources(memory=1 << 30, cpus=1.5, pids_limit=50)),
    ("mem_limit: 1g\ndeploy: {resources: {limits: {memory: 1024m}}}", "resources", Resources(memory=1 << 30)),
    ("deploy: {resources: {reservations: {cpus: '0.25'}}}", "resources", Resources()),  # swarm only: ignored
    ("security_opt: [no-new-privileges:true]", "no_new_privileges", True),
    ("security_opt: [no-new-privileges]", "no_new_privileges", True),
    ("security_opt: ['no-new-privileges=false']", "no_new_privileges", False),
    ("security_opt: [seccomp=unconfined]", "seccomp", "unconfined"),
    ("security_opt: ['seccomp:unconfined', 'label:disable', 'apparmor=unconfined']", "seccomp", "unconfined"),
    ("", "seccomp", "default"),
    ("logging: {driver: json-file, options: {max-size: 10m, max-file: '3'}}", "log_max_size", 10 << 20),
    ("logging: {driver: json-file, options: {max-size: 10m, max-file: '3'}}", "log_max_files", 3),
    ("logging: {driver: local, options: {max-file: '2'}}", "log_max_files", 2),
    ("logging: {options: {max-size: 1k}}", "log_max_size", 1024),
    ("healthcheck: {test: [CMD, 'true'], interval: 2s, timeout: 1s, retries: 4, start_period: 3s, "
     "start_interval: 100ms}", "healthcheck", HealthConfig(["CMD", "true"], 2.0, 1.0, 4, 3.0, 0.1)),
    ("healthcheck: {test: 'wget -q x'}", "healthcheck", HealthConfig(["CMD-SHELL", "wget -q x"])),
    ("healthcheck: {test: [CMD-SHELL, 'exit 0']}", "healthcheck", HealthConfig(["CMD-SHELL", "exit 0"])),
    ("healthcheck: {interval: 5s}", "healthcheck", HealthConfig([], interval=5.0)),  # the image's test
    ("healthcheck: {test: [NONE]}", "healthcheck", None),
    ("healthcheck: {test: [NONE]}", "no_healthcheck", True),
    ("healthcheck: {disable: true}", "no_healthcheck", True),
    ("", "no_healthcheck", False),
    ("", "healthcheck", None),
]  # fmt: skip


@pytest.mark.parametrize(("body", "attribute", "expected"), FIELDS)
def test_field(tmp_path: Path, body: str, attribute: str, expected: Any) -> None:
    assert getattr(config(tmp_path, BASE + body), attribute) == expected


PORTS: list[tuple[str, list[PortSpec]]] = [
    ("'80'", [PortSpec(80)]),
    ("'8080:80'", [PortSpec(80, host_port=8080)]),
    ("'127.0.0.1:8080:80'", [PortSpec(80, host_ip="127.0.0.1", host_port=8080)]),
    ("'0.0.0.0:8080:80'", [PortSpec(80, host_port=8080)]),
    ("'53:53/udp'", [PortSpec(53, "udp", host_port=53)]),
    ("'9000-9001:8000-8001'", [PortSpec(8000, host_port=9000), PortSpec(8001, host_port=9001)]),
    ("'3000-3001'", [PortSpec(3000), PortSpec(3001)]),
    ("'8000-8010:80'", [PortSpec(80, host_port=8000, host_port_end=8010)]),
    ("{target: 80, published: '8081', host_ip: 127.0.0.1, protocol: udp}",
     [PortSpec(80, "udp", "127.0.0.1", 8081)]),
    ("{target: 80, published: 7000-7005}", [PortSpec(80, host_port=7000, host_port_end=7005)]),
    ("{target: 80}", [PortSpec(80)]),
    ("{target: 80, published: 8082, mode: host}", [PortSpec(80, host_port=8082)]),
]  # fmt: skip


@pytest.mark.parametrize(("port", "expected"), PORTS)
def test_ports(tmp_path: Path, port: str, expected: list[PortSpec]) -> None:
    assert config(tmp_path, BASE + f"ports: [{port}]").publish == expected


def test_volumes(tmp_path: Path) -> None:
    mounts = config(
        tmp_path,
        BASE
        + textwrap.dedent("""
        volumes:
          - data:/data
          - named:/named:ro
          - outside:/outside:nocopy
          - /anonymous
          - ./src:/src:ro
          - /abs/path:/abs:rshared
          - {type: bind, source: ./long, target: /long}
          - {type: bind, source: /opt, target: /opt, bind: {create_host_path: false}}
          - {type: volume, source: data, target: /again, read_only: true, volume: {nocopy: true}}
          - {type: volume, target: /anon2}
          - {type: tmpfs, target: /scratch, tmpfs: {size: 1m, mode: 0o700}}
          - {type: tmpfs, target: /ro-tmp, read_only: true}
        """),
    ).mounts
    assert mounts == [
        MountSpec(VOLUME, "/data", "proj_data"),
        MountSpec(VOLUME, "/named", "custom-name", readonly=True),
        MountSpec(VOLUME, "/outside", "outside", no_copy=True),
        MountSpec(VOLUME, "/anonymous"),
        MountSpec(BIND, "/src", str(tmp_path / "src"), readonly=True, create_host_path=True),
        MountSpec(BIND, "/abs", "/abs/path", propagation="rshared", create_host_path=True),
        MountSpec(BIND, "/long", str(tmp_path / "long"), create_host_path=True),  # long syntax: true as well
        MountSpec(BIND, "/opt", "/opt", create_host_path=False),
        MountSpec(VOLUME, "/again", "proj_data", readonly=True, no_copy=True),
        MountSpec(VOLUME, "/anon2"),
        MountSpec(TMPFS, "/scratch", tmpfs_size=1 << 20, tmpfs_mode=0o700),
        MountSpec(TMPFS, "/ro-tmp", readonly=True),
    ]


def test_tmpfs_key_and_shm_size(tmp_path: Path) -> None:
    mounts = config(tmp_path, BASE + "tmpfs: ['/run:size=1m,mode=1777,exec', /tmp]\nshm_size: 32m").mounts
    run, tmp, shm = mounts
    assert (run.target, run.tmpfs_size, run.tmpfs_mode, run.tmpfs_options) == (
        "/run",
        1 << 20,
        0o1777,
        ("exec",),
    )
    assert run.propagation == "flag" and tmp.propagation == "flag"  # as --tmpfs: noexec unless exec
    assert shm == MountSpec(TMPFS, "/dev/shm", tmpfs_size=32 << 20, tmpfs_mode=0o1777,
                            tmpfs_options=("nosuid", "noexec", "nodev"))  # fmt: skip
    # a mount of its own on /dev/shm wins over shm_size
    mounts = config(tmp_path, BASE + "tmpfs: ['/dev/shm:size=1m']\nshm_size: 32m").mounts
    assert [(m.target, m.tmpfs_size) for m in mounts] == [("/dev/shm", 1 << 20)]


def test_volumes_from(tmp_path: Path) -> None:
    project = project_of(
        tmp_path,
        BASE + "volumes_from: ['other:ro', 'container:outsider:rw', named]\nvolumes: [/mine]",
        top="  other: {image: busybox}\n  named: {image: busybox, container_name: fixed}\n" + TOP,
    )
    asked = []
    theirs = {
        "proj-other-1": [MountSpec(VOLUME, "/v", "vol1"), MountSpec(TMPFS, "/t")],
        "outsider": [MountSpec(BIND, "/b", "/host", readonly=True), MountSpec(VOLUME, "/mine", "x")],
        "fixed": [MountSpec(VOLUME, "/n", "vol2", readonly=True)],
    }

    def mounts_of(container: str) -> list[MountSpec]:
        asked.append(container)
        return theirs[container]

    sc = service_container(project, project.services["s"], 1, mounts_of=mounts_of)
    assert asked == ["proj-other-1", "outsider", "fixed"]
    assert sc.config.mounts == [
        MountSpec(VOLUME, "/mine"),  # its own mount wins over the other's at the same target
        MountSpec(VOLUME, "/v", "vol1", readonly=True),  # :ro; tmpfs is not shared
        MountSpec(BIND, "/b", "/host", readonly=False),  # :rw
        MountSpec(VOLUME, "/n", "vol2", readonly=True),  # no mode: as the other has it
    ]
    with pytest.raises(ComposeError, match=r"services\.s\.volumes_from\[0\]"):
        service_container(project, project.services["s"], 1)


NETS = "  other: {image: busybox, container_name: fixed}\n  plain: {image: busybox}\n" + TOP


def test_networks_by_priority_with_aliases(tmp_path: Path) -> None:
    sc = convert(
        tmp_path,
        BASE + textwrap.dedent("""
        networks:
          back: {aliases: [b1], priority: 1}
          front: {aliases: [f1, f2], ipv4_address: 172.30.0.10, priority: 100}
          shared: {}
        """),
    )  # fmt: skip
    c = sc.config
    assert c.network == NetworkMode(NetworkKind.NETWORK, "proj_front")
    assert c.network_aliases == ["proj-s-1", "s", "f1", "f2"]
    assert c.ip == "172.30.0.10"
    assert [(n.network, n.aliases, n.ipv4_address) for n in sc.more_networks] == [
        ("proj_back", ("proj-s-1", "s", "b1"), None),
        ("the-shared-net", ("proj-s-1", "s"), None),  # an external network: its own name
    ]


def test_default_network_and_container_name(tmp_path: Path) -> None:
    sc = convert(tmp_path, BASE + "container_name: my-box")
    assert sc.name == "my-box"
    assert sc.config.network == NetworkMode(NetworkKind.NETWORK, "proj_default")
    assert sc.config.network_aliases == ["my-box", "s"]
    assert sc.more_networks == ()


def test_oneoff_has_no_service_aliases_unless_asked(tmp_path: Path) -> None:
    sc = convert(tmp_path, BASE, oneoff=True, slug="abc123")
    assert sc.name == "proj-s-run-abc123"
    assert sc.config.network_aliases == ["proj-s-run-abc123"]
    assert sc.config.labels["com.docker.compose.oneoff"] == "True"
    sc = convert(tmp_path, BASE, oneoff=True, slug="abc123", use_aliases=True)
    assert sc.config.network_aliases == ["proj-s-run-abc123", "s"]
    # a one-off container does not take the service's container_name; run --name's wins
    assert convert(tmp_path, BASE + "container_name: box", oneoff=True, slug="x1").name == "proj-s-run-x1"
    assert convert(tmp_path, BASE, oneoff=True, slug="x1", container_name="mine").name == "mine"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("host", NetworkMode(NetworkKind.HOST)),
        ("none", NetworkMode(NetworkKind.NONE)),
        ("bridge", NetworkMode(NetworkKind.BRIDGE)),
        ("'service:plain'", NetworkMode(NetworkKind.CONTAINER, "proj-plain-1")),
        ("'service:other'", NetworkMode(NetworkKind.CONTAINER, "fixed")),  # its container_name
        ("'container:elsewhere'", NetworkMode(NetworkKind.CONTAINER, "elsewhere")),
    ],
)
def test_network_mode(tmp_path: Path, mode: str, expected: NetworkMode) -> None:
    project = project_of(tmp_path, BASE + f"network_mode: {mode}", top=NETS)
    sc = service_container(project, project.services["s"], 1)
    assert sc.config.network == expected
    assert sc.config.network_aliases == [] and sc.more_networks == ()


def test_environment_comes_resolved_with_env_file(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("FROM_FILE=1\nBOTH=file\n")
    project = project_of(
        tmp_path,
        BASE + "env_file: app.env\nenvironment: {BOTH: given, HOSTVAR: null}",
        environ={"HOSTVAR": "h"},
    )
    env = service_container(project, project.services["s"], 1).config.env
    assert env == ["FROM_FILE=1", "BOTH=given", "HOSTVAR=h"]


def test_labels(tmp_path: Path) -> None:
    sc = convert(
        tmp_path,
        BASE + "labels: {a: '1', empty: ''}\ndepends_on: {}\n",
        extra_labels={"com.docker.compose.image": "sha256:x"},
    )
    labels = sc.config.labels
    assert labels["a"] == "1" and labels["empty"] == ""
    assert labels["com.docker.compose.project"] == "proj"
    assert labels["com.docker.compose.service"] == "s"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.config-hash"] == sc.config_hash
    assert labels["com.docker.compose.project.working_dir"] == str(tmp_path)
    assert labels["com.docker.compose.image"] == "sha256:x"


def test_seccomp_profile_is_read_from_the_project_directory(tmp_path: Path) -> None:
    (tmp_path / "profile.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert config(tmp_path, BASE + "security_opt: [seccomp=profile.json]").seccomp.startswith("{")
    assert "profile.json" in error(tmp_path, BASE + "security_opt: [seccomp=missing/profile.json]")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("", PullPolicy.MISSING),
        ("pull_policy: always", PullPolicy.ALWAYS),
        ("pull_policy: never", PullPolicy.NEVER),
        ("pull_policy: missing", PullPolicy.MISSING),
        ("pull_policy: if_not_present", PullPolicy.MISSING),
        ("pull_policy: build", PullPolicy.NEVER),
        ("pull_policy: daily", PullPolicy.MISSING),
        ("pull_policy: every_12h", PullPolicy.MISSING),
    ],
)
def test_pull_policy(tmp_path: Path, policy: str, expected: PullPolicy) -> None:
    project = project_of(tmp_path, BASE + policy)
    assert pull_policy(project.services["s"]) == expected
    assert service_container(project, project.services["s"], 1).pull == expected


def test_link_with_an_alias_is_a_warning(tmp_path: Path) -> None:
    project = project_of(tmp_path, BASE + "links: ['plain:database', other]", top=NETS)
    warnings = service_container(project, project.services["s"], 1).warnings
    assert len(warnings) == 1 and '"database"' in warnings[0]


# (service body, what the one-line error must say)
ERRORS: list[tuple[str, str]] = [
    ("cpuset: '0'", "services.s.cpuset: not supported"),
    ("gpus: all", "services.s.gpus: not supported"),
    ("ipc: host", "services.s.ipc: not supported"),
    ("pid: host", "services.s.pid: not supported"),
    ("userns_mode: host", "services.s.userns_mode"),
    ("oom_score_adj: 100", "services.s.oom_score_adj"),
    ("group_add: [audio]", "services.s.group_add"),
    ("mem_reservation: 10m", "services.s.mem_reservation"),
    ("deploy: {resources: {reservations: {memory: 10m}}}", "services.s.mem_reservation"),
    ("deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}",
     "services.s.deploy.resources.reservations.devices: not supported"),
    ("volumes: [{type: volume, source: data, target: /d, volume: {subpath: x}}]", "services.s.volumes[0]"),
    ("volumes: [{type: npipe, source: x, target: /d}]", "services.s.volumes[0]"),
    ("ports: ['[::1]:80:80']", "services.s.ports[0]: IPv6"),
    ("networks: {front: {ipv6_address: 'fd00::5'}}", "services.s.networks.front.ipv6_address"),
    ("networks: {front: {ipv4_address: 10.0.0.300}}", "services.s.networks.front.ipv4_address: invalid"),
    ("logging: {driver: syslog}", 'services.s.logging.driver: "syslog"'),
    ("logging: {options: {tag: x}}", "services.s.logging.options"),
    ("restart: sometimes", "services.s.restart"),
    ("restart: always:3", "services.s.restart"),
    ("security_opt: ['label=user:USER']", "services.s.security_opt"),
    ("security_opt: [systempaths=unconfined]", "services.s.security_opt"),
    ("platform: windows/amd64", "services.s.platform"),
    ("healthcheck: {test: [RUN, x]}", "services.s.healthcheck.test"),
    ("tmpfs: ['/x:bogus']", "services.s.tmpfs[0]"),
    ("mem_limit: 1g\ndeploy: {resources: {limits: {memory: 2g}}}", "distinct values on 'mem_limit'"),
    ("cpus: 1\ndeploy: {resources: {limits: {cpus: '2'}}}", "distinct values on 'cpus'"),
    ("pids_limit: 10\ndeploy: {resources: {limits: {pids: 20}}}", "distinct values on 'pids_limit'"),
    ("mac_address: ff:ff:ff:ff:ff:ff", "services.s.mac_address"),
    ("devices: ['/dev/null:/dev/x:rwx']", "services.s.devices[0]"),
    ("devices: ['vendor.com/gpu=all']", "services.s.devices[0]: CDI"),
    ("runtime: /tmp/my-runtime", "services.s.runtime"),
    ("dns: [dns.example.org]", 'services.s.dns[0]: invalid DNS address "dns.example.org"'),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), ERRORS)
def test_errors_name_the_service_and_key(tmp_path: Path, body: str, message: str) -> None:
    assert message in error(tmp_path, BASE + body)


# -- the config hash -------------------------------------------------------------------------


def _hash(tmp_path: Path, body: str) -> str:
    return config_hash(project_of(tmp_path, BASE + body).services["s"])


def test_hash_is_stable(tmp_path: Path) -> None:
    body = "environment: {B: '2', A: '1'}\nports: ['80']\nlabels: {x: y}"
    first = _hash(tmp_path, body)
    assert first == _hash(tmp_path, body)
    assert first == _hash(tmp_path, "labels: {x: y}\nports: ['80']\nenvironment: {A: '1', B: '2'}")
    assert len(first) == 64


# Each: a service whose container differs from BASE's.
CHANGES = [
    "image: busybox:1.36",
    "command: ['true']",
    "entrypoint: [sh]",
    "environment: {A: '1'}",
    "ports: ['80']",
    "expose: ['80']",
    "volumes: [/x]",
    "networks: [front]",
    "network_mode: host",
    "healthcheck: {test: [CMD, 'true']}",
    "restart: always",
    "mem_limit: 1g",
    "cpus: 1",
    "deploy: {resources: {limits: {pids: 5}}}",
    "user: nobody",
    "working_dir: /w",
    "hostname: h",
    "labels: {a: b}",
    "stop_signal: SIGINT",
    "stop_grace_period: 3s",
    "init: true",
    "read_only: true",
    "tmpfs: [/t]",
    "cap_drop: [ALL]",
    "privileged: true",
    "security_opt: [no-new-privileges]",
    "ulimits: {nofile: 10}",
    "sysctls: {a.b: 1}",
    "extra_hosts: ['a:1.1.1.1']",
    "dns: [1.1.1.1]",
    "logging: {options: {max-size: 1m}}",
    "tty: true",
    "container_name: c1",
    "shm_size: 1m",
]


@pytest.mark.parametrize("body", CHANGES)
def test_hash_changes_with_the_container(tmp_path: Path, body: str) -> None:
    before = _hash(tmp_path, "")
    after = config_hash(
        project_of(tmp_path, body if body.startswith("image:") else BASE + body).services["s"]
    )
    assert after != before


@pytest.mark.parametrize(
    "body",
    [
        "scale: 3",
        "deploy: {replicas: 2}",
        "pull_policy: always",
        "pull_policy: every_2h",
        "profiles: [p]",
        "build: .",
        "depends_on: [plain]",
    ],
)
def test_hash_ignores_what_docker_compose_does(tmp_path: Path, body: str) -> None:
    before = config_hash(project_of(tmp_path, BASE, top=NETS).services["s"])
    project = project_of(tmp_path, BASE + body, top=NETS)
    services = project.services
    if "s" not in services:  # (a profile turns it off unless named)
        project = load_project(ProjectOptions(working_dir=str(tmp_path), environ={}, profiles=("p",)))
        services = project.services
    assert config_hash(services["s"]) == before


def test_the_hosts_platform_is_taken(tmp_path: Path) -> None:
    host = host_platform()
    assert config(tmp_path, BASE + f"platform: linux/{host.architecture}").image == "busybox"
    if host.variant:
        assert (
            config(tmp_path, BASE + f"platform: linux/{host.architecture}/{host.variant}").image == "busybox"
        )
    other = "arm64" if host.architecture != "arm64" else "amd64"
    assert "services.s.platform" in error(tmp_path, BASE + f"platform: linux/{other}")
