"""The OCI runtime spec cove builds for a container, checked against Docker's rules.

Inputs are built as the engine builds them (``ContainerService._start``): a stored
``ContainerConfig``, the image's config dict, the resolved user and the host mounts.
Docker's reference is moby's ``daemon/commit.go`` (merge), ``daemon/create.go``,
``daemon/container/env.go``, ``daemon/daemon_unix.go`` and ``daemon/pkg/oci/defaults.go``.
"""

from __future__ import annotations

import json
import resource
import signal
from pathlib import Path
from typing import Any

import pytest

from cove.containers import spec as container_spec
from cove.containers.model import (
    BIND,
    TMPFS,
    VOLUME,
    ContainerConfig,
    DeviceRequest,
    MountSpec,
    NetworkMode,
    Resources,
    Ulimit,
)
from cove.containers.spec import HostMount, bind_options, tmpfs_options
from cove.containers.users import ResolvedUser
from cove.errors import InvalidArgument, Kind
from cove.host import sysinfo
from cove.runtime import caps
from cove.runtime import spec as oci

CID = "5d41402abc4b2a76b9719d911017c592" * 2
CONTAINER_DIR = Path("/var/lib/cove/containers") / CID
ROOTFS = CONTAINER_DIR / "bundle" / "rootfs"
HOSTNAME = CID[:12]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MB = 1024 * 1024

ROOT = ResolvedUser(0, 0, (0,), "/root")
APP = ResolvedUser(1000, 1001, (1001, 27, 100), "/home/app")

# What `docker image inspect postgres` shows under Config, trimmed.
POSTGRES = {
    "Env": [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/16/bin",
        "GOSU_VERSION=1.17",
        "LANG=en_US.utf8",
        "PGDATA=/var/lib/postgresql/data",
    ],
    "Entrypoint": ["docker-entrypoint.sh"],
    "Cmd": ["postgres"],
    "WorkingDir": "",
    "StopSignal": "SIGINT",
}
ALPINE = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]}

DOCKER_DEFAULT_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
}  # fmt: skip


def cfg(**kwargs: Any) -> ContainerConfig:
    return ContainerConfig(image=kwargs.pop("image", "alpine"), **kwargs)


def build(
    config: ContainerConfig | None = None, image: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "container_id": CID,
        "config": config if config is not None else cfg(),
        "image": ALPINE if image is None else image,
        "rootfs": ROOTFS,
        "hostname": HOSTNAME,
        "user": ROOT,
        "mounts": [],
        "etc_dir": CONTAINER_DIR,
        "cgroup_version": 2,
        "cpus_available": 4,
        "init_binary": None,
        "known_caps": caps.ALL_CAPS,
    }
    args.update(kw)
    return container_spec.build(**args)


def env_of(spec: dict[str, Any]) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in spec["process"]["env"]]
    assert len({k for k, _ in pairs}) == len(pairs), f"a variable is set twice: {pairs}"
    return dict((k, v) for k, v in pairs)


