"""Logs, exec, attach and terminals, cp, export, diff, commit, top, stats, inspect."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import CoveRunner
from tests.helpers.containers import wait_until
from tests.helpers.terminal import pty_session, read_until


@pytest.mark.slow
def test_logs_formats_tail_since_and_timestamps(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run", "-d", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done"
    ).out.strip()
    cove("wait", cid)
    logs = cove.proc("logs", cid)
    assert logs.stdout == b"out1\nout2\nout3\nout4\nout5\n"
    assert logs.stderr == b"err1\nerr2\nerr3\nerr4\nerr5\n"
    tail = cove.proc("logs", "--tail", "2", cid)  # the two streams interleave as the monitor read them
    assert len((tail.stdout + tail.stderr).splitlines()) == 2
    stamped = cove.proc("logs", "-t", "--tail", "1", cid).stderr.decode()
    assert stamped.endswith(" err5\n") and stamped[:4].isdigit() and "T" in stamped
    assert cove.proc("logs", "--since", "1h", cid).stdout.count(b"\n") == 5
    assert cove.proc("logs", "--until", "1h", cid).stdout == b""
    # Docker's json-file format on disk
    path = cove("inspect", "--format", "{{.LogPath}}", cid).out.strip()
    first = json.loads(Path(path).read_text().splitlines()[0])
    assert set(first) == {"log", "stream", "time"} and first["log"] == "out1\n"
    cove("rm", cid)


@pytest.mark.slow
def test_logs_rotate_and_follow_across_rotation(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run",
        "-d",
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 400 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); sleep 0.005; done",
    ).out.strip()
    follower = cove.popen("logs", "-f", cid, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = follower.communicate(timeout=60)
    lines = out.decode().splitlines()
    assert follower.returncode == 0, err
    # every line written while following arrived once, in order, across rotations
    numbers = [int(line.split("-")[1]) for line in lines]
    assert numbers == list(range(numbers[0], 400)) and numbers[0] == 0
    path = Path(cove("inspect", "--format", "{{.LogPath}}", cid).out.strip())
    rotated = sorted(p.name for p in path.parent.glob(path.name + "*"))
    assert rotated == [path.name, path.name + ".1", path.name + ".2"]
    assert all(p.stat().st_size <= 4096 for p in path.parent.glob(path.name + "*"))
    tail = cove.proc("logs", "--tail", "3", cid).stdout.decode().splitlines()
    assert [int(x.split("-")[1]) for x in tail] == [397, 398, 399]
    cove("rm", cid)


@pytest.mark.slow
def test_logs_tail_is_fast_on_a_huge_log(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("create", "busybox").out.strip()
    path = Path(cove("inspect", "--format", "{{.LogPath}}", cid).out.strip())
    line = (
        json.dumps({"log": "x" * 200 + "\n", "stream": "stdout", "time": "2024-01-01T00:00:00.000000001Z"})
        + "\n"
    )
    block = (line * 4096).encode()
    with open(path, "wb") as f:
        for _ in range((1 << 30) // len(block)):  # about 1 GB
            f.write(block)
        f.write(
            json.dumps({"log": "the end\n", "stream": "stdout", "time": "2024-01-01T00:00:01Z"}).encode()
            + b"\n"
        )
    started = time.monotonic()
    out = cove.proc("logs", "--tail", "2", cid).stdout
    elapsed = time.monotonic() - started
    assert out == b"x" * 200 + b"\nthe end\n"
    assert elapsed < 2.0, elapsed  # reads from the end, not the whole gigabyte
    cove("rm", cid)


@pytest.mark.slow
def test_exec(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("run", "-d", "-e", "BASE=1", "busybox", "sleep", "60").out.strip()
    try:
        proc = cove.proc(
            "exec",
            "-e",
            "X=2",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            cid,
            "sh",
            "-c",
            'echo "$BASE $X"; pwd; id -u; exit 4',
            check=False,
        )
        assert proc.returncode == 4
        assert proc.stdout.decode().splitlines() == ["1 2", "/tmp", "65534"]
        assert cove.proc("exec", "-i", cid, "cat", input=b"piped in\n").stdout == b"piped in\n"
        cove("exec", "-d", cid, "sh", "-c", "echo detached > /tmp/d")
        wait_until(lambda: cove.proc("exec", cid, "cat", "/tmp/d", check=False).stdout == b"detached\n")
        assert b"CapEff:\t000001ff" in cove.proc(
            "exec", "--privileged", cid, "cat", "/proc/self/status"
        ).stdout or (
            b"CapEff:\t0000003f" in cove.proc("exec", "--privileged", cid, "cat", "/proc/self/status").stdout
        )
        missing = cove.proc("exec", cid, "nosuch", check=False)
        assert missing.returncode == 127
        assert missing.stderr.decode().startswith('Error: exec: "nosuch": executable file not found in $PATH')
    finally:
        cove("rm", "-f", cid)
    stopped = cove("exec", cid, "true", check=False)
    assert stopped.rc == 1 and "No such container" in stopped.err


@pytest.mark.slow
def test_interactive_tty_run_with_resize_and_detach(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    pid, master = pty_session(cove.env, "run", "-it", "--name", "term", "busybox", "sh")
    try:
        read_until(master, b"# ")
        os.write(master, b"tty; stty size\r")
        out = read_until(master, b"/dev/pts/")
        assert b"/dev/pts/" in out
        os.write(master, b"echo $TERM-$((40+2))\r")
        assert b"xterm-42" in read_until(master, b"xterm-42")
        os.write(master, b"\x10\x11")  # Ctrl-P Ctrl-Q: detach, leave it running
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        os.close(master)
    assert cove("inspect", "--format", "{{.State.Status}}", "term").out == "running\n"
    pid, master = pty_session(cove.env, "attach", "term")
    try:
        os.write(master, b"exit 3\r")
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 3
    finally:
        os.close(master)
    cove("rm", "term")


def test_exec_with_a_tty(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("run", "-d", "busybox", "sleep", "60").out.strip()
    pid, master = pty_session(cove.env, "exec", "-it", cid, "sh")
    try:
        read_until(master, b"# ")
        os.write(master, b"tty && exit 5\r")
        read_until(master, b"/dev/pts/")
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 5
    finally:
        os.close(master)
        cove("rm", "-f", cid)


@pytest.mark.slow
def test_run_interactive_without_tty_pipes_stdin(cove_busybox: CoveRunner) -> None:
    proc = cove_busybox.proc("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z", input=b"hello stdin\n")
    assert proc.stdout == b"HELLO STDIN\n"


@pytest.mark.slow
def test_attach_sees_output_and_start_a(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cove("create", "--name", "once", "busybox", "sh", "-c", "echo first; echo second >&2; exit 6")
    proc = cove.proc("start", "-a", "once", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (6, b"first\n", b"second\n")
    cid = cove("run", "-d", "busybox", "sh", "-c", "sleep 1; echo late").out.strip()
    attached = cove.proc("attach", cid, check=False)
    assert attached.stdout == b"late\n" and attached.returncode == 0
    cove("rm", "once", cid)


@pytest.mark.slow
def test_cp_both_ways_keeps_owners_and_modes(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    cid = cove("run", "-d", "busybox", "sleep", "60").out.strip()
    try:
        src = tmp_path / "payload"
        (src / "sub").mkdir(parents=True)
        (src / "sub" / "file").write_text("data")
        os.chown(src / "sub" / "file", 1234, 5678)
        os.chmod(src / "sub" / "file", 0o640)
        cove("cp", str(src), f"{cid}:/tmp/")
        listing = cove.proc("exec", cid, "stat", "-c", "%u %g %a %n", "/tmp/payload/sub/file").stdout
        assert listing == b"1234 5678 640 /tmp/payload/sub/file\n"
        cove("cp", str(src / "sub" / "file"), f"{cid}:/tmp/renamed")
        assert cove.proc("exec", cid, "cat", "/tmp/renamed").stdout == b"data"
        back = tmp_path / "back"
        cove("cp", f"{cid}:/tmp/payload", str(back))
        assert (back / "sub" / "file").read_text() == "data"
        st = os.stat(back / "sub" / "file")
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1234, 5678, 0o640)
        cove("cp", f"{cid}:/etc/passwd", str(tmp_path))
        assert (tmp_path / "passwd").read_text().startswith("root:")
        archive = cove.proc("cp", f"{cid}:/etc/group", "-").stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            assert tar.getnames() == ["group"]
        tar_in = io.BytesIO()
        with tarfile.open(fileobj=tar_in, mode="w") as tar:
            info = tarfile.TarInfo("from-stdin")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
        cove.proc("cp", "-", f"{cid}:/tmp", input=tar_in.getvalue())
        assert cove.proc("exec", cid, "cat", "/tmp/from-stdin").stdout == b"hi"
        missing = cove.proc("cp", f"{cid}:/nope", str(tmp_path), check=False)
        assert missing.returncode == 1 and b"Could not find the file /nope" in missing.stderr
    finally:
        cove("rm", "-f", cid)


def test_cp_into_a_stopped_container_and_a_volume(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    cid = cove("create", "-v", "cpvol:/data", "busybox", "cat", "/data/f", "/root/g").out.strip()
    (tmp_path / "f").write_text("in volume\n")
    (tmp_path / "g").write_text("in rootfs\n")
    cove("cp", str(tmp_path / "f"), f"{cid}:/data/f")
    cove("cp", str(tmp_path / "g"), f"{cid}:/root/g")
    assert cove.proc("start", "-a", cid).stdout == b"in volume\nin rootfs\n"
    cove("rm", cid)


@pytest.mark.slow
def test_diff_export_commit(cove_busybox: CoveRunner, tmp_path: Path) -> None:
    cove = cove_busybox
    cid = cove(
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "echo new > /root/new; rm /bin/ls; echo changed >> /etc/passwd; sleep 60",
    ).out.strip()
    try:
        wait_until(lambda: "A /root/new" in cove("diff", cid).out)
        diff = cove("diff", cid).out.splitlines()
        assert "A /root/new" in diff and "D /bin/ls" in diff and "C /etc/passwd" in diff and "C /etc" in diff
        assert not any("hostname" in line or "resolv.conf" in line for line in diff)
        cove("export", "-o", str(tmp_path / "fs.tar"), cid)
        with tarfile.open(tmp_path / "fs.tar") as tar:
            names = set(tar.getnames())
        assert {"root/new", "etc/passwd", "bin/sh"} <= names and "bin/ls" not in names
        image_id = cove(
            "commit",
            "-m",
            "snapshot",
            "-c",
            "ENV COMMITTED=yes",
            "-c",
            'CMD ["cat", "/root/new"]',
            cid,
            "committed:1",
        ).out.strip()
        assert image_id.startswith("sha256:")
    finally:
        cove("rm", "-f", cid)
    proc = cove.proc("run", "--rm", "committed:1")
    assert proc.stdout == b"new\n"
    out = cove.proc(
        "run", "--rm", "committed:1", "sh", "-c", 'echo $COMMITTED; ls /bin/ls 2>&1 | grep -c "No such"'
    )
    assert out.stdout == b"yes\n1\n"
    history = cove("history", "--format", "{{.Comment}}", "committed:1").out.splitlines()
    assert history[0] == "snapshot"
    # committed images save and load like any other
    cove("save", "committed:1", "-o", str(tmp_path / "c.tar"))
    cove("rmi", "committed:1")
    cove("load", "-i", str(tmp_path / "c.tar"))
    assert cove.proc("run", "--rm", "committed:1").stdout == b"new\n"


@pytest.mark.slow
def test_top_and_stats(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove("run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 60 & sleep 60 & wait").out.strip()
    try:
        top = cove("top", "busy").out.splitlines()
        assert "PID" in top[0] and len(top) == 4  # sh and two sleeps
        stats = json.loads(cove("stats", "--no-stream", "--format", "json", "busy").out)
        assert stats["Name"] == "busy" and stats["PIDs"] == "3"
        assert "/" in stats["MemUsage"] and stats["CPUPerc"].endswith("%")
        table = cove("stats", "--no-stream").out.splitlines()
        assert table[0].split()[:3] == ["CONTAINER", "ID", "NAME"] and "busy" in table[1]
    finally:
        cove("rm", "-f", cid)


def test_inspect_shape(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    cid = cove(
        "run", "-d", "--name", "shape", "-e", "K=V", "-v", "vol1:/data", "busybox", "sleep", "60"
    ).out.strip()
    try:
        data = json.loads(cove("inspect", "shape").out)[0]
        for key in (
            "Id",
            "Created",
            "Path",
            "Args",
            "State",
            "Image",
            "ResolvConfPath",
            "HostnamePath",
            "HostsPath",
            "LogPath",
            "Name",
            "RestartCount",
            "Driver",
            "HostConfig",
            "GraphDriver",
            "Mounts",
            "Config",
            "NetworkSettings",
        ):
            assert key in data, key
        assert (
            data["Id"] == cid
            and data["Name"] == "/shape"
            and data["Path"] == "sleep"
            and data["Args"] == ["60"]
        )
        assert data["State"]["Running"] and data["State"]["Pid"] > 0
        assert "K=V" in data["Config"]["Env"] and data["Config"]["Image"] == "busybox"
        assert data["Mounts"][0]["Name"] == "vol1" and data["Mounts"][0]["Destination"] == "/data"
        assert Path(data["HostsPath"]).read_text().startswith("127.0.0.1")
        both = json.loads(cove("inspect", "shape", "busybox").out)
        assert both[1]["RepoTags"] == ["busybox:latest"]  # an image, when no container has that name
        assert cove("inspect", "--type", "image", "--format", "{{.Os}}", "busybox").out == "linux\n"
        missing = cove("inspect", "nothing", check=False)
        assert missing.rc == 1 and "No such object: nothing" in missing.err
    finally:
        cove("rm", "-f", cid)
