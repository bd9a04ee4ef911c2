"""Rendering a prune's report as Docker does, for every prune command."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from cove.cli.humanize import human_size

if TYPE_CHECKING:
    from cove.engine.types import PruneReport


def render_prune(report: PruneReport, out: TextIO) -> None:
    """A "Deleted <kind>:" section per kind that lost something, in Docker's order, then the
    space reclaimed (sections end with a blank line when that total follows them)."""
    sections: list[tuple[str, list[str]]] = [
        ("Deleted Containers:", list(report.containers)),
        ("Deleted Networks:", list(report.networks)),
        ("Deleted Volumes:", list(report.volumes)),
        (
            "Deleted Images:",
            [f"untagged: {name}" for name in report.untagged] + [f"deleted: {i}" for i in report.images],
        ),
        ("Deleted build cache objects:", list(report.build_cache)),
    ]
    total = report.space_reclaimed is not None
    for title, lines in sections:
        if not lines:
            continue
        out.write(title + "\n")
        for line in lines:
            out.write(line + "\n")
        if total:
            out.write("\n")
    if report.space_reclaimed is not None:
        out.write(f"Total reclaimed space: {human_size(report.space_reclaimed)}\n")
