"""Walking a YAML-loaded tree (mappings, lists, scalars) with the key path of each value."""

from __future__ import annotations

from collections.abc import Callable

KeyPath = list[str | int]  # mapping keys (as strings) and list indexes, from the root


def map_strings(
    value: object,
    path: KeyPath,
    leaf: Callable[[str, KeyPath], object],
    enter: Callable[[KeyPath], bool] = lambda path: True,
) -> object:
    """A copy of ``value`` with each string replaced by ``leaf(string, its path)``; mapping keys
    and other scalars stay. ``enter(path)`` is asked first at every value: False keeps that
    value (and what is below it) as it is; it may also raise to stop the walk."""
    if not enter(path):
        return value
    if isinstance(value, str):
        return leaf(value, path)
    if isinstance(value, dict):
        out: dict[object, object] = {}
        for key, item in value.items():
            path.append(key if isinstance(key, str) else str(key))
            out[key] = map_strings(item, path, leaf, enter)
            path.pop()
        return out
    if isinstance(value, list):
        items: list[object] = []
        for index, item in enumerate(value):
            path.append(index)
            items.append(map_strings(item, path, leaf, enter))
            path.pop()
        return items
    return value