def mount_at(spec: dict[str, Any], destination: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [m for m in spec["mounts"] if m["destination"] == destination]
    assert len(found) == 1, f"{len(found)} mounts at {destination}"
    return found[0]


def environment(config: ContainerConfig, image: dict[str, Any], user: ResolvedUser = ROOT) -> dict[str, str]:
    items = container_spec.environment(config, image, HOSTNAME, user)
    result = dict(item.split("=", 1) for item in items)
    assert len(result) == len(items), f"a variable is set twice: {items}"
    return result


# -- command: ENTRYPOINT and CMD -----------------------------------------------------------


def test_image_entrypoint_and_cmd_are_joined() -> None:
    assert container_spec.command(cfg(), POSTGRES) == ["docker-entrypoint.sh", "postgres"]


def test_image_cmd_alone() -> None:
    assert container_spec.command(cfg(), ALPINE) == ["/bin/sh"]


def test_user_command_replaces_image_cmd_but_keeps_entrypoint() -> None:
    config = cfg(cmd=["postgres", "-c", "fsync=off"])
    assert container_spec.command(config, POSTGRES) == ["docker-entrypoint.sh", "postgres", "-c", "fsync=off"]


def test_user_entrypoint_resets_image_cmd() -> None:
    # docker run --entrypoint bash postgres: runs `bash`, not `bash postgres`.
    assert container_spec.command(cfg(entrypoint=["bash"]), POSTGRES) == ["bash"]


def test_user_entrypoint_and_command() -> None:
    config = cfg(entrypoint=["bash"], cmd=["-c", "echo hi"])
    assert container_spec.command(config, POSTGRES) == ["bash", "-c", "echo hi"]


def test_empty_entrypoint_clears_the_image_entrypoint_and_runs_the_command() -> None:
    # docker run --entrypoint "" postgres ls: the CLI sends [""], as cove's CLI sends [].
    assert container_spec.command(cfg(entrypoint=[], cmd=["ls", "-l"]), POSTGRES) == ["ls", "-l"]
    assert container_spec.command(cfg(entrypoint=[""], cmd=["ls"]), POSTGRES) == ["ls"]


def test_empty_entrypoint_without_command_is_no_command() -> None:
    # Docker: the image CMD went away with the entrypoint -> "no command specified".
    for entrypoint in ([], [""]):
        with pytest.raises(InvalidArgument, match="no command specified") as info:
            container_spec.command(cfg(entrypoint=entrypoint), POSTGRES)
        assert info.value.kind is Kind.INVALID_ARGUMENT
        assert info.value.hint


def test_image_without_command_needs_one_from_the_user() -> None:
    with pytest.raises(InvalidArgument, match="no command specified"):
        container_spec.command(cfg(), {"Env": [], "Cmd": None, "Entrypoint": None})
    with pytest.raises(InvalidArgument, match="no command specified"):
        container_spec.command(cfg(), {})
    assert container_spec.command(cfg(cmd=["/hello"]), {}) == ["/hello"]


# -- environment ---------------------------------------------------------------------------


def test_environment_defaults() -> None:
    env = environment(cfg(), {})
    assert env == {"PATH": DEFAULT_PATH, "HOSTNAME": HOSTNAME, "HOME": "/root"}


def test_image_env_is_kept_and_its_path_wins() -> None:
    env = environment(cfg(), POSTGRES)
    assert env["PATH"].endswith(":/usr/lib/postgresql/16/bin")
    assert env["PGDATA"] == "/var/lib/postgresql/data"
    assert env["LANG"] == "en_US.utf8"
    assert env["HOSTNAME"] == HOSTNAME


def test_user_env_overrides_image_env_and_adds_more() -> None:
    config = cfg(env=["PGDATA=/data", "POSTGRES_PASSWORD=secret", "PATH=/opt/bin"])
    env = environment(config, POSTGRES)
    assert env["PGDATA"] == "/data"
    assert env["POSTGRES_PASSWORD"] == "secret"
    assert env["PATH"] == "/opt/bin"
    assert env["LANG"] == "en_US.utf8"


def test_later_user_env_wins_and_values_keep_their_equals_signs() -> None:
    config = cfg(env=["A=1", "A=2", "OPTS=-Dx=y -Dz=w", "EMPTY="])
    env = environment(config, {})
    assert env["A"] == "2"
    assert env["OPTS"] == "-Dx=y -Dz=w"
    assert env["EMPTY"] == ""


def test_a_name_without_a_value_unsets_it() -> None:
    env = environment(cfg(env=["PGDATA", "A=1", "A", "NEVER"]), POSTGRES)
    assert "PGDATA" not in env and "A" not in env and "NEVER" not in env
    assert env["LANG"] == "en_US.utf8"


def test_hostname_variable_can_be_overridden() -> None:
    assert environment(cfg(env=["HOSTNAME=db"]), {})["HOSTNAME"] == "db"
    assert environment(cfg(), {"Env": ["HOSTNAME=img"]})["HOSTNAME"] == "img"


def test_term_only_with_a_tty_and_the_users_wins() -> None:
    assert "TERM" not in environment(cfg(), {})
    assert environment(cfg(tty=True), {})["TERM"] == "xterm"
    assert environment(cfg(tty=True, env=["TERM=dumb"]), {})["TERM"] == "dumb"
    assert environment(cfg(tty=True), {"Env": ["TERM=linux"]})["TERM"] == "linux"


def test_home_comes_from_the_user_unless_set() -> None:
    assert environment(cfg(), {}, APP)["HOME"] == "/home/app"
    assert environment(cfg(), {}, ResolvedUser(4242, 4242, (4242,), ""))["HOME"] == "/"
    assert environment(cfg(env=["HOME=/srv"]), {}, APP)["HOME"] == "/srv"
    assert environment(cfg(), {"Env": ["HOME=/var/lib/app"]}, APP)["HOME"] == "/var/lib/app"


# -- working directory, stop signal ------------------------------------------------------


def test_working_dir_precedence() -> None:
    assert container_spec.working_dir(cfg(), {}) == "/"
    assert container_spec.working_dir(cfg(), POSTGRES) == "/"  # WorkingDir "" in the image
    assert container_spec.working_dir(cfg(), {"WorkingDir": "/app"}) == "/app"
    assert container_spec.working_dir(cfg(workdir="/srv/www"), {"WorkingDir": "/app"}) == "/srv/www"


@pytest.mark.parametrize(("workdir", "image_dir"), [("app", None), (None, "relative/dir"), ("./x", "/app")])
def test_relative_working_dir_is_refused(workdir: str | None, image_dir: str | None) -> None:
    with pytest.raises(InvalidArgument, match="needs to be an absolute path"):
        container_spec.working_dir(cfg(workdir=workdir), {"WorkingDir": image_dir})


def test_stop_signal_precedence() -> None:
    assert container_spec.stop_signal(cfg(), {}) == signal.SIGTERM
    assert container_spec.stop_signal(cfg(), POSTGRES) == signal.SIGINT
    assert container_spec.stop_signal(cfg(stop_signal="SIGQUIT"), POSTGRES) == signal.SIGQUIT
    assert container_spec.stop_signal(cfg(stop_signal="9"), POSTGRES) == 9
    assert container_spec.stop_signal(cfg(stop_signal="usr1"), {}) == signal.SIGUSR1


def test_bad_stop_signal() -> None:
    with pytest.raises(InvalidArgument, match="invalid signal"):
        container_spec.stop_signal(cfg(stop_signal="SIGNOPE"), {})
    with pytest.raises(InvalidArgument, match="invalid signal"):
        container_spec.stop_signal(cfg(), {"StopSignal": "0"})


# -- ulimits ---------------------------------------------------------------------------------


def test_ulimits_become_rlimits() -> None:
    soft_nofile = 1024
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard_nofile = soft_nofile if hard == resource.RLIM_INFINITY else max(soft_nofile, min(hard, 4096))
    config = cfg(ulimits=[Ulimit("nofile", soft_nofile, hard_nofile), Ulimit("core", 0, 0)])
    limits = container_spec.rlimits(config)
    assert [(r.name, r.soft, r.hard) for r in limits] == [
        ("RLIMIT_NOFILE", soft_nofile, hard_nofile),
        ("RLIMIT_CORE", 0, 0),
    ]
    spec = build(config)
    assert spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "soft": soft_nofile, "hard": hard_nofile},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]


