"""The dependency graph and the planner (pure): tables of model + observed state -> actions."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from cove.compose import graph
from cove.compose.errors import ComposeError
from cove.compose.model import Condition, Dependency, Project, Service
from cove.compose.plan import Options, Recreate, Verb, make_plan
from cove.compose.state import Observed, from_containers
from cove.engine.container_types import Status

C, R, S, N, X, RS = Verb.CREATE, Verb.RECREATE, Verb.START, Verb.NOOP, Verb.REMOVE, Verb.RESTART


def project(*services: Service) -> Project:
    return Project("app", Path("/app"), MappingProxyType({s.name: s for s in services}))


def svc(name: str, *deps: str, **kw: object) -> Service:
    return Service(name, image="busybox", depends_on=tuple(Dependency(d) for d in deps), **kw)  # type: ignore[arg-type]


def box(
    service: str, number: int, *, hash: str = "h", status: Status = Status.RUNNING, image: str = "i"
) -> Observed:
    return Observed(f"id-{service}-{number}", f"app-{service}-{number}", service, number, hash, image, status)


# -- the graph --------------------------------------------------------------------------------


def test_levels_put_each_service_after_what_it_needs() -> None:
    p = project(
        svc("web", "api"),
        svc("api", "db", "cache"),
        svc("db"),
        svc("cache"),
        svc("side", network_mode="service:web"),
        svc("data", volumes_from=("db:ro",)),
        svc("linked", links=("cache:c",)),
    )
    assert graph.levels(p) == [["cache", "db"], ["api", "data", "linked"], ["web"], ["side"]]
    assert graph.stop_order(p)[:2] == ["side", "web"]
    assert graph.with_dependencies(p, ["web"]) == {"web", "api", "db", "cache"}
    assert graph.dependents(p, ["db"]) == {"db", "api", "web", "side", "data"}


def test_levels_of_a_subset_ignore_the_rest() -> None:
    p = project(svc("web", "db"), svc("db"), svc("other"))
    assert graph.levels(p, ["web"]) == [["web"]]


def test_a_cycle_is_one_line_naming_it_in_full() -> None:
    p = project(svc("a", "b"), svc("b", "c"), svc("c", "a"), svc("d"))
    with pytest.raises(ComposeError, match=r"^dependency cycle detected: a -> b -> c -> a$"):
        graph.levels(p)


def test_edges_keep_the_condition_and_mark_shared_namespaces() -> None:
    s = Service(
        "web",
        depends_on=(Dependency("db", Condition.HEALTHY, required=False, restart=True),),
        network_mode="service:db",
        volumes_from=("data", "container:xyz"),
        links=("db:database",),
    )
    assert graph.edges(s) == (
        graph.Edge("db", Condition.HEALTHY, required=False, restart=True, shares=True),
        graph.Edge("data", shares=True),
    )


# -- the planner ------------------------------------------------------------------------------

P = project(svc("web", "db"), svc("db"), svc("worker"))
HASHES = {"web": "h", "db": "h", "worker": "h"}


@pytest.mark.parametrize(
    ("observed", "options", "hashes", "expected"),
    [
        # nothing yet: everything created
        ([], Options(), HASHES, {"db": [(C, 1)], "web": [(C, 1)], "worker": [(C, 1)]}),
        # all there, unchanged: left alone
        (
            [box("web", 1), box("db", 1), box("worker", 1)],
            Options(start=True),
            HASHES,
            {"db": [(N, 1)], "web": [(N, 1)], "worker": [(N, 1)]},
        ),
        # one changed: only that one
        (
            [box("web", 1), box("db", 1), box("worker", 1)],
            Options(),
            {**HASHES, "worker": "new"},
            {"db": [(N, 1)], "web": [(N, 1)], "worker": [(R, 1)]},
        ),
        # --no-recreate keeps a changed one; --force-recreate recreates unchanged ones
        ([box("worker", 1, hash="old")], Options(services=("worker",), recreate=Recreate.NEVER), HASHES,
         {"worker": [(N, 1)]}),
        ([box("worker", 1)], Options(services=("worker",), recreate=Recreate.FORCE), HASHES,
         {"worker": [(R, 1)]}),
        # a named service forced, its dependency only when it changed
        ([box("web", 1), box("db", 1)], Options(services=("web",), recreate=Recreate.FORCE), HASHES,
         {"db": [(N, 1)], "web": [(R, 1)]}),
        # stopped ones start (up), or stay (create)
        ([box("db", 1, status=Status.EXITED)], Options(services=("db",), start=True), HASHES,
         {"db": [(S, 1)]}),
        ([box("db", 1, status=Status.EXITED)], Options(services=("db",)), HASHES, {"db": [(N, 1)]}),
        # --no-deps: the named service alone
        ([], Options(services=("web",), no_deps=True), HASHES, {"web": [(C, 1)]}),
        # scale up: new numbers after the highest; down: the highest numbers go first
        ([box("worker", 1), box("worker", 3)], Options(services=("worker",), scale={"worker": 4}), HASHES,
         {"worker": [(N, 1), (N, 3), (C, 4), (C, 5)]}),
        ([box("worker", n) for n in (1, 2, 3)], Options(services=("worker",), scale={"worker": 1}), HASHES,
         {"worker": [(N, 1), (X, 3), (X, 2)]}),
        ([box("worker", 1)], Options(services=("worker",), scale={"worker": 0}), HASHES,
         {"worker": [(X, 1)]}),
    ],
)  # fmt: skip
def test_plan(observed: list[Observed], options: Options, hashes: dict[str, str], expected: object) -> None:
    plan = make_plan(P, from_containers("app", observed), options, hashes=hashes)
    assert {s: plan.verbs(s) for s in plan.services} == expected


def test_start_order_of_the_plan_is_the_graphs() -> None:
    plan = make_plan(P, from_containers("app", []), Options(), hashes=HASHES)
    assert plan.levels == (("db", "worker"), ("web",))


def test_an_image_changed_under_a_container_recreates_it() -> None:
    observed = from_containers("app", [box("db", 1, image="old"), box("worker", 1, image="old")])
    plan = make_plan(P, observed, Options(services=("db", "worker")), hashes=HASHES, images={"db": "new"})
    assert plan.verbs("db") == [(R, 1)]
    assert plan.verbs("worker") == [(N, 1)]  # (its image ID unknown: not compared)


def test_a_container_sharing_a_recreated_ones_namespace_is_recreated_a_restart_dependent_restarted() -> None:
    p = project(
        svc("db"),
        svc("side", network_mode="service:db"),
        Service("web", image="busybox", depends_on=(Dependency("db", restart=True),)),
        svc("plain", "db"),
    )
    observed = from_containers("app", [box(s, 1) for s in ("db", "side", "web", "plain")])
    plan = make_plan(
        p, observed, Options(start=True), hashes={"db": "new", "side": "h", "web": "h", "plain": "h"}
    )
    assert {s: plan.verbs(s) for s in plan.services} == {
        "db": [(R, 1)],
        "side": [(R, 1)],
        "web": [(RS, 1)],
        "plain": [(N, 1)],
    }


def test_orphans_are_the_projects_containers_of_services_not_in_the_model() -> None:
    observed = from_containers("app", [box("db", 1), box("gone", 1), box("gone", 2)])
    plan = make_plan(P, observed, Options(remove_orphans=True), hashes=HASHES)
    assert [o.name for o in plan.orphans] == ["app-gone-1", "app-gone-2"]
    assert plan.remove_orphans
    # a service the files define but whose profile is off is no orphan
    plan = make_plan(P, observed, Options(), hashes=HASHES, known={*P.services, "gone"})
    assert plan.orphans == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (Options(services=("nope",)), "no such service: nope"),
        (Options(scale={"nope": 2}), "no such service: nope"),
    ],
)
def test_bad_options_are_one_line(options: Options, message: str) -> None:
    with pytest.raises(ComposeError, match=f"^{message}$"):
        make_plan(P, from_containers("app", []), options, hashes=HASHES)


def test_container_name_cannot_scale() -> None:
    p = project(svc("web", container_name="fixed"))
    with pytest.raises(ComposeError, match="container name must be unique"):
        make_plan(p, from_containers("app", []), Options(scale={"web": 2}), hashes={"web": "h"})
