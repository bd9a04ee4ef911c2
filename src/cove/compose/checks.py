"""The checks the schema cannot make: references between services and to declared resources."""

from __future__ import annotations

from typing import Any

from cove.compose.errors import ComposeError


def check_references(tree: dict[str, Any], source: str, *, disabled: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    services: dict[str, Any] = tree["services"]

    def service_ref(owner: str, key: str, other: str) -> None:
        if other not in services:
            why = "a disabled service (its profile is off)" if other in disabled else "undefined service"
            raise ComposeError(f'{source}: services.{owner}.{key}: {why} "{other}"')

    for name, svc in services.items():
        for link in svc.get("links") or []:
            service_ref(name, "links", str(link).partition(":")[0])
        for source_ref in svc.get("volumes_from") or []:
            ref = str(source_ref)
            if not ref.startswith("container:"):
                service_ref(name, "volumes_from", ref.partition(":")[0])
        mode = str(svc.get("network_mode") or "")
        if mode.startswith("service:"):
            service_ref(name, "network_mode", mode.removeprefix("service:"))
        # (after the keys that imply a dependency, so that an error names the key written)
        for dep in svc.get("depends_on") or {}:
            service_ref(name, "depends_on", dep)
        for net in svc.get("networks") or {}:
            if net not in (tree.get("networks") or {}):
                raise ComposeError(f'{source}: services.{name}.networks: undefined network "{net}"')
        for i, vol in enumerate(svc.get("volumes") or []):
            if (
                vol.get("type") == "volume"
                and vol.get("source")
                and vol["source"] not in (tree.get("volumes") or {})
            ):
                raise ComposeError(
                    f'{source}: services.{name}.volumes[{i}]: undefined volume "{vol["source"]}"'
                )
        for kind in ("secrets", "configs"):
            for i, ref in enumerate(svc.get(kind) or []):
                if ref["source"] not in (tree.get(kind) or {}):
                    raise ComposeError(
                        f'{source}: services.{name}.{kind}[{i}]: undefined {kind[:-1]} "{ref["source"]}"'
                    )
    _check_cycles(services, source)


def implicit_dependencies(svc: dict[str, Any]) -> list[str]:
    """The services this one needs first: depends_on, network_mode service:, volumes_from."""
    deps = list(svc.get("depends_on") or {})
    mode = str(svc.get("network_mode") or "")
    if mode.startswith("service:"):
        deps.append(mode.removeprefix("service:"))
    for ref in svc.get("volumes_from") or []:
        if not str(ref).startswith("container:"):
            deps.append(str(ref).partition(":")[0])
    return deps


def with_dependencies(services: dict[str, Any], names: list[str] | tuple[str, ...]) -> set[str]:
    """The named services and every service they need, transitively."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in services:
            continue
        out.add(name)
        todo.extend(implicit_dependencies(services[name]))
    return out


def _check_cycles(services: dict[str, Any], source: str) -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in implicit_dependencies(services[name]):
            if dep not in services:
                continue
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep] if dep in path else [name, dep]
                raise ComposeError(f"{source}: dependency cycle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(services):
        if name not in state:
            visit(name, [name])