def test_no_ulimits_no_rlimits_key() -> None:
    assert "rlimits" not in build()["process"]


@pytest.mark.parametrize(
    "name",
    ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
     "rtprio", "rttime", "sigpending", "stack"],
)  # fmt: skip
def test_every_docker_ulimit_name_is_accepted(name: str) -> None:
    (limit,) = container_spec.rlimits(cfg(ulimits=[Ulimit(name, 1, 2)]), lambda _: None)
    assert limit.name == f"RLIMIT_{name.upper()}"


def test_unknown_ulimit_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="invalid ulimit type: files"):
        container_spec.rlimits(cfg(ulimits=[Ulimit("files", 1, 1)]))


def test_soft_ulimit_above_hard_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="soft limit 2048 is above the hard limit 1024"):
        container_spec.rlimits(cfg(ulimits=[Ulimit("nofile", 2048, 1024)]))


def test_ulimit_above_the_hosts_hard_limit_is_refused() -> None:
    host = {"nofile": 4096}.get
    assert container_spec.rlimits(cfg(ulimits=[Ulimit("nofile", 4096, 4096)]), host)[0].hard == 4096
    with pytest.raises(InvalidArgument, match=r"above this host's hard limit \(4096\)") as info:
        container_spec.rlimits(cfg(ulimits=[Ulimit("nofile", 1024, 4097)]), host)
    assert info.value.hint == "use at most 4096"
    assert container_spec.rlimits(cfg(ulimits=[Ulimit("nproc", 1, 1 << 40)]), host)[0].hard == 1 << 40


def test_the_hosts_hard_limits_by_default() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert sysinfo.hard_rlimit("nofile") == (None if hard == resource.RLIM_INFINITY else hard)
    assert sysinfo.hard_rlimit("no-such-limit") is None
    if hard != resource.RLIM_INFINITY:
        with pytest.raises(InvalidArgument, match="above this host's hard limit"):
            container_spec.rlimits(cfg(ulimits=[Ulimit("nofile", 1, hard + 1)]))


# -- resources -------------------------------------------------------------------------------


def resources(**kwargs: Any) -> dict[str, Any]:
    return container_spec.resources(cfg(resources=Resources(**kwargs)), 4).to_spec()


def test_no_resource_options_no_limits() -> None:
    assert resources() == {}
    linux_resources = build()["linux"]["resources"]
    assert set(linux_resources) == {"devices"}


def test_memory_limit_lets_swap_double_it() -> None:
    # Docker: with --memory and no --memory-swap, memory+swap is twice the memory.
    assert resources(memory=512 * MB) == {"memory": {"limit": 512 * MB, "swap": 1024 * MB}}


def test_memory_swap() -> None:
    assert resources(memory=512 * MB, memory_swap=768 * MB)["memory"] == {"limit": 512 * MB, "swap": 768 * MB}
    assert resources(memory=512 * MB, memory_swap=512 * MB)["memory"] == {"limit": 512 * MB, "swap": 512 * MB}
    assert resources(memory=512 * MB, memory_swap=-1)["memory"] == {"limit": 512 * MB, "swap": -1}


def test_memory_swap_zero_is_unset_as_in_docker() -> None:
    # Docker's docs: "If --memory-swap is set to 0, the setting is ignored, and the value is
    # treated as unset". moby adaptContainerSettings: MemorySwap == 0 -> 2 * Memory, and
    # verifyPlatformContainerResources only refuses a swap limit > 0 without a memory limit.
    assert resources(memory=512 * MB, memory_swap=0)["memory"] == {"limit": 512 * MB, "swap": 1024 * MB}
    assert "memory" not in resources(memory_swap=0)


