import io

import pytest

from cove.cli.humanize import bytes_size, human_duration, human_size, since
from cove.cli.output import render, tabwrite


def test_tabwrite_matches_docker_spacing() -> None:
    # Docker's tabwriter: minimum cell width 10, padding 3, the last column unpadded.
    text = tabwrite(["REPOSITORY\tTAG\tIMAGE ID\tSIZE", "busybox\tlatest\ta416a98b71e2\t4.26MB"])
    assert text.splitlines() == [
        "REPOSITORY   TAG       IMAGE ID       SIZE",
        "busybox      latest    a416a98b71e2   4.26MB",
    ]


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (4_261_301, "4.26MB"),
        (164_000_000, "164MB"),
        (1.5e12, "1.5TB"),
    ],
)
def test_human_size(size: float, text: str) -> None:
    assert human_size(size) == text


def test_bytes_size() -> None:
    assert bytes_size(25_274_388_480) == "23.54GiB"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (61, "About a minute"),
        (600, "10 minutes"),
        (3600, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_since() -> None:
    assert since("2024-01-01T00:00:00Z", now=1704067200 + 7200) == "2 hours ago"
    assert since("2024-01-01T00:00:00.123456789Z", now=1704067200 + 30) == "29 seconds ago"
    assert since(None) == "N/A"
    assert since("yesterday") == "N/A"


ROWS = [{"ID": "1", "Name": "a"}, {"ID": "22", "Name": "b"}]


def _render(fmt: str | None, **kw: object) -> str:
    out = io.StringIO()
    render(ROWS, fmt, default="table {{.ID}}\t{{.Name}}", headers={"ID": "ID", "Name": "NAME"}, out=out, **kw)  # type: ignore[arg-type]
    return out.getvalue()


def test_render_formats() -> None:
    assert _render(None) == "ID        NAME\n1         a\n22        b\n"
    assert _render("table") == _render(None)
    assert _render("json") == '{"ID":"1","Name":"a"}\n{"ID":"22","Name":"b"}\n'
    assert _render("{{.Name}}-{{.ID}}") == "a-1\nb-22\n"
    assert _render("table {{.Name}}") == "NAME\na\nb\n"
    assert _render(r"{{.ID}}\t{{.Name}}") == "1\ta\n22\tb\n"
    assert _render(None, quiet=True, quiet_field="ID") == "1\n22\n"
