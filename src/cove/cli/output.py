"""Rendering rows as Docker does: aligned tables, JSON lines, or a Go template per row."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from cove.cli.template import Template

# Docker's tabwriter settings: minimum cell width 10, padding 3.
MIN_WIDTH = 10
PADDING = 3


def tabwrite(lines: Sequence[str]) -> str:
    """Align tab-separated cells into columns, like Go's text/tabwriter."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + PADDING, MIN_WIDTH)
    out = []
    for cells in rows:
        text = "".join(cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])) + cells[-1]
        out.append(text.rstrip() if not cells[-1] else text)
    return "\n".join(out)


def unescape(fmt: str) -> str:
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def render(
    rows: Sequence[Mapping[str, Any]],
    fmt: str | None,
    *,
    default: str,
    headers: Mapping[str, str],
    out: TextIO,
    quiet_field: str | None = None,
    quiet: bool = False,
) -> None:
    """Print ``rows`` in the user's ``--format`` (or the command's ``default`` table)."""
    if quiet and quiet_field is not None:
        for row in rows:
            out.write(f"{row[quiet_field]}\n")
        return
    fmt = default if fmt in (None, "", "table") else fmt
    assert fmt is not None
    if fmt == "json":
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n")
        return
    table = fmt.startswith("table ") or fmt == "table"
    from cove.cli.template import Template  # only when a template is rendered

    template = Template(unescape(fmt[6:] if table else fmt))
    lines = []
    if table:
        header_row = {name: headers.get(name, name.upper()) for name in template.fields()}
        header_row.update({k: v for k, v in headers.items() if k not in header_row})
        lines.append(template.render(header_row))
    lines.extend(template.render(dict(row)) for row in rows)
    if table:
        text = tabwrite([line for block in lines for line in block.split("\n")])
        out.write(text + "\n")
    else:
        for line in lines:
            out.write(line + "\n")


def print_json(value: Any, out: TextIO) -> None:
    """Pretty JSON as ``docker inspect`` prints it."""
    out.write(json.dumps(value, indent=4, ensure_ascii=False) + "\n")


def inspect_each(
    refs: Sequence[str], shape: Callable[[str], dict[str, Any]], err: TextIO
) -> tuple[list[dict[str, Any]], bool]:
    """The inspect shape of each reference; a failing one is reported on ``err`` and skipped.
    Returns the shapes and whether any failed."""
    from cove.cli.exitcodes import describe
    from cove.errors import CoveError

    found, failed = [], False
    for ref in refs:
        try:
            found.append(shape(ref))
        except CoveError as exc:
            err.write(describe(exc) + "\n")
            failed = True
    return found, failed


def inspect_template(fmt: str | None) -> Template | None:
    """The ``--format`` of inspect, info and version: None for JSON, else its template, parsed
    before anything is looked up; a malformed one exits 64, as Docker's does."""
    if not fmt or fmt == "json":
        return None
    from cove.cli.exitcodes import BAD_FORMAT, Failure
    from cove.cli.template import Template, TemplateParseError

    try:
        return Template(unescape(fmt))
    except TemplateParseError as exc:
        raise Failure(exc, BAD_FORMAT) from None


def print_inspected(found: Sequence[Any], template: Template | None, out: TextIO) -> None:
    """``inspect`` output: JSON as Docker prints it, or the ``--format`` template per object."""
    if template is not None:
        for item in found:
            out.write(template.render(item) + "\n")
    else:
        print_json(list(found), out)