def test_minimum_memory_is_6mb() -> None:
    assert resources(memory=6 * MB)["memory"]["limit"] == 6 * MB
    with pytest.raises(InvalidArgument, match="minimum memory limit allowed is 6MB"):
        resources(memory=6 * MB - 1)
    with pytest.raises(InvalidArgument, match="minimum memory limit allowed is 6MB"):
        resources(memory=4096)


def test_memory_swap_needs_memory() -> None:
    with pytest.raises(InvalidArgument, match="always set a memory limit"):
        resources(memory_swap=1024 * MB)
    assert resources(memory_swap=-1) == {"memory": {"swap": -1}}


def test_memory_swap_below_memory_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="memory-swap limit should be larger than memory limit"):
        resources(memory=512 * MB, memory_swap=256 * MB)


@pytest.mark.parametrize(
    ("cpus", "quota"),
    [(1.0, 100_000), (1.5, 150_000), (0.5, 50_000), (0.01, 1_000), (4.0, 400_000), (0.25, 25_000)],
)
def test_cpus_become_quota_over_a_100ms_period(cpus: float, quota: int) -> None:
    assert resources(cpus=cpus) == {"cpu": {"quota": quota, "period": 100_000}}


@pytest.mark.parametrize(("cpus", "quota"), [(0.29, 29_000), (0.57, 57_000), (2.3, 230_000), (1.1, 110_000)])
def test_cpus_quota_is_exact_for_decimal_values(cpus: float, quota: int) -> None:
    # Docker parses --cpus into integer nano-CPUs and computes NanoCPUs * 100000 / 1e9, so
    # --cpus 0.29 gives a 29000us quota. int(0.29 * 100_000) is 28999.
    assert resources(cpus=cpus)["cpu"]["quota"] == quota


def test_cpus_zero_is_unset_as_in_docker() -> None:
    # moby getCPUResources sets a quota only when NanoCPUs > 0.
    assert resources(cpus=0.0) == {}


def test_cpus_at_the_edges_of_the_range() -> None:
    assert resources(cpus=4.0)["cpu"]["quota"] == 400_000
    assert resources(cpus=0.01)["cpu"]["quota"] == 1_000
    assert resources(cpus=3.999999999)["cpu"]["quota"] == 399_999  # Docker truncates the division


@pytest.mark.parametrize("cpus", [0.001, 4.01, 64.0, -1.0])
def test_cpus_out_of_range(cpus: float) -> None:
    with pytest.raises(
        InvalidArgument, match=r"range of CPUs is from 0\.01 to 4\.00, as there are only 4 CPUs"
    ):
        resources(cpus=cpus)


def test_cpu_shares() -> None:
    assert resources(cpu_shares=512) == {"cpu": {"shares": 512}}
    assert resources(cpus=2.0, cpu_shares=2048) == {
        "cpu": {"quota": 200_000, "period": 100_000, "shares": 2048}
    }


def test_pids_limit() -> None:
    assert resources(pids_limit=100) == {"pids": {"limit": 100}}
    assert resources(pids_limit=-1) == {}
    assert resources(pids_limit=None) == {}


def test_pids_limit_zero_is_unlimited_as_in_docker() -> None:
    # moby postContainersCreate: "Both `0` and `-1` are accepted as 'unlimited'", so
    # `docker run --pids-limit 0` runs without a limit.
    assert resources(pids_limit=0) == {}
    assert resources(pids_limit=-5) == {}  # any value <= 0 (moby getPidsLimit)


def test_resources_in_the_spec_keep_the_device_rules() -> None:
    config = cfg(
        resources=Resources(memory=256 * MB, memory_swap=-1, cpus=0.5, cpu_shares=256, pids_limit=64)
    )
    linux_resources = build(config)["linux"]["resources"]
    assert linux_resources["memory"] == {"limit": 256 * MB, "swap": -1}
    assert linux_resources["cpu"] == {"quota": 50_000, "period": 100_000, "shares": 256}
    assert linux_resources["pids"] == {"limit": 64}
    assert linux_resources["devices"][0] == {"allow": False, "type": "a", "access": "rwm"}


# -- mount options -----------------------------------------------------------------------------


def test_bind_options() -> None:
    assert bind_options(False) == ("rbind", "rw", "rprivate")
    assert bind_options(True) == ("rbind", "ro", "rprivate")
    assert bind_options(False, "rshared") == ("rbind", "rw", "rshared")
    assert bind_options(True, "slave") == ("rbind", "ro", "slave")


def test_tmpfs_options() -> None:
    # --tmpfs adds noexec (Docker's default for HostConfig.Tmpfs); --mount type=tmpfs does not.
    assert tmpfs_options(None, None, True) == ("nosuid", "nodev", "noexec")
    assert tmpfs_options(None, None, False) == ("nosuid", "nodev")
    assert tmpfs_options(64 * MB, 0o1777, False) == ("nosuid", "nodev", f"size={64 * MB}", "mode=1777")
    assert tmpfs_options(0, 0o700, True) == ("nosuid", "nodev", "noexec", "mode=700")
    assert tmpfs_options(None, 0, False) == ("nosuid", "nodev", "mode=0")


