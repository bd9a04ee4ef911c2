"""Compose's progress as Docker Compose prints it: plain lines, or a block redrawn on a terminal."""

from __future__ import annotations

import io

from cove.cli.compose_progress import ComposeProgress
from cove.compose.progress import Event, Kind, Phase


def events() -> list[Event]:
    return [
        Event(Kind.NETWORK, "app_default", "Creating", Phase.WORKING),
        Event(Kind.NETWORK, "app_default", "Created"),
        Event(Kind.CONTAINER, "app-web-1", "Creating", Phase.WORKING),
        Event(Kind.SERVICE, "app", "Warning", Phase.WARNING, "Found orphan containers ([app-old-1])"),
        Event(Kind.CONTAINER, "app-web-1", "Started"),
    ]


def test_without_a_terminal_one_line_per_event_and_warnings_as_warn_lines() -> None:
    out = io.StringIO()
    progress = ComposeProgress(out, tty=False)
    for event in events():
        progress(event)
    progress.close()
    assert out.getvalue().splitlines() == [
        " Network app_default  Creating",
        " Network app_default  Created",
        " Container app-web-1  Creating",
        "WARN[0000] Found orphan containers ([app-old-1])",
        " Container app-web-1  Started",
    ]


def test_on_a_terminal_the_block_is_redrawn_in_place_and_counts_what_is_done() -> None:
    out = io.StringIO()
    progress = ComposeProgress(out, tty=True)
    for event in events():
        progress(event)
    progress.close()
    text = out.getvalue()
    last = text.rsplit("\x1b[3F", 1)[-1]  # the last drawing of the three lines
    lines = [line.removeprefix("\x1b[2K") for line in last.splitlines()]
    assert lines[0] == "[+] Running 2/2"
    assert lines[1].startswith(" ✔ Network app_default  Created")
    assert lines[2].startswith(" ✔ Container app-web-1  Started")
    assert "WARN[0000] Found orphan containers ([app-old-1])\n" in text
