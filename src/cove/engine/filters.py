"""Docker's ``--filter key=value`` semantics, for every object kind: the shared parts (checking
the keys, label matching, booleans, ``until``) and the volume and network filters.

Images and containers keep their filter tables beside their services (they need the image
store and the container states), built on the same parts here; label matching exists once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from cove.errors import InvalidArgument
from cove.oci.timestamps import parse_rfc3339

if TYPE_CHECKING:
    from cove.network.store import NetworkRecord
    from cove.volumes.store import Volume

Filters = Mapping[str, list[str]]

VOLUME_FILTERS = frozenset({"dangling", "name", "label", "driver"})
VOLUME_PRUNE_FILTERS = frozenset({"label", "label!", "all"})
NETWORK_FILTERS = frozenset({"name", "id", "label", "driver", "type", "dangling"})
NETWORK_PRUNE_FILTERS = frozenset({"label", "label!", "until"})


def check_filters(filters: Filters, allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(
                f"invalid filter {key!r}", hint=f"filters here: {', '.join(sorted(allowed))}"
            )


def parse_bool_filter(key: str, values: list[str]) -> bool:
    wanted = {v.lower() for v in values}
    if not wanted <= {"true", "false", "1", "0"} or len(wanted) > 1:
        raise InvalidArgument(f"invalid filter '{key}={','.join(values)}': use true or false")
    return wanted.pop() in ("true", "1")


def labels_match(labels: Mapping[str, str], wanted: Sequence[str]) -> bool:
    """Docker's ``label=KEY`` (the key is set) and ``label=KEY=VALUE`` (to that value), all of them."""
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def label_filters_match(labels: Mapping[str, str], filters: Filters) -> bool:
    """The prunes' ``label`` (all of them match) and ``label!`` (none of them does) filters."""
    if not labels_match(labels, filters.get("label", [])):
        return False
    return not any(labels_match(labels, [item]) for item in filters.get("label!", []))


def until_filter(filters: Filters) -> float | None:
    """The earliest of the ``until`` filters, as a timestamp (None without one)."""
    return min((parse_until(v) for v in filters.get("until", [])), default=None)


def parse_until(value: str) -> float:
    """``until`` as Docker takes it: a timestamp, an RFC 3339 date or a duration ago (10m, 2h)."""
    units = {"s": 1, "m": 60, "h": 3600}
    if value and value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(value[:-1]) * units[value[-1]]
    with contextlib.suppress(ValueError):
        return float(value)
    moment = parse_rfc3339(value)
    if moment is None:
        raise InvalidArgument(f"invalid until filter {value!r}", hint="use a duration (24h) or a date")
    return moment.timestamp()


def filter_volumes(
    volumes: Sequence[Volume], filters: Filters, in_use: Callable[[str], bool]
) -> list[Volume]:
    """``volume ls`` (and ``volume prune``) filters; ``in_use`` tells whether a container uses a volume."""
    check_filters(filters, VOLUME_FILTERS)
    dangling = parse_bool_filter("dangling", filters["dangling"]) if "dangling" in filters else None
    out = []
    for v in volumes:
        if "name" in filters and not any(n in v.name for n in filters["name"]):
            continue
        if "driver" in filters and v.driver not in filters["driver"]:
            continue
        if "label" in filters and not labels_match(v.labels, filters["label"]):
            continue
        if dangling is not None and in_use(v.name) == dangling:
            continue
        out.append(v)
    return out


def filter_networks(
    networks: Sequence[NetworkRecord], filters: Filters, in_use: Callable[[NetworkRecord], bool]
) -> list[NetworkRecord]:
    """``network ls`` filters; ``in_use`` tells whether a network has endpoints. The built-in
    network is never dangling, as in Docker."""
    check_filters(filters, NETWORK_FILTERS)
    dangling = parse_bool_filter("dangling", filters["dangling"]) if "dangling" in filters else None
    out = []
    for n in networks:
        if "name" in filters and not any(f in n.name for f in filters["name"]):
            continue
        if "id" in filters and not any(n.id.startswith(f) for f in filters["id"]):
            continue
        if "driver" in filters and n.driver not in filters["driver"]:
            continue
        if "type" in filters and ("custom" if n.user_defined else "builtin") not in filters["type"]:
            continue
        if "label" in filters and not labels_match(n.labels, filters["label"]):
            continue
        if dangling is not None and (n.user_defined and not in_use(n)) != dangling:
            continue
        out.append(n)
    return out


def networks_to_prune(
    networks: Sequence[NetworkRecord], filters: Filters, in_use: Callable[[NetworkRecord], bool]
) -> list[NetworkRecord]:
    """``network prune``'s: the user-defined networks no container is on, created before
    ``until``, with the labels asked for."""
    check_filters(filters, NETWORK_PRUNE_FILTERS)
    until = until_filter(filters)
    return [
        n
        for n in networks
        if n.user_defined
        and (until is None or n.created < until)
        and label_filters_match(n.labels, filters)
        and not in_use(n)
    ]