def test_mount_entries_put_parents_before_children() -> None:
    mounts = [
        HostMount(BIND, "/srv/cache", "/data/cache/", bind_options(False)),
        HostMount("tmpfs", "tmpfs", "/data/cache/tmp", tmpfs_options(None, None, True)),
        HostMount(BIND, "/srv/data", "/data", bind_options(True)),
        HostMount(BIND, "/srv/logs", "/logs", bind_options(False)),
    ]
    entries = container_spec.mount_entries(mounts)
    assert [e["destination"] for e in entries] == ["/data", "/logs", "/data/cache/", "/data/cache/tmp"]
    assert entries[0] == {
        "destination": "/data",
        "type": "bind",
        "source": "/srv/data",
        "options": ["rbind", "ro", "rprivate"],
    }
    assert entries[3]["options"] == ["nosuid", "nodev", "noexec"]


# -- build: the whole spec ---------------------------------------------------------------------


def test_spec_basics() -> None:
    spec = build(cfg(cmd=["echo", "hi"]), POSTGRES, user=APP)
    assert spec["ociVersion"].startswith("1.")
    assert spec["root"] == {"path": str(ROOTFS), "readonly": False}
    assert spec["hostname"] == HOSTNAME
    assert spec["linux"]["cgroupsPath"] == f"/cove/{CID}"
    process = spec["process"]
    assert process["args"] == ["docker-entrypoint.sh", "echo", "hi"]
    assert process["cwd"] == "/"
    assert process["terminal"] is False
    assert process["noNewPrivileges"] is False
    assert process["user"] == {"uid": 1000, "gid": 1001, "additionalGids": [1001, 27, 100]}
    env = env_of(spec)
    assert env["HOME"] == "/home/app"
    assert env["PGDATA"] == "/var/lib/postgresql/data"
    assert json.loads(json.dumps(spec)) == spec  # written as config.json


def test_spec_user_without_supplementary_groups() -> None:
    user = ResolvedUser(33, 33, (), "/var/www")
    assert build(user=user)["process"]["user"] == {"uid": 33, "gid": 33}


def test_spec_tty_and_workdir() -> None:
    spec = build(cfg(tty=True, workdir="/work"), {"Cmd": ["bash"], "WorkingDir": "/app"})
    assert spec["process"]["terminal"] is True
    assert spec["process"]["cwd"] == "/work"
    assert env_of(spec)["TERM"] == "xterm"


def test_spec_surfaces_invalid_options() -> None:
    with pytest.raises(InvalidArgument, match="no command specified"):
        build(cfg(entrypoint=[]), POSTGRES)
    with pytest.raises(InvalidArgument, match="absolute path"):
        build(cfg(workdir="rel"))
    with pytest.raises(InvalidArgument, match="unknown capability"):
        build(cfg(cap_add=["CAP_WIZARD"]))
    with pytest.raises(InvalidArgument, match="minimum memory"):
        build(cfg(resources=Resources(memory=1)))


@pytest.mark.parametrize(("version", "expected"), [(2, True), (1, False)])
def test_namespaces(version: int, expected: bool) -> None:
    types = [ns["type"] for ns in build(cgroup_version=version)["linux"]["namespaces"]]
    assert {"mount", "network", "uts", "pid", "ipc"} <= set(types)
    assert ("cgroup" in types) is expected  # Docker: a private cgroup namespace on v2
    assert "user" not in types
    assert all("path" not in ns for ns in build(cgroup_version=version)["linux"]["namespaces"])


@pytest.mark.parametrize("network", ["private", "none"])
def test_private_and_none_networks_get_their_own_namespace(network: str) -> None:
    namespaces = build(cfg(network=NetworkMode.parse(network)))["linux"]["namespaces"]
    assert {"type": "network"} in namespaces


def test_host_network_shares_the_hosts_namespace() -> None:
    types = [ns["type"] for ns in build(cfg(network=NetworkMode.parse("host")))["linux"]["namespaces"]]
    assert "network" not in types
    assert {"mount", "uts", "pid", "ipc"} <= set(types)


def test_default_capabilities_are_dockers() -> None:
    spec = build()
    capabilities = spec["process"]["capabilities"]
    assert set(capabilities) == {"bounding", "effective", "permitted"}  # no inheritable (CVE-2022-24769)
    assert set(capabilities["bounding"]) == DOCKER_DEFAULT_CAPS
    assert capabilities["effective"] == capabilities["bounding"] == capabilities["permitted"]
    assert "ambient" not in capabilities


