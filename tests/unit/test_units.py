"""cove.units: sizes as Docker's units.RAMInBytes, durations as Go's time.ParseDuration, signals."""

from __future__ import annotations

import re
import signal

import pytest

from cove.errors import InvalidArgument, Kind
from cove.units import parse_bytes, parse_duration, parse_signal, signal_name

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# --- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1", 1),
        ("512", 512),
        ("512b", 512),
        ("1k", KIB),
        ("1K", KIB),
        ("1kb", KIB),
        ("1KB", KIB),
        ("1KiB", KIB),
        ("1kib", KIB),
        ("512m", 512 * MIB),
        ("512M", 512 * MIB),
        ("1g", GIB),
        ("1G", GIB),
        ("1GiB", GIB),
        ("1.5g", GIB + GIB // 2),
        ("0.5m", MIB // 2),
        ("2t", 2 * 1024 * GIB),
        ("1p", 1 << 50),
        ("64 m", 64 * MIB),  # Docker's pattern allows a space before the unit
        ("  128m  ", 128 * MIB),
        ("1.5", 1),  # a fraction of a byte is dropped, as RAMInBytes' int64 conversion does
    ],
)
def test_parse_bytes_accepts_docker_sizes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", " ", "m", "abc", "1x", "1kk", "1mbb", "-1", "-512m", "1,5g", "1.g", "0x10", "1 g b", "g1"],
)
def test_parse_bytes_rejects_what_docker_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_bytes(text)
    assert caught.value.kind is Kind.INVALID_ARGUMENT
    assert repr(text) in caught.value.message
    assert caught.value.hint  # says what a valid size looks like


def test_parse_bytes_names_what_was_being_parsed() -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid memory: '12q'$"):
        parse_bytes("12q", "memory")
    with pytest.raises(InvalidArgument, match=r"^invalid size: "):
        parse_bytes("12q")


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0.0),
        ("0s", 0.0),
        ("30s", 30.0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("1m", 60.0),
        ("1m30s", 90.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2h45m30.5s", 2 * 3600 + 45 * 60 + 30.5),
        ("100ns", 100e-9),
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("1h1ms", 3600.001),
        ("1s500ms", 1.5),  # units may repeat and come in any order, as in Go
        (".5s", 0.5),  # Go takes a fraction without its integer part
        ("5.s", 5.0),  # ... or a point without a fraction
        ("1.m.5s", 60.5),
        ("250\u03bcs", 250e-6),  # Go knows both micro signs: U+03BC as well as U+00B5
        (" 10s ", 10.0),
    ],
)
def test_parse_duration_follows_go(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "5",
        "1.5",
        "s",
        "abc",
        "1 h",
        "1h 30m",
        "1d",
        "1sec",
        "10S",
        "1H",
        "30s!",
        "ms30",
        "1h30",
        ".s",
        ".",
    ],
)
def test_parse_duration_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_duration(text)
    assert repr(text.strip()) in caught.value.message
    assert caught.value.hint is not None and "30s" in caught.value.hint


def test_parse_duration_names_what_was_being_parsed() -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid health-interval: '5'$"):
        parse_duration("5", "health-interval")


# --- signals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SIGTERM", signal.SIGTERM),
        ("TERM", signal.SIGTERM),
        ("term", signal.SIGTERM),
        ("sigterm", signal.SIGTERM),
        ("15", 15),
        (" 15 ", 15),
        ("SIGKILL", signal.SIGKILL),
        ("sigkill", signal.SIGKILL),
        ("KILL", 9),
        ("9", 9),
        ("SIGHUP", signal.SIGHUP),
        ("usr1", signal.SIGUSR1),
        ("SIGWINCH", signal.SIGWINCH),
        ("1", 1),
        (str(signal.NSIG - 1), signal.NSIG - 1),
    ],
)
def test_parse_signal_names_and_numbers(text: str, expected: int) -> None:
    assert parse_signal(text) == expected


def test_parse_signal_passes_numbers_through() -> None:
    assert parse_signal(2) == 2
    assert parse_signal(int(signal.SIGQUIT)) == signal.SIGQUIT


@pytest.mark.parametrize("text", ["", "0", str(signal.NSIG), "999", "-1", "SIGFOO", "FOO", "SIG", "15x"])
def test_parse_signal_rejects_unknown_signals(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid signal"):
        parse_signal(text)


def test_parse_signal_error_names_the_input_and_how_to_fix_it() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_signal("SIGBOGUS")
    assert caught.value.message == "invalid signal: SIGBOGUS"
    assert caught.value.hint is not None and "SIGTERM" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "offset"), [("SIGRTMIN+3", 3), ("RTMIN+3", 3), ("SIGRTMIN", 0), ("SIGRTMAX-1", None)]
)
def test_parse_signal_real_time_signals_as_docker(text: str, offset: int | None) -> None:
    """Docker (moby/sys/signal) knows RTMIN+n and RTMAX-n: systemd images declare
    ``STOPSIGNAL SIGRTMIN+3``, which cove reads through parse_signal."""
    expected = signal.SIGRTMAX - 1 if offset is None else signal.SIGRTMIN + offset
    assert parse_signal(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RTMIN", 34),
        ("RTMIN+1", 35),
        ("sigrtmin+15", 49),
        ("RTMAX-14", 50),
        ("SIGRTMAX-1", 63),
        ("RTMAX", 64),
    ],
)
def test_parse_signal_real_time_numbers_are_docker_s_linux_table(text: str, expected: int) -> None:
    assert parse_signal(text) == expected


@pytest.mark.parametrize("text", ["RTMIN+0", "RTMIN+16", "RTMIN-1", "RTMAX+1", "RTMAX-15", "RTMIN+", "RTMID"])
def test_parse_signal_real_time_names_outside_the_table(text: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^invalid signal: {re.escape(text)}$"):
        parse_signal(text)


def test_signal_name() -> None:
    assert signal_name(15) == "SIGTERM"
    assert signal_name(9) == "SIGKILL"
    assert signal_name(999) == "999"
    assert parse_signal(signal_name(int(signal.SIGUSR2))) == signal.SIGUSR2
