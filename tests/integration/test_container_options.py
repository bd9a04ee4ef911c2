"""run/create options, checked from inside real containers."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest

from tests.conftest import CoveRunner


def run_out(cove: CoveRunner, *args: str) -> str:
    proc = cove.proc("run", "--rm", *args)
    return proc.stdout.decode()


@pytest.mark.slow
def test_env_workdir_user_hostname_entrypoint(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\nSHARED=file\n")
    out = run_out(
        cove,
        "-e",
        "A=1",
        "-e",
        "SHARED=flag",
        "--env-file",
        str(env_file),
        "-w",
        "/tmp/work",
        "-u",
        "nobody",
        "-h",
        "box",
        "busybox",
        "sh",
        "-c",
        'echo "$A $FROM_FILE $SHARED $HOSTNAME"; pwd; id -u; hostname',
    )
    assert out.splitlines() == ["1 yes flag box", "/tmp/work", "65534", "box"]
    assert run_out(cove, "--entrypoint", "echo", "busybox", "from", "entrypoint") == "from entrypoint\n"
    assert run_out(cove, "-u", "1234:5678", "busybox", "id") == "uid=1234 gid=5678 groups=5678\n"
    missing = cove.proc("run", "--rm", "-u", "nosuchuser", "busybox", "true", check=False)
    assert missing.returncode == 125 and b"unable to find user nosuchuser" in missing.stderr


def test_labels_and_cidfile(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    cidfile = tmp_path / "cid"
    cove("create", "-l", "team=infra", "--label", "tier", "--cidfile", str(cidfile), "busybox")
    cid = cidfile.read_text()
    labels = json.loads(cove("inspect", "--format", "{{json .Config.Labels}}", cid).out)
    assert labels == {"team": "infra", "tier": ""}
    assert cove("ps", "-a", "--filter", "label=team=infra", "-q").out == cid[:12] + "\n"
    again = cove("create", "--cidfile", str(cidfile), "busybox", check=False)
    assert again.rc == 125 and "container ID file found" in again.err


@pytest.mark.slow
def test_binds_volumes_tmpfs_and_read_only(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    host = tmp_path / "share"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    script = (
        "cat /share/in.txt; echo written > /share/out.txt; echo v > /vol/file; "
        "touch /ro/x 2>/dev/null || echo ro-refused; mount | grep ' /scratch ' | cut -d' ' -f5; "
        "touch /rootfile 2>/dev/null || echo rootfs-ro; touch /tmp2/t && echo tmpfs-ok"
    )
    out = run_out(
        cove,
        "-v",
        f"{host}:/share",
        "-v",
        "data:/vol",
        "-v",
        f"{host}:/ro:ro",
        "--mount",
        "type=tmpfs,target=/scratch",
        "--tmpfs",
        "/tmp2",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        script,
    )
    assert out.splitlines() == ["from host", "ro-refused", "tmpfs", "rootfs-ro", "tmpfs-ok"]
    assert (host / "out.txt").read_text() == "written\n"
    assert run_out(cove, "-v", "data:/again", "busybox", "cat", "/again/file") == "v\n"
    # --tmpfs options: ro, and exec over the default noexec
    tmpfs_script = (
        "touch /ro-tmp/x 2>/dev/null || echo tmpfs-ro; "
        "grep -E ' /(ro|exec)-tmp ' /proc/mounts | cut -d' ' -f4"
    )
    tmpfs = run_out(
        cove,
        "--tmpfs",
        "/ro-tmp:ro",
        "--tmpfs",
        "/exec-tmp:exec,size=1m",
        "busybox",
        "sh",
        "-c",
        tmpfs_script,
    )
    ro_line, exec_line = tmpfs.splitlines()[1:]
    assert tmpfs.splitlines()[0] == "tmpfs-ro"
    assert ro_line.startswith("ro,") and "noexec" in ro_line
    assert exec_line.startswith("rw,") and "noexec" not in exec_line and "size=1024k" in exec_line
    created = tmp_path / "made-by-v"
    run_out(cove, "-v", f"{created}:/m", "busybox", "true")
    assert created.is_dir()  # -v creates a missing host directory, as Docker does
    missing = cove.proc(
        "run",
        "--rm",
        "--mount",
        f"type=bind,source={tmp_path}/nope,target=/x",
        "busybox",
        "true",
        check=False,
    )
    assert missing.returncode == 125 and b"bind source path does not exist" in missing.stderr


@pytest.mark.slow
def test_a_new_volume_is_filled_from_the_image(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    # /etc holds files in the image: a fresh named volume mounted there starts with them.
    assert "passwd" in run_out(cove, "-v", "etcvol:/etc", "busybox", "ls", "/etc").split()
    path = json.loads(cove("volume", "inspect", "etcvol").out)[0]["Mountpoint"]
    assert (Path(path) / "passwd").exists()
    # An anonymous volume too; and nocopy leaves it empty.
    assert run_out(cove, "-v", "/etc", "busybox", "ls", "/etc/group") == "/etc/group\n"
    assert "passwd" not in run_out(cove, "-v", "empty:/etc:nocopy", "busybox", "ls", "/etc").split()


def test_resources_land_in_the_cgroup(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run",
        "-d",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "50",
        "busybox",
        "sleep",
        "30",
    ).out.strip()
    try:
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        if v2:
            base = Path("/sys/fs/cgroup/cove") / cid
            assert (base / "memory.max").read_text().strip() == str(64 << 20)
            assert (base / "cpu.max").read_text().split()[0] == "50000"
            assert (base / "pids.max").read_text().strip() == "50"
        else:
            base = Path("/sys/fs/cgroup")
            assert (base / "memory/cove" / cid / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
            assert (base / "cpu/cove" / cid / "cpu.cfs_quota_us").read_text().strip() == "50000"
            assert (base / "cpu/cove" / cid / "cpu.shares").read_text().strip() == "512"
            assert (base / "pids/cove" / cid / "pids.max").read_text().strip() == "50"
        host = json.loads(cove("inspect", "--format", "{{json .HostConfig}}", cid).out)
        assert host["Memory"] == 64 << 20 and host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 50
        cove("update", "--memory", "96m", "--pids-limit", "60", cid)
        if not v2:
            assert (base / "memory/cove" / cid / "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
            assert (base / "pids/cove" / cid / "pids.max").read_text().strip() == "60"
        assert json.loads(cove("inspect", "--format", "{{json .HostConfig}}", cid).out)["PidsLimit"] == 60
        cove("update", "--pids-limit", "-1", "--cpus", "0", cid)  # lifts both limits, as in Docker
        if v2:
            assert (base / "pids.max").read_text().strip() == "max"
            assert (base / "cpu.max").read_text().split()[0] == "max"
        else:
            assert (base / "pids/cove" / cid / "pids.max").read_text().strip() == "max"
            assert (base / "cpu/cove" / cid / "cpu.cfs_quota_us").read_text().strip() == "-1"
    finally:
        cove("rm", "-f", cid)
    too_small = cove("run", "--rm", "-m", "1m", "busybox", "true", check=False)
    assert too_small.rc == 125 and "minimum memory limit" in too_small.err
    cpus = cove("run", "--rm", "--cpus", "64", "busybox", "true", check=False)
    assert cpus.rc == 125 and "range of CPUs" in cpus.err


def test_ulimits_within_the_hard_limit(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert (
        run_out(cove, "--ulimit", "nofile=512:1024", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
        == "512\n1024\n"
    )
    above = cove("run", "--rm", "--ulimit", f"nofile={hard + 1}", "busybox", "true", check=False)
    assert above.rc == 125 and "above this host's hard limit" in above.err


def _caps(cove: CoveRunner, *flags: str) -> int:
    line = next(
        x
        for x in run_out(cove, *flags, "busybox", "cat", "/proc/self/status").splitlines()
        if x.startswith("CapEff:")
    )
    return int(line.split()[1], 16)


@pytest.mark.slow
def test_capabilities(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    default = _caps(cove)
    net_admin, chown, sys_admin = 1 << 12, 1 << 0, 1 << 21
    assert default & chown and not default & net_admin and not default & sys_admin
    assert _caps(cove, "--cap-add", "NET_ADMIN") & net_admin
    assert not _caps(cove, "--cap-drop", "chown") & chown
    assert _caps(cove, "--cap-drop", "ALL") == 0
    assert _caps(cove, "--privileged") & sys_admin
    bad = cove("run", "--rm", "--cap-add", "CAP_WIZARDRY", "busybox", "true", check=False)
    assert bad.rc == 125 and "unknown capability" in bad.err


@pytest.mark.slow
def test_security_profile(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    # Docker's default profile: no mounting, masked /proc paths, read-only /proc/sys and /sys.
    out = run_out(
        cove,
        "busybox",
        "sh",
        "-c",
        "mount -t tmpfs none /mnt 2>&1 | grep -q denied && echo no-mount; "
        "cat /proc/kcore 2>/dev/null | wc -c; "
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro-proc;"
        "touch /sys/x 2>/dev/null || echo ro-sys; grep Seccomp: /proc/self/status; "
        "grep NoNewPrivs /proc/self/status",
    )
    assert out.splitlines() == ["no-mount", "0", "ro-proc", "ro-sys", "Seccomp:\t2", "NoNewPrivs:\t0"]
    assert "NoNewPrivs:\t1" in run_out(
        cove, "--security-opt", "no-new-privileges", "busybox", "cat", "/proc/self/status"
    )
    assert "Seccomp:\t0" in run_out(
        cove, "--security-opt", "seccomp=unconfined", "busybox", "cat", "/proc/self/status"
    )
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
            }
        )
    )
    out = run_out(
        cove, "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c", "mkdir /x 2>&1 || true"
    )
    assert "Operation not permitted" in out
    # /dev is minimal: no host disks
    devices = run_out(cove, "busybox", "ls", "/dev").split()
    assert {"null", "zero", "random", "urandom", "tty", "pts", "shm"} <= set(devices)
    assert not any(d.startswith(("sda", "vda", "nvme")) for d in devices)
    assert "vda" in run_out(cove, "--privileged", "busybox", "ls", "/dev") or not Path("/dev/vda").exists()


@pytest.mark.slow
def test_devices(cove_busybox: CoveRunner) -> None:
    out = run_out(
        cove_busybox,
        "--device",
        "/dev/null:/dev/mynull",
        "busybox",
        "sh",
        "-c",
        "ls -l /dev/mynull; echo x > /dev/mynull && echo ok",
    )
    assert out.startswith("crw") and out.endswith("ok\n")
    missing = cove_busybox("run", "--rm", "--device", "/dev/nonexistent", "busybox", "true", check=False)
    assert missing.rc == 125 and "no such file or directory" in missing.err


@pytest.mark.slow
def test_network_modes(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    interfaces = run_out(cove, "busybox", "sh", "-c", "ls /sys/class/net").split()
    assert interfaces == ["eth0", "lo"]  # the default bridge network
    assert run_out(cove, "--network", "none", "busybox", "ls", "/sys/class/net").split() == ["lo"]
    host_ifaces = sorted(os.listdir("/sys/class/net"))
    assert (
        sorted(run_out(cove, "--network", "host", "busybox", "ls", "/sys/class/net").split()) == host_ifaces
    )
    hosts = run_out(cove, "--add-host", "db.local:10.1.2.3", "busybox", "cat", "/etc/hosts")
    assert "10.1.2.3\tdb.local" in hosts and "127.0.0.1\tlocalhost" in hosts
    resolv = run_out(
        cove, "--dns", "192.0.2.53", "--dns-search", "example.test", "busybox", "cat", "/etc/resolv.conf"
    )
    assert "nameserver 192.0.2.53" in resolv and "search example.test" in resolv
    bad = cove("run", "--rm", "--network", "mynet", "busybox", "true", check=False)
    assert bad.rc == 125 and "network mynet not found" in bad.err


@pytest.mark.slow
def test_init_reaps_and_forwards_signals(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    assert run_out(cove, "--init", "busybox", "sh", "-c", "ps -o pid,comm | head -3").split()[2:4] == [
        "1",
        "docker-init",
    ]
    cid = cove("run", "-d", "--init", "busybox", "sleep", "60").out.strip()
    cove("stop", "-t", "5", cid)  # with an init, SIGTERM reaches sleep at once
    assert cove("inspect", "--format", "{{.State.ExitCode}}", cid).out == "143\n"
    cove("rm", cid)


def test_stop_signal_and_timeout(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run",
        "-d",
        "--stop-signal",
        "USR1",
        "--stop-timeout",
        "3",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' USR1; while :; do sleep 0.1; done",
    ).out.strip()
    cove("stop", cid)
    assert cove("inspect", "--format", "{{.State.ExitCode}} {{.Config.StopSignal}}", cid).out == "9 USR1\n"
    cove("rm", cid)


def test_pull_never_and_unknown_images(cove_busybox: CoveRunner) -> None:
    proc = cove_busybox.proc("run", "--rm", "--pull", "never", "nosuchimage", check=False)
    assert proc.returncode == 125 and b"No such image: nosuchimage:latest" in proc.stderr


@pytest.mark.parametrize("flag", ["--sig-proxy=false", "--sig-proxy"])
def test_sig_proxy_flag_parses(cove_busybox: CoveRunner, flag: str) -> None:
    assert run_out(cove_busybox, flag, "busybox", "echo", "ok") == "ok\n"