def test_cap_add_and_cap_drop_reach_the_spec_and_seccomp() -> None:
    spec = build(cfg(cap_add=["sys_admin", "CAP_NET_ADMIN"], cap_drop=["MKNOD", "net_raw"]))
    bounding = set(spec["process"]["capabilities"]["bounding"])
    assert bounding == DOCKER_DEFAULT_CAPS - {"CAP_MKNOD", "CAP_NET_RAW"} | {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}
    rules = spec["linux"]["seccomp"]["syscalls"]
    allowed = {n for r in rules if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") for n in r["names"]}
    assert {"mount", "unshare", "setns", "clone", "clone3"} <= allowed


def test_cap_drop_all() -> None:
    spec = build(cfg(cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"]))
    assert spec["process"]["capabilities"]["bounding"] == ["CAP_NET_BIND_SERVICE"]


def test_caps_are_limited_to_what_the_host_knows() -> None:
    known = caps.ALL_CAPS[:38]
    spec = build(cfg(cap_add=["ALL"]), known_caps=known)
    assert spec["process"]["capabilities"]["bounding"] == list(known)


def test_default_seccomp_profile() -> None:
    profile = build()["linux"]["seccomp"]
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1
    names = {n for r in profile["syscalls"] for n in r["names"]}
    assert "mount" not in names
    assert "kexec_load" not in names
    assert {"read", "execve", "clone", "personality"} <= names
    clone = next(r for r in profile["syscalls"] if r["names"] == ["clone"])
    assert clone["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"


def test_seccomp_unconfined_keeps_the_default_caps() -> None:
    spec = build(cfg(seccomp="unconfined"))
    assert "seccomp" not in spec["linux"]
    assert set(spec["process"]["capabilities"]["bounding"]) == DOCKER_DEFAULT_CAPS
    assert spec["linux"]["maskedPaths"]


def test_custom_seccomp_profile_is_evaluated_with_the_containers_caps() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        ],
    }
    plain = build(cfg(seccomp=json.dumps(profile)))["linux"]["seccomp"]
    assert plain == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}],
    }
    admin = build(cfg(seccomp=json.dumps(profile), cap_add=["SYS_ADMIN"]))["linux"]["seccomp"]
    assert {"names": ["mount"], "action": "SCMP_ACT_ALLOW"} in admin["syscalls"]


def test_no_new_privileges() -> None:
    assert build(cfg(no_new_privileges=True))["process"]["noNewPrivileges"] is True
    assert build()["process"]["noNewPrivileges"] is False


def test_read_only_rootfs() -> None:
    spec = build(cfg(read_only=True))
    assert spec["root"] == {"path": str(ROOTFS), "readonly": True}
    # the writable places Docker keeps under --read-only
    assert "ro" not in mount_at(spec, "/dev/shm")["options"]
    assert "ro" not in mount_at(spec, "/etc/hosts")["options"]


def test_masked_and_readonly_paths() -> None:
    linux = build()["linux"]
    assert set(linux["readonlyPaths"]) == {
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    }
    assert {
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
        "/sys/devices/virtual/powercap", "/sys/firmware",
    } <= set(linux["maskedPaths"])  # fmt: skip


def test_proc_interrupts_is_masked_as_in_docker() -> None:
    # Docker 28.0.2 masks /proc/interrupts (GHSA-6fw5-f8r9-fgfm: thermal interrupt counts leak
    # the host's activity to a container).
    assert "/proc/interrupts" in build()["linux"]["maskedPaths"]


def test_cpu_thermal_throttle_counters_are_masked_where_the_host_has_them(tmp_path: Path) -> None:
    # Same advisory as /proc/interrupts: Docker masks each CPU's thermal_throttle that exists.
    cpus = tmp_path / "devices/system/cpu"
    for name in ("cpu0", "cpu2", "cpu10"):
        (cpus / name / "thermal_throttle").mkdir(parents=True)
    (cpus / "cpu1").mkdir()
    (cpus / "cpufreq").mkdir()
    paths = oci.masked_paths(str(tmp_path))
    assert paths[-3:] == [
        "/sys/devices/system/cpu/cpu0/thermal_throttle",
        "/sys/devices/system/cpu/cpu2/thermal_throttle",
        "/sys/devices/system/cpu/cpu10/thermal_throttle",
    ]
    assert "/proc/interrupts" in paths
    assert oci.masked_paths(str(tmp_path / "none")) == list(oci.MASKED_PATHS)


def test_proc_sys_and_dev_mounts() -> None:
    spec = build()
    proc = mount_at(spec, "/proc")
    assert (proc["type"], set(proc["options"])) == ("proc", {"nosuid", "noexec", "nodev"})
    sys = mount_at(spec, "/sys")
    assert sys["type"] == "sysfs"
    assert {"ro", "nosuid", "noexec", "nodev"} <= set(sys["options"])
    assert "ro" in mount_at(spec, "/sys/fs/cgroup")["options"]
    dev = mount_at(spec, "/dev")
    assert dev["type"] == "tmpfs"
    assert {"nosuid", "mode=755"} <= set(dev["options"])
    assert "noexec" not in dev["options"]  # /dev/shm aside, Docker's /dev keeps exec
    pts = mount_at(spec, "/dev/pts")
    assert pts["type"] == "devpts"
    assert {"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"} <= set(pts["options"])
    shm = mount_at(spec, "/dev/shm")
    assert (shm["type"], shm["source"]) == ("tmpfs", "shm")
    assert {"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"} <= set(shm["options"])
    assert mount_at(spec, "/dev/mqueue")["type"] == "mqueue"
    destinations = [m["destination"] for m in spec["mounts"]]
    assert destinations.index("/dev") < destinations.index("/dev/pts") < destinations.index("/dev/shm")
    assert destinations.index("/sys") < destinations.index("/sys/fs/cgroup")


