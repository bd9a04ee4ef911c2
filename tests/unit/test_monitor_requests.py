"""What the monitor takes in, checked on receipt: its config, the socket's requests and frames,
and the client handling that answers a bad one and drops that client (never the monitor)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cove.containers.state import ContainerState, Health, HealthStatus, Status
from cove.monitor import protocol as p
from cove.monitor.clients import Client, Clients
from cove.monitor.config import ConfigError, LogConfig, MonitorConfig, ProbeConfig
from cove.monitor.handover import Handover, HandoverError, HealthTimers
from cove.monitor.restart import Backoff
from cove.policies import RestartName, RestartPolicy
from cove.runtime.oci import RuntimeInfo

# -- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        p.Attach(),
        p.Attach(stdin=True, stdout=False, stderr=True, remove=True, tty_size=p.TtySize(24, 80)),
        p.Stop(),
        p.Stop(signal=15, grace=2.5),
        p.Kill(signal=9),
        p.Wait(),
        p.GetState(),
        p.Pause(),
        p.Unpause(),
        p.StartFailed("exec: not found", 127),
    ],
)
def test_requests_round_trip(request_: p.Request) -> None:
    line = p.encode_request(request_)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert p.parse_request(line) == request_


def test_missing_fields_take_their_defaults() -> None:
    assert p.parse_request(b'{"op": "attach"}') == p.Attach(stdin=False, stdout=True, stderr=True)
    assert p.parse_request(b'{"op": "stop"}') == p.Stop(signal=None, grace=None)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"stop"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"{}", "unknown request"),
        (b'{"op": "exec"}', "unknown request"),
        (b'{"op": 3}', "unknown request"),
        (b'{"op": "kill", "signal": "x"}', "signal is a number"),
        (b'{"op": "kill", "signal": 0}', "signal is a number"),
        (b'{"op": "kill", "signal": 65}', "signal is a number"),
        (b'{"op": "kill", "signal": true}', "signal is a number"),
        (b'{"op": "kill", "signal": 9.0}', "signal is a number"),
        (b'{"op": "stop", "signal": [9]}', "signal is a number"),
        (b'{"op": "stop", "grace": "10"}', "grace is a number"),
        (b'{"op": "stop", "grace": -1}', "grace is from 0"),
        (b'{"op": "stop", "grace": 1e300}', "grace is from 0"),
        (b'{"op": "stop", "grace": NaN}', "grace is from 0"),
        (b'{"op": "stop", "grace": Infinity}', "grace is from 0"),
        (b'{"op": "attach", "tty_size": "24x80"}', "tty_size is"),
        (b'{"op": "attach", "tty_size": [24]}', "tty_size is"),
        (b'{"op": "attach", "tty_size": [24, 80, 1]}', "tty_size is"),
        (b'{"op": "attach", "tty_size": [-1, 80]}', "two integers from 0 to 65535"),
        (b'{"op": "attach", "tty_size": [24, 70000]}', "two integers from 0 to 65535"),
        (b'{"op": "attach", "tty_size": ["24", "80"]}', "two integers from 0 to 65535"),
        (b'{"op": "attach", "tty_size": [24.5, 80]}', "two integers from 0 to 65535"),
        (b'{"op": "attach", "stdin": "yes"}', "stdin is true or false"),
        (b'{"op": "attach", "remove": 1}', "remove is true or false"),
        (b'{"op": "start-failed", "error": "x"}', "start-failed needs"),
        (b'{"op": "start-failed", "error": "x", "exit_code": 300}', "exit code is from 0 to 255"),
        (b'{"op": "wait", "pad": "' + b"x" * p.MAX_LINE + b'"}', "too long"),
    ],
)
def test_a_bad_request_is_a_protocol_error(line: bytes, why: str) -> None:
    with pytest.raises(p.ProtocolError, match=why):
        p.parse_request(line)


def test_a_huge_number_is_refused_not_overflowed() -> None:
    with pytest.raises(p.ProtocolError):
        p.parse_request(b'{"op": "kill", "signal": ' + b"9" * 400 + b"}")


# -- replies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        p.Reply(True),
        p.Reply(True, exit_code=3),
        p.Reply(False, error="container is not running"),
        p.Reply(True, status=Status.PAUSED),
        p.Reply(True, state=ContainerState(status=Status.EXITED, exit_code=1, monitor_pid=4)),
    ],
)
def test_replies_round_trip(reply: p.Reply) -> None:
    assert p.parse_reply(reply.encode()) == reply


@pytest.mark.parametrize(
    "line",
    [
        b"nope",
        b"[]",
        b'{"ok": "yes"}',
        b'{"ok": true, "exit_code": "3"}',
        b'{"ok": true, "status": "asleep"}',
    ],
)
def test_a_bad_reply_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(p.ProtocolError):
        p.parse_reply(line)


def test_exit_frames() -> None:
    [(kind, payload)] = p.FrameReader().feed(p.exit_frame(7))
    assert kind == p.EXIT and p.parse_exit(payload) == 7
    assert p.parse_exit(json.dumps({"exit_code": None}).encode()) is None
    assert p.parse_exit(b"garbage") is None


# -- the config --------------------------------------------------------------------------------------


def config(**changes: Any) -> dict[str, Any]:
    good = MonitorConfig(
        id="c" * 64,
        container_dir="/store/containers/c",
        bundle="/store/containers/c/bundle",
        rootfs="/store/containers/c/bundle/rootfs",
        runtime=RuntimeInfo("runc", "/usr/bin/runc", "1.1"),
        runtime_root="/run/cove/runtime/runc",
        socket="/run/cove/s/c",
        log=LogConfig("/store/containers/c/c-json.log", 1 << 20, 5),
        tty=True,
        restart=RestartPolicy(RestartName.ON_FAILURE, 3),
        stop_signal=15,
        stop_timeout=10.0,
        health=ProbeConfig(["CMD", "true"], interval=1.0),
        tty_size=p.TtySize(24, 80),
        auto_remove_argv=["/usr/bin/python3", "-m", "cove", "rm", "c"],
        auto_remove_env={"COVE_ROOT": "/store"},
        shed_after=0.0,
    ).to_json()
    good.update(changes)
    return good


def test_the_config_round_trips(tmp_path: Path) -> None:
    data = config()
    loaded = MonitorConfig.from_json(data)
    assert loaded.to_json() == data
    path = tmp_path / "monitor.json"
    loaded.write(path)
    assert MonitorConfig.load(path) == loaded


def test_optional_fields_take_their_defaults() -> None:
    data = config()
    for key in (
        "tty",
        "health",
        "tty_size",
        "auto_remove_argv",
        "auto_remove_env",
        "shed_after",
        "stop_signal",
    ):
        del data[key]
    loaded = MonitorConfig.from_json(data)
    assert (loaded.tty, loaded.health, loaded.tty_size, loaded.shed_after, loaded.stop_signal) == (
        False,
        None,
        None,
        None,
        15,
    )


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"id": 5}, "config.id is not a string"),
        ({"socket": None}, "config.socket is not a string"),
        ({"runtime": "runc"}, "runtime is not an object"),
        ({"runtime": {"path": "/usr/bin/runc"}}, "runtime.name is missing"),
        ({"log": {"path": "/x", "max_size": "big", "max_files": 1}}, "log.max_size is not an integer"),
        ({"log": {"path": "/x", "max_size": 1, "max_files": 0}}, "log.max_files is not an integer from 1"),
        ({"tty": "yes"}, "config.tty is not true or false"),
        ({"stop_signal": "SIGTERM"}, "stop_signal is not an integer"),
        ({"stop_signal": 99}, "stop_signal is not an integer from 1 to 64"),
        ({"stop_timeout": -1}, "stop_timeout is not a finite number"),
        ({"stop_timeout": float("inf")}, "stop_timeout is not a finite number"),
        ({"restart": {"name": "sometimes"}}, "invalid restart policy"),
        ({"restart": {"name": "on-failure", "max_retries": -2}}, "retry count"),
        ({"restart": {"name": "always", "max_retries": "3"}}, "retry count"),
        ({"restart": 5}, "invalid restart policy"),
        ({"tty_size": [24]}, "tty_size is"),
        ({"health": {"test": "true"}}, "health.test is a list of strings"),
        ({"health": {"test": ["CMD"], "retries": 1.5}}, "health.retries is not an integer"),
        ({"auto_remove_argv": "cove rm"}, "auto_remove_argv is a list of strings"),
        ({"auto_remove_env": {"A": 1}}, "auto_remove_env maps names to strings"),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        MonitorConfig.from_json(config(**changes))


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"null"])
def test_an_unreadable_config_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "monitor.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        MonitorConfig.load(path)


# -- the restart policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "retries", "code", "restarts", "manual", "expected"),
    [
        ("no", 0, 1, 0, False, False),
        ("always", 0, 0, 0, False, True),
        ("always", 0, 1, 100, False, True),
        ("always", 0, 1, 0, True, False),  # a stop is a stop
        ("unless-stopped", 0, 0, 5, False, True),
        ("unless-stopped", 0, 0, 5, True, False),
        ("on-failure", 0, 0, 0, False, False),  # a success is not a failure
        ("on-failure", 0, 1, 1000, False, True),  # no limit
        ("on-failure", 3, 1, 2, False, True),
        ("on-failure", 3, 1, 3, False, False),  # the limit reached
        ("on-failure", 3, 137, 0, True, False),
    ],
)
def test_restart_rules(
    name: str, retries: int, code: int, restarts: int, manual: bool, expected: bool
) -> None:
    # (the policy is cove.policies'; these are the monitor's uses of it)
    policy = RestartPolicy(RestartName(name), retries)
    assert policy.should_restart(code, restarts, stopped=manual) is expected


def test_backoff_doubles_after_quick_exits_up_to_a_minute() -> None:
    backoff = Backoff()
    delays = [backoff.after_run(0.5) for _ in range(12)]
    assert delays[:4] == [0.2, 0.4, 0.8, 1.6]
    assert max(delays) == 60.0 and delays[-1] == 60.0


def test_backoff_starts_over_after_a_run_of_ten_seconds() -> None:
    backoff = Backoff()
    for _ in range(5):
        backoff.after_run(1.0)
    assert backoff.after_run(10.0) == 0.1
    assert backoff.after_run(1.0) == 0.2


# -- the handover --------------------------------------------------------------------------------------


def test_the_handover_round_trips(tmp_path: Path) -> None:
    handover = Handover(
        lock_fd=3,
        listener=4,
        outputs={5: "stdout", 6: "stderr"},
        stdin_fd=None,
        master_fd=None,
        init_pid=99,
        ran=1.5,
        backoff=0.4,
        partial={"stdout": b"\x00half a line"},
        state=ContainerState(status=Status.RUNNING, pid=99),
        health=HealthTimers(Health(HealthStatus.HEALTHY, 0, ()), 2.0, 0.5),
    )
    path = tmp_path / "handover.json"
    handover.write(path)
    assert Handover.take(path) == handover
    assert not path.exists()
    assert handover.fds == [3, 4, 5, 6]


def test_a_bad_handover_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "handover.json"
    path.write_text('{"lock_fd": "x"}')
    with pytest.raises(HandoverError):
        Handover.take(path)


# -- the clients: a bad one is answered and dropped, the rest goes on ----------------------------------


class Recorder:
    def __init__(self) -> None:
        self.requests: list[p.Request] = []
        self.frames: list[tuple[int, bytes]] = []
        self.dropped = 0
        self.fail_with: Exception | None = None

    def request(self, client: Client, request: p.Request) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.requests.append(request)

    def frame(self, client: Client, kind: int, payload: bytes) -> None:
        if kind == p.RESIZE:
            p.parse_resize(payload)
        self.frames.append((kind, payload))

    def drop(self, client: Client) -> None:
        self.dropped += 1


@pytest.fixture
def served() -> Iterator[tuple[Clients, Recorder, socket.socket, Client]]:
    recorder = Recorder()
    clients = Clients(recorder.request, recorder.frame, recorder.drop)
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    client = Client(theirs)
    clients.by_fd[theirs.fileno()] = client
    ours.settimeout(5)
    try:
        yield clients, recorder, ours, client
    finally:
        ours.close()
        theirs.close()


def _pump(clients: Clients, client: Client) -> None:
    clients.readable(client)
    while client.outbuf and client.sock.fileno() in clients.by_fd:
        clients.writable(client)


def _answer(ours: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = ours.recv(65536)
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"[1]\n",
        b'{"op": "reboot"}\n',
        b'{"op": "kill", "signal": "x"}\n',
        b'{"op": "attach", "tty_size": "big"}\n',
    ],
)
def test_a_bad_request_line_gets_an_error_reply_and_the_client_goes(
    served: tuple[Clients, Recorder, socket.socket, Client], line: bytes
) -> None:
    clients, recorder, ours, client = served
    ours.sendall(line)
    _pump(clients, client)
    reply = p.parse_reply(_answer(ours))
    assert not reply.ok and reply.error.startswith("bad request:")
    assert recorder.requests == [] and not clients.by_fd and recorder.dropped == 1


def test_an_over_long_line_without_newline_is_refused_at_the_limit(
    served: tuple[Clients, Recorder, socket.socket, Client],
) -> None:
    clients, _, ours, client = served
    ours.sendall(b"x" * (p.MAX_LINE + 10))
    while not client.closing:
        clients.readable(client)
    assert len(client.inbuf) == 0  # nothing kept
    _pump(clients, client)
    assert "too long" in p.parse_reply(_answer(ours)).error


@pytest.mark.parametrize(
    ("frames", "why"),
    [
        (p.frame(p.RESIZE, b"\x00\x18"), "resize frame holds 4 bytes"),
        (p.HEADER.pack(p.STDIN, 0xFFFFFFFF), "frame too large"),
        (p.frame(p.STDOUT, b"x"), "does not send frames of type 1"),
        (p.frame(p.EXIT, b"{}"), "does not send frames of type 3"),
    ],
)
def test_a_bad_frame_gets_an_error_frame_and_the_client_goes(
    served: tuple[Clients, Recorder, socket.socket, Client], frames: bytes, why: str
) -> None:
    clients, recorder, ours, client = served
    ours.sendall(p.encode_request(p.Attach(stdin=True)) + p.frame(p.STDIN, b"ok") + frames)
    _pump(clients, client)
    [(kind, payload)] = p.FrameReader().feed(_answer(ours))
    assert kind == p.ERROR and why in json.loads(payload)["error"]
    assert recorder.requests == [p.Attach(stdin=True)]
    # What came before the bad frame was taken (a bad header refuses the whole chunk it is in).
    assert recorder.frames == ([] if why == "frame too large" else [(p.STDIN, b"ok")])
    assert not clients.by_fd


def test_frames_from_a_client_that_did_not_attach_are_refused(
    served: tuple[Clients, Recorder, socket.socket, Client],
) -> None:
    clients, recorder, ours, client = served
    recorder.request = lambda c, r: None  # type: ignore[method-assign] # a wait that stays unanswered
    ours.sendall(p.encode_request(p.Wait()) + p.frame(p.STDIN, b"x"))
    _pump(clients, client)
    assert "only an attached client" in p.parse_reply(_answer(ours)).error


def test_the_monitors_own_failure_on_a_request_drops_that_client_only(
    served: tuple[Clients, Recorder, socket.socket, Client], capsys: pytest.CaptureFixture[str]
) -> None:
    clients, recorder, ours, client = served
    recorder.fail_with = KeyError("surprise")
    ours.sendall(p.encode_request(p.GetState()))
    _pump(clients, client)  # (does not raise)
    assert "could not handle the request" in p.parse_reply(_answer(ours)).error
    assert "KeyError" in capsys.readouterr().err  # logged for whoever looks at monitor.log


def test_a_good_attach_stream_is_passed_on(served: tuple[Clients, Recorder, socket.socket, Client]) -> None:
    clients, recorder, ours, client = served
    stream = p.frame(p.STDIN, b"echo hi\n") + p.resize_frame(40, 120) + p.frame(p.CLOSE_STDIN, b"")
    ours.sendall(p.encode_request(p.Attach(stdin=True)) + stream)
    clients.readable(client)
    assert recorder.frames == [(p.STDIN, b"echo hi\n"), (p.RESIZE, b"\x00(\x00x"), (p.CLOSE_STDIN, b"")]
    assert clients.by_fd and not client.closing
