"""ps/ls/images rows, container choice, ports text and polled events, from fake containers."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest

from cove.cli.commands.compose_ops import ps_row
from cove.compose.events import changes, history, seen, watch
from cove.compose.summary import (
    Publisher,
    combined_status,
    displayable_ports,
    name_matches,
    ps_selection,
    publishers,
    service_container,
    stacks,
    summarize,
)
from cove.engine.container_types import HealthStatus, Status
from cove.engine.requests import Binding
from cove.errors import NotFound
from tests.unit.compose.fakes import container, with_status

# -- choosing ---------------------------------------------------------------------------------------


def test_ps_shows_running_service_containers_by_name_and_all_with_a() -> None:
    web2 = container("app", "web", 2)
    web1 = container("app", "web", 1)
    done = container("app", "db", status=Status.EXITED, exit_code=1)
    oneoff = container("app", "web", oneoff=True)
    every = [web2, done, oneoff, web1]
    assert [c.record.name for c in ps_selection(every)] == ["app-web-1", "app-web-2"]
    assert [c.record.name for c in ps_selection(every, all=True)] == [
        "app-db-1", "app-web-1", "app-web-2", "app-web-run-abc",
    ]  # fmt: skip
    assert ps_selection(every, statuses=["exited"]) == [done]  # --status looks at stopped ones too
    assert [c.record.name for c in ps_selection(every, services=["db"], all=True)] == ["app-db-1"]


def test_service_container_is_the_lowest_number_or_the_index_and_says_why_not() -> None:
    web1, web2 = container("app", "web", 1), container("app", "web", 2)
    oneoff = container("app", "web", 1, oneoff=True)
    assert service_container([oneoff, web2, web1], "web") is web1
    assert service_container([oneoff, web2, web1], "web", 2) is web2
    assert service_container([oneoff], "web") is oneoff  # a one-off is taken when it is all there is
    with pytest.raises(NotFound, match='service "web" is not running container #3'):
        service_container([web1], "web", 3)
    stopped = container("app", "db", status=Status.EXITED)
    with pytest.raises(NotFound, match=r'service "db" is not running$'):
        service_container([stopped], "db")
    assert service_container([stopped], "db", running=False) is stopped


# -- ports ----------------------------------------------------------------------------------------


def test_publishers_list_bound_then_exposed_ports_of_a_running_container() -> None:
    bound = [Binding(80, "tcp", "", 8080), Binding(53, "udp", "127.0.0.1", 5353)]
    got = publishers(bound, [(80, "tcp"), (443, "tcp")], running=True)
    assert got == (
        Publisher(53, "127.0.0.1", 5353, "udp"),
        Publisher(80, "0.0.0.0", 8080, "tcp"),
        Publisher(443, "", 0, "tcp"),
    )
    assert publishers(bound, [(80, "tcp")], running=False) == ()


def test_displayable_ports_groups_ranges_as_docker_does() -> None:
    ports = [
        Publisher(80, "0.0.0.0", 8080, "tcp"),
        Publisher(9000, "", 0, "tcp"),
        Publisher(9001, "", 0, "tcp"),
        Publisher(9003, "", 0, "tcp"),
        Publisher(7000, "0.0.0.0", 7000, "tcp"),
        Publisher(7001, "0.0.0.0", 7001, "tcp"),
    ]
    assert displayable_ports(ports) == (
        "0.0.0.0:7000-7001->7000-7001/tcp, 9000-9001/tcp, 9003/tcp, 0.0.0.0:8080->80/tcp"
    )
    assert displayable_ports([]) == ""


# -- ps rows --------------------------------------------------------------------------------------


def test_ps_row_has_docker_compose_json_keys_and_values() -> None:
    c = container("app", "web", health=HealthStatus.HEALTHY)
    summary = summarize(c, None)
    row = ps_row(summary, "Up 2 seconds (healthy)", now=c.record.created + 2)
    assert list(row) == sorted(row)  # Go marshals the map with its keys sorted
    assert set(row) == {
        "Command", "CreatedAt", "Engine", "ExitCode", "Health", "ID", "Image", "Labels", "LocalVolumes",
        "Mounts", "Name", "Names", "Networks", "Ports", "Project", "Publishers", "RunningFor",
        "Service", "Size", "State", "Status",
    }  # fmt: skip
    assert row["Name"] == "app-web-1" and row["Service"] == "web" and row["Project"] == "app"
    assert row["Health"] == "healthy" and row["State"] == "running" and row["ExitCode"] == 0
    assert row["ID"] == c.record.id[:12] and row["RunningFor"] == "2 seconds ago"
    assert row["Publishers"] == [] and row["Command"] == '""'
    json.dumps(row)  # one JSON object per line


def test_ps_row_of_an_exited_container_and_a_long_command() -> None:
    c = container("app", "job", status=Status.EXITED, exit_code=3, health=HealthStatus.UNHEALTHY)
    summary = replace(summarize(c, None), command="sh -c 'echo a long command line'")
    row = ps_row(summary, "Exited (3) 1 second ago")
    assert row["ExitCode"] == 3 and row["Health"] == ""  # health only for a running container
    assert row["Command"] == '"sh -c \'echo a long …"'  # 19 characters and the ellipsis
    assert ps_row(summary, "", truncate=False)["Command"] == json.dumps("sh -c 'echo a long command line'")


# -- ls -------------------------------------------------------------------------------------------


def test_stacks_count_states_and_join_config_files() -> None:
    every = [
        container("b", "web", config_files="/b/compose.yaml"),
        container("a", "web", config_files="/a/compose.yaml,/a/override.yaml"),
        container("a", "db", status=Status.EXITED, config_files="/a/compose.yaml"),
        container("a", "worker", 2, config_files="/a/compose.yaml"),
    ]
    got = [(s.name, s.status, s.config_files) for s in stacks(every)]
    assert got == [
        ("a", "exited(1), running(2)", "/a/compose.yaml,/a/override.yaml"),
        ("b", "running(1)", "/b/compose.yaml"),
    ]
    assert combined_status([]) == ""


def test_ls_name_filter_is_the_name_or_a_pattern() -> None:
    assert name_matches("myapp", ["myapp"]) and name_matches("myapp", ["^my"])
    assert not name_matches("myapp", ["^app"]) and not name_matches("myapp", ["("])


# -- events ---------------------------------------------------------------------------------------

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:00:01Z"


def test_events_of_a_container_that_comes_starts_dies_and_goes() -> None:
    created = container("app", "web", status=Status.CREATED, started_at="")
    running = container("app", "web", started_at=T0)
    dead = with_status(running, Status.EXITED, 137)
    looks = [{}, {created.record.id: seen(created)}, {running.record.id: seen(running)}]
    looks += [{dead.record.id: seen(dead)}, {}]
    actions = [[e.action for e in changes(a, b, 5.0)] for a, b in itertools.pairwise(looks)]
    assert actions == [["create"], ["start"], ["die"], ["destroy"]]
    die = changes(looks[2], looks[3], 5.0)[0]
    assert die.attributes == {"image": "busybox", "name": "app-web-1", "exitCode": "137"}
    assert die.service == "web" and die.container == running.record.id


def test_events_seen_between_two_looks_and_restarts() -> None:
    quick = container("app", "job", status=Status.EXITED, exit_code=2, started_at=T0)
    assert [e.action for e in changes({}, {quick.record.id: seen(quick)}, 9.0)] == ["create", "start", "die"]
    first = container("app", "web", started_at=T0)
    again = container("app", "web", started_at=T1)
    before, after = {first.record.id: seen(first)}, {again.record.id: seen(again)}
    assert [e.action for e in changes(before, after, 9.0)] == ["die", "start"]
    gone = {first.record.id: seen(first)}
    assert [e.action for e in changes(gone, {}, 9.0)] == ["die", "destroy"]


def test_health_and_pause_events() -> None:
    starting = container("app", "web", health=HealthStatus.STARTING)
    healthy = container("app", "web", health=HealthStatus.HEALTHY)
    paused = with_status(healthy, Status.PAUSED)
    a, b, c = (seen(x) for x in (starting, healthy, paused))
    cid = starting.record.id
    assert [e.action for e in changes({cid: a}, {cid: b}, 1.0)] == ["health_status: healthy"]
    assert [e.action for e in changes({cid: b}, {cid: c}, 1.0)] == ["pause"]
    assert [e.action for e in changes({cid: c}, {cid: b}, 1.0)] == ["unpause"]


def test_history_and_watch_with_since_and_until() -> None:
    web = container("app", "web", started_at=T0, created=1767225599.0)
    assert [e.action for e in history({web.record.id: seen(web)}, 1767225599.5, 2e9)] == ["start"]
    clock = iter([1767225598.0, 1767225601.0, 1767225602.0])
    looks = iter([[], [web]])
    got = watch(lambda: next(looks), until=1767225601.5, clock=lambda: next(clock), sleep=lambda _: None)
    assert [e.action for e in got] == ["create", "start"]
    oneoff = container("app", "web", oneoff=True)
    looks2 = iter([[], [oneoff]])
    clock2 = iter([1.0, 2.0, 3.0])
    assert not list(watch(lambda: next(looks2), until=2.5, clock=lambda: next(clock2), sleep=lambda _: None))