def rule(kind: str, major: int | None, minor: int | None, access: str) -> dict[str, Any]:
    out: dict[str, Any] = {"allow": True, "type": kind, "access": access}
    if major is not None:
        out["major"] = major
    if minor is not None:
        out["minor"] = minor
    return out


def test_minimal_dev_device_rules() -> None:
    rules = build()["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "type": "a", "access": "rwm"}  # deny everything first
    expected = [
        rule("c", 1, 3, "rwm"),  # null
        rule("c", 1, 5, "rwm"),  # zero
        rule("c", 1, 7, "rwm"),  # full
        rule("c", 1, 8, "rwm"),  # random
        rule("c", 1, 9, "rwm"),  # urandom
        rule("c", 5, 0, "rwm"),  # tty
        rule("c", 5, 1, "rwm"),  # console
        rule("c", 5, 2, "rwm"),  # ptmx
        rule("c", 136, None, "rwm"),  # pts/*
        rule("c", None, None, "m"),  # mknod of char devices, not their use
        rule("b", None, None, "m"),
    ]
    for item in expected:
        assert item in rules, item
    # no block device and no other char device may be read or written
    for r in rules[1:]:
        if r["type"] == "b" or "major" not in r:
            assert r["access"] == "m", r
    assert build()["linux"].get("devices", []) == []


def test_etc_files_are_bound_from_the_container_directory() -> None:
    spec = build()
    for name in ("hostname", "hosts", "resolv.conf"):
        mount = mount_at(spec, f"/etc/{name}")
        assert mount == {
            "destination": f"/etc/{name}",
            "type": "bind",
            "source": str(CONTAINER_DIR / name),
            "options": ["rbind", "rw", "rprivate"],
        }


def test_a_user_mount_on_an_etc_file_replaces_cove_s() -> None:
    mine = HostMount(BIND, "/home/me/resolv.conf", "/etc/resolv.conf", bind_options(True))
    spec = build(mounts=[mine])
    mount = mount_at(spec, "/etc/resolv.conf")
    assert mount["source"] == "/home/me/resolv.conf"
    assert mount["options"] == ["rbind", "ro", "rprivate"]
    assert mount_at(spec, "/etc/hosts")["source"] == str(CONTAINER_DIR / "hosts")


def mounts_like_the_engine(specs: list[MountSpec], volumes: Path) -> list[HostMount]:
    """ContainerService._mount_specs without the host: volume names map under ``volumes``."""
    out = []
    for m in specs:
        if m.type == BIND:
            out.append(HostMount("bind", m.source, m.target, bind_options(m.readonly, m.propagation)))
        elif m.type == VOLUME:
            out.append(
                HostMount("bind", str(volumes / m.source / "_data"), m.target, bind_options(m.readonly))
            )
        elif m.type == TMPFS:
            options = tmpfs_options(m.tmpfs_size, m.tmpfs_mode, m.propagation == "flag")
            out.append(HostMount("tmpfs", "tmpfs", m.target, options))
    return out


def test_bind_volume_and_tmpfs_mounts() -> None:
    volumes = Path("/var/lib/cove/volumes")
    specs = [
        MountSpec(BIND, "/app/src", "/home/me/src", readonly=True),
        MountSpec(BIND, "/shared", "/mnt/shared", propagation="rshared"),
        MountSpec(VOLUME, "/var/lib/postgresql/data", "pgdata"),
        MountSpec(TMPFS, "/run", tmpfs_size=16 * MB, propagation="flag"),
        MountSpec(TMPFS, "/scratch", tmpfs_mode=0o1777),
    ]
    config = cfg(mounts=specs)
    spec = build(config, POSTGRES, mounts=mounts_like_the_engine(specs, volumes))
    assert mount_at(spec, "/app/src") == {
        "destination": "/app/src",
        "type": "bind",
        "source": "/home/me/src",
        "options": ["rbind", "ro", "rprivate"],
    }
    assert mount_at(spec, "/shared")["options"] == ["rbind", "rw", "rshared"]
    data = mount_at(spec, "/var/lib/postgresql/data")
    assert (data["source"], data["options"]) == (
        "/var/lib/cove/volumes/pgdata/_data",
        ["rbind", "rw", "rprivate"],
    )
    run = mount_at(spec, "/run")
    assert (run["type"], run["source"]) == ("tmpfs", "tmpfs")
    assert run["options"] == ["nosuid", "nodev", "noexec", f"size={16 * MB}"]
    assert mount_at(spec, "/scratch")["options"] == ["nosuid", "nodev", "mode=1777"]


def test_user_mounts_come_after_the_defaults_parents_first() -> None:
    mounts = [
        HostMount(BIND, "/srv/b", "/data/cache", bind_options(False)),
        HostMount(BIND, "/srv/a", "/data", bind_options(False)),
    ]
    destinations = [m["destination"] for m in build(mounts=mounts)["mounts"]]
    assert destinations.index("/proc") < destinations.index("/data") < destinations.index("/data/cache")


def test_tmpfs_on_dev_shm_replaces_the_default() -> None:
    shm = HostMount("tmpfs", "tmpfs", "/dev/shm", tmpfs_options(256 * MB, None, True))
    spec = build(mounts=[shm])
    mount = mount_at(spec, "/dev/shm")
    assert mount["options"] == ["nosuid", "nodev", "noexec", f"size={256 * MB}"]


def test_devices() -> None:
    config = cfg(
        devices=[DeviceRequest("/dev/null", "/dev/sink", "rw"), DeviceRequest("/dev/zero", "/dev/zero")]
    )
    linux = build(config)["linux"]
    assert linux["devices"][0] == {
        "path": "/dev/sink",
        "type": "c",
        "major": 1,
        "minor": 3,
        "fileMode": linux["devices"][0]["fileMode"],
        "uid": 0,
        "gid": 0,
    }
    assert linux["devices"][1]["path"] == "/dev/zero"
    assert (linux["devices"][1]["major"], linux["devices"][1]["minor"]) == (1, 5)
    rules = linux["resources"]["devices"]
    assert rules[-2:] == [rule("c", 1, 3, "rw"), rule("c", 1, 5, "rwm")]


def test_privileged() -> None:
    spec = build(cfg(privileged=True, cap_drop=["CHOWN"]), known_caps=caps.ALL_CAPS)
    assert spec["process"]["capabilities"]["bounding"] == list(caps.ALL_CAPS)
    assert "seccomp" not in spec["linux"]
    assert spec["linux"]["maskedPaths"] == []
    assert spec["linux"]["readonlyPaths"] == []
    assert "ro" not in mount_at(spec, "/sys")["options"]
    assert "ro" not in mount_at(spec, "/sys/fs/cgroup")["options"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "type": "a", "access": "rwm"}]
    paths = {d["path"] for d in spec["linux"].get("devices", [])}
    assert "/dev/null" in paths
    assert "/dev/console" not in paths


