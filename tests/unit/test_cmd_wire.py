"""The command server's wire format and file names (cove.cli.cmd_wire)."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import cove
from cove.cli import cmd_wire as wire


def request(
    *,
    key: bytes = b"key",
    cwd: bytes = b"/work",
    umask: int = 0o022,
    rlimits: list[tuple[int, int, int]] | None = None,
    argv: list[bytes] | None = None,
    env: list[tuple[bytes, bytes]] | None = None,
) -> wire.Request:
    return wire.Request(
        key,
        cwd,
        umask,
        [(resource.RLIMIT_NOFILE, 1024, 4096)] if rlimits is None else rlimits,
        [b"ps", b"-a"] if argv is None else argv,
        [(b"PATH", b"/usr/bin:/bin")] if env is None else env,
    )


def fields(r: wire.Request) -> tuple[object, ...]:
    return (r.key, r.cwd, r.umask, r.rlimits, r.argv, r.env)


def round_trip(r: wire.Request) -> wire.Request:
    return wire.decode_request(wire.encode_request(r))


# -- round trips ----------------------------------------------------------------------------


def test_round_trip_of_a_plain_request() -> None:
    r = request()
    assert fields(round_trip(r)) == fields(r)


AWKWARD_ARGV = [
    b"",
    b" ",
    b"two words",
    b"line\nbreak",
    b"\r\n",
    b"tab\there",
    b"a=b",
    b"=",
    b"==",
    b"--env=X=Y",
    b"\xff\xfe not utf-8 \x80",
    "grüße ✓".encode(),
    b"",
    b"%d %s %o",
    b"\\0",
    b"kill 9",
    b"exit 0\n",
]


def test_round_trip_of_awkward_argv() -> None:
    r = request(argv=AWKWARD_ARGV)
    assert round_trip(r).argv == AWKWARD_ARGV


@pytest.mark.parametrize("arg", AWKWARD_ARGV)
def test_round_trip_of_each_awkward_argument_alone(arg: bytes) -> None:
    r = request(argv=[arg], env=[])
    assert fields(round_trip(r)) == fields(r)


@pytest.mark.parametrize(
    "argv",
    [[], [b""], [b"", b""], [b"run", b""], [b"", b"run"], [b"x=1", b"y=2"]],
)
def test_round_trip_of_empty_and_env_like_arguments(argv: list[bytes]) -> None:
    # Arguments that look like environment entries, or are empty, stay arguments.
    for env in ([], [(b"A", b"1")]):
        r = request(argv=argv, env=env)
        decoded = round_trip(r)
        assert decoded.argv == argv
        assert decoded.env == env


def test_round_trip_of_awkward_environment() -> None:
    env = [
        (b"EMPTY", b""),
        (b"EQUALS", b"a=b=c"),
        (b"LEADING", b"=x"),
        (b"ONLY", b"="),
        (b"SPACES", b"  two  words  "),
        (b"NEWLINE", b"line1\nline2\n"),
        (b"BYTES", b"\xff\xfe\x80"),
        (b"UNICODE", "grüße".encode()),
        (b"LS_COLORS", b"rs=0:di=01;34:ln=01;36:*.tar=01;31"),
        (b"lower_case", b"1"),
    ]
    assert round_trip(request(env=env)).env == env


def test_round_trip_keeps_environment_order_and_duplicates() -> None:
    env = [(b"B", b"2"), (b"A", b"1"), (b"B", b"3")]
    assert round_trip(request(env=env)).env == env


def test_round_trip_of_this_process() -> None:
    # What cmd_client sends: this interpreter's real key, cwd, limits and environment.
    limits = []
    for name in dir(resource):
        if name.startswith("RLIMIT_"):
            number = getattr(resource, name)
            limits.append((number, *resource.getrlimit(number)))
    r = wire.Request(
        wire.compatibility_key(),
        os.getcwdb(),
        0o027,
        limits,
        [os.fsencode(a) for a in sys.argv],
        list(os.environb.items()),
    )
    assert fields(round_trip(r)) == fields(r)


@pytest.mark.parametrize(
    "rlimits",
    [
        [],
        [(resource.RLIMIT_CORE, 0, resource.RLIM_INFINITY)],
        [(resource.RLIMIT_STACK, resource.RLIM_INFINITY, resource.RLIM_INFINITY)],
        [(resource.RLIMIT_NOFILE, 1024, 1_048_576), (resource.RLIMIT_NPROC, -1, -1), (0, 2**62, 2**63 - 1)],
    ],
)
def test_round_trip_of_rlimits(rlimits: list[tuple[int, int, int]]) -> None:
    assert resource.RLIM_INFINITY == -1  # how Python spells "unlimited"
    assert round_trip(request(rlimits=rlimits)).rlimits == rlimits


@pytest.mark.parametrize("umask", [0, 0o002, 0o022, 0o027, 0o077, 0o777])
def test_round_trip_of_umask(umask: int) -> None:
    assert round_trip(request(umask=umask)).umask == umask


@pytest.mark.parametrize("cwd", [b"/", b"/with space", b"/new\nline", b"/\xff\xfe", b"/a=b", b""])
def test_round_trip_of_cwd(cwd: bytes) -> None:
    assert round_trip(request(cwd=cwd)).cwd == cwd


def test_round_trip_of_a_key_with_newlines() -> None:
    key = wire.compatibility_key()
    assert b"\n" in key
    assert round_trip(request(key=key)).key == key


def test_encoding_starts_with_the_protocol() -> None:
    data = wire.encode_request(request())
    assert data.startswith(wire.PROTOCOL + b"\0")
    assert wire.PROTOCOL == b"cove-cmd/1"


def test_a_large_request() -> None:
    argv = [b"arg%d" % n for n in range(5000)]
    env = [(b"VAR%d" % n, b"v" * 1000) for n in range(200)]
    r = request(argv=argv, env=env)
    assert fields(round_trip(r)) == fields(r)


def test_environment_entries_without_equals_are_dropped() -> None:
    data = b"\0".join([wire.PROTOCOL, b"k", b"/", b"22", b"", b"1", b"argv0", b"A=1", b"junk", b"B="])
    decoded = wire.decode_request(data)
    assert decoded.argv == [b"argv0"]
    assert decoded.env == [(b"A", b"1"), (b"B", b"")]
    assert decoded.umask == 0o22
    assert decoded.rlimits == []


# -- malformed requests ---------------------------------------------------------------------


def good_fields() -> list[bytes]:
    return wire.encode_request(request(argv=[b"a", b"b"], env=[(b"E", b"1")])).split(b"\0")


def joined(parts: list[bytes]) -> bytes:
    return b"\0".join(parts)


def replaced(index: int, value: bytes) -> bytes:
    parts = good_fields()
    parts[index] = value
    return joined(parts)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello world", id="garbage"),
        pytest.param(b"\0\0\0\0\0\0\0", id="only-separators"),
        pytest.param(joined(good_fields()[:5]), id="too-few-fields"),
        pytest.param(replaced(0, b"cove-cmd/2"), id="other-protocol"),
        pytest.param(replaced(0, b"COVE-CMD/1"), id="protocol-case"),
        pytest.param(replaced(3, b"9"), id="umask-not-octal"),
        pytest.param(replaced(3, b""), id="umask-empty"),
        pytest.param(replaced(3, b"rwx"), id="umask-text"),
        pytest.param(replaced(4, b"1:2"), id="rlimit-two-numbers"),
        pytest.param(replaced(4, b"1:2:3:4"), id="rlimit-four-numbers"),
        pytest.param(replaced(4, b"a:b:c"), id="rlimit-not-numbers"),
        pytest.param(replaced(4, b"7:1:1,"), id="rlimit-trailing-comma"),
        pytest.param(replaced(5, b"two"), id="argc-not-a-number"),
        pytest.param(replaced(5, b""), id="argc-empty"),
        pytest.param(replaced(5, b"4"), id="argc-too-large"),
        pytest.param(replaced(5, b"-1"), id="argc-negative"),
        pytest.param(joined(good_fields()[:7]), id="argv-truncated"),
    ],
)
def test_malformed_requests_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        wire.decode_request(data)


def test_the_good_fields_do_decode() -> None:
    # The malformed cases above differ from this one request in one field each.
    decoded = wire.decode_request(joined(good_fields()))
    assert decoded.argv == [b"a", b"b"]
    assert decoded.env == [(b"E", b"1")]


# -- framing --------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 255, 256, 65_536, 2**32 + 5, 2**64 - 1])
def test_header(length: int) -> None:
    data = wire.header(length)
    assert len(data) == wire.HEADER_SIZE == 8
    assert int.from_bytes(data, "big") == length


def test_header_rejects_what_does_not_fit() -> None:
    with pytest.raises(OverflowError):
        wire.header(2**64)


# -- file names -----------------------------------------------------------------------------

NAME = re.compile(r"^cmd-[0-9a-f]{8}$")


def test_paths_in_the_runtime_directory(tmp_path: Path) -> None:
    paths = wire.paths({"COVE_RUNTIME_DIR": str(tmp_path)})
    base = Path(paths.socket).with_suffix("")
    assert base.parent == tmp_path
    assert NAME.match(base.name), base.name
    assert paths.socket == f"{base}.sock"
    assert paths.lock == f"{base}.lock"
    assert paths.pid == f"{base}.pid"
    assert paths.log == f"{base}.log"


@pytest.mark.parametrize("env", [{}, {"COVE_RUNTIME_DIR": ""}, {"OTHER": "/tmp"}])
def test_paths_default_to_run_cove(env: dict[str, str]) -> None:
    paths = wire.paths(env)
    assert os.path.dirname(paths.socket) == "/run/cove" == wire.DEFAULT_RUNTIME_DIR
    assert len(paths.socket.encode()) < 108  # fits sockaddr_un.sun_path


def test_paths_are_stable_for_one_installation(tmp_path: Path) -> None:
    env = {"COVE_RUNTIME_DIR": str(tmp_path)}
    first = wire.paths(env)
    again = wire.paths(dict(env))
    assert (first.socket, first.lock, first.pid, first.log) == (
        again.socket,
        again.lock,
        again.pid,
        again.log,
    )
    # The same name in another runtime directory: only the directory differs.
    other = wire.paths({"COVE_RUNTIME_DIR": str(tmp_path / "elsewhere")})
    assert os.path.basename(other.socket) == os.path.basename(first.socket)
    assert os.path.dirname(other.socket) == str(tmp_path / "elsewhere")


def test_paths_are_the_same_in_another_process(tmp_path: Path) -> None:
    # Client and server are separate processes: the name must not depend on hash seeds.
    code = "import os; from cove.cli import cmd_wire as w; print(w.paths(os.environ).socket)"
    here = wire.paths({"COVE_RUNTIME_DIR": str(tmp_path)}).socket
    for seed in ("0", "12345"):
        env = {**os.environ, "COVE_RUNTIME_DIR": str(tmp_path), "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60
        )
        assert out.stdout.strip() == here


def test_compatibility_key_names_interpreter_package_and_version() -> None:
    key = wire.compatibility_key().decode()
    executable, package, version = key.split("\n")
    assert executable == sys.executable
    assert package == os.path.dirname(os.path.abspath(cove.__file__))
    assert version == cove.__version__


# -- enabled --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "FALSE", "No", "OFF", " off ", "0\n", "\toff"])
def test_disabled(value: str) -> None:
    assert not wire.enabled({"COVE_COMMAND_SERVER": value})


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "TRUE", "anything"])
def test_enabled(value: str) -> None:
    assert wire.enabled({"COVE_COMMAND_SERVER": value})


def test_enabled_by_default() -> None:
    assert wire.enabled({})
    assert wire.enabled({"COVE_RUNTIME_DIR": "/tmp"})