def test_privileged_with_a_custom_seccomp_profile_keeps_the_profile() -> None:
    # Docker 27 (moby 896de6d426): --privileged still disables the default profile, but a
    # profile given with --security-opt seccomp=FILE is applied.
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["reboot"], "action": "SCMP_ACT_ERRNO"}],
    }
    spec = build(cfg(privileged=True, seccomp=json.dumps(profile)))
    assert spec["linux"].get("seccomp") == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["reboot"], "action": "SCMP_ACT_ERRNO"}],
    }


def test_privileged_with_seccomp_unconfined_or_default_has_no_profile() -> None:
    assert "seccomp" not in build(cfg(privileged=True, seccomp="unconfined"))["linux"]
    assert "seccomp" not in build(cfg(privileged=True, seccomp="default"))["linux"]


def test_privileged_custom_profile_sees_every_capability() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}
        ],
    }
    spec = build(cfg(privileged=True, seccomp=json.dumps(profile)))
    assert spec["linux"]["seccomp"]["syscalls"] == [{"names": ["mount"], "action": "SCMP_ACT_ALLOW"}]


def test_init() -> None:
    spec = build(cfg(init=True), POSTGRES, init_binary="/usr/bin/tini-static")
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "docker-entrypoint.sh", "postgres"]
    assert mount_at(spec, "/sbin/docker-init") == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": "/usr/bin/tini-static",
        "options": ["rbind", "ro", "rprivate"],
    }


def test_init_binary_is_only_mounted_with_init() -> None:
    spec = build(init_binary="/usr/bin/tini-static")
    assert spec["process"]["args"] == ["/bin/sh"]
    assert all(m["destination"] != "/sbin/docker-init" for m in spec["mounts"])


def test_init_without_a_binary_on_the_host() -> None:
    with pytest.raises(InvalidArgument, match="--init needs tini") as info:
        build(cfg(init=True), init_binary=None)
    assert info.value.hint


def test_sysctls() -> None:
    assert "sysctl" not in build()["linux"]
    spec = build(cfg(sysctls={"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}))
    assert spec["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}


def test_stored_config_round_trip_builds_the_same_spec() -> None:
    # The engine stores ContainerConfig as JSON and builds the spec at every start.
    config = cfg(
        cmd=["postgres"],
        env=["A=1"],
        mounts=[MountSpec(TMPFS, "/run", propagation="flag")],
        resources=Resources(memory=64 * MB, cpus=1.0, pids_limit=50),
        ulimits=[Ulimit("core", 0, 0)],
        cap_add=["NET_ADMIN"],
        devices=[DeviceRequest("/dev/null", "/dev/null")],
        image_defaults=POSTGRES,
    )
    again = ContainerConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert again == config
    assert build(again, POSTGRES) == build(config, POSTGRES)
