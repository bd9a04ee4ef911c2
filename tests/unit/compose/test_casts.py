"""Typed keys cast after interpolation, as compose-go's loader/interpolate.go table does.

The table of typed keys follows compose-spec/compose-go (Apache-2.0) loader/interpolate.go,
commit e70e961c3a3acebf0800b882f1afb3dbf1fb74a2; the casts of interpolation_test.go's
TestInterpolateWithCast and the matching of tree/path.go's TestPathMatches are cases here.
"""

from __future__ import annotations

import pytest

from cove.compose.casts import CASTS, cast_typed
from cove.compose.interpolation import InterpolationError, interpolate


def test_interpolate_with_cast() -> None:
    # TestInterpolateWithCast, at the keys cove casts
    doc = {"services": {"foo": {"deploy": {"replicas": "$count"}, "init": "$REQUIRED"}}}
    env = {"count": "5", "REQUIRED": "true"}
    assert cast_typed(interpolate(doc, env.get)) == {
        "services": {"foo": {"deploy": {"replicas": 5}, "init": True}}
    }


def test_every_kind_of_key() -> None:
    doc = {
        "services": {
            "web": {
                "cpus": "0.5",
                "cpu_shares": "-2",
                "scale": "+3",
                "ports": [{"target": "80", "published": "8080"}, "81:81"],
                "volumes": [{"read_only": "YES", "volume": {"nocopy": "off"}}],
                "ulimits": {"nproc": "65535", "nofile": {"soft": "1", "hard": "2"}},
                "depends_on": {"db": {"required": "False", "restart": "on"}},
                "healthcheck": {"retries": "3", "disable": "n"},
                "image": "true",
                "environment": {"init": "true"},
                "labels": ["1"],
            }
        },
        "networks": {"n": {"external": "true", "name": "false"}},
        "volumes": {"v": {"external": "TRUE"}},
        "secrets": {"s": {"external": "false"}},
        "configs": {"c": {"external": "no"}},
        "x-scale": "3",
    }
    warnings: list[str] = []
    assert cast_typed(doc, warn=warnings.append) == {
        "services": {
            "web": {
                "cpus": 0.5,
                "cpu_shares": -2,
                "scale": 3,
                "ports": [{"target": 80, "published": "8080"}, "81:81"],
                "volumes": [{"read_only": True, "volume": {"nocopy": False}}],
                "ulimits": {"nproc": 65535, "nofile": {"soft": 1, "hard": 2}},
                "depends_on": {"db": {"required": False, "restart": True}},
                "healthcheck": {"retries": 3, "disable": False},
                "image": "true",
                "environment": {"init": "true"},
                "labels": ["1"],
            }
        },
        "networks": {"n": {"external": True, "name": "false"}},
        "volumes": {"v": {"external": True}},
        "secrets": {"s": {"external": False}},
        "configs": {"c": {"external": False}},
        "x-scale": "3",
    }
    assert len(warnings) == 5  # YES, off, on, n, no are YAML 1.1 spellings
    assert warnings[0] == '"YES" for a boolean is not YAML 1.2: write true'


def test_values_already_typed_are_left_alone() -> None:
    doc = {"services": {"web": {"deploy": {"replicas": 2}, "init": False, "cpus": None}}}
    assert cast_typed(doc) == doc


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        (
            {"services": {"web": {"deploy": {"replicas": "x"}}}},
            'services.web.deploy.replicas: invalid integer "x"',
        ),
        (
            {"services": {"web": {"deploy": {"replicas": " 1"}}}},
            'services.web.deploy.replicas: invalid integer " 1"',
        ),
        (
            {"services": {"web": {"deploy": {"replicas": "1_0"}}}},
            'services.web.deploy.replicas: invalid integer "1_0"',
        ),
        (
            {"services": {"web": {"deploy": {"replicas": "1.0"}}}},
            'services.web.deploy.replicas: invalid integer "1.0"',
        ),
        (
            {"services": {"web": {"pids_limit": str(1 << 63)}}},
            f'services.web.pids_limit: invalid integer "{1 << 63}"',
        ),
        ({"services": {"web": {"cpus": "half"}}}, 'services.web.cpus: invalid number "half"'),
        ({"services": {"web": {"init": "maybe"}}}, 'services.web.init: invalid boolean "maybe"'),
        (
            {"services": {"web": {"ports": [{"target": ""}]}}},
            'services.web.ports[0].target: invalid integer ""',
        ),
    ],
)
def test_bad_values_name_their_path(doc: object, error: str) -> None:
    with pytest.raises(InterpolationError) as caught:
        cast_typed(doc)
    assert str(caught.value) == error


def test_patterns_match_whole_paths() -> None:
    # TestPathMatches: a pattern matches a path of its own length, "*" any part, "[]" a list index
    assert cast_typed({"services": {"web": {"deploy": {"replicas": {"x": "1"}}}}}) == {
        "services": {"web": {"deploy": {"replicas": {"x": "1"}}}}
    }
    assert cast_typed({"services": {"web": {"ports": {"a": {"target": "1"}}}}}) == {
        "services": {"web": {"ports": {"a": {"target": "1"}}}}
    }
    assert cast_typed({"services": [{"init": "true"}]}) == {"services": [{"init": True}]}
    assert cast_typed({"other": {"web": {"init": "true"}}}) == {"other": {"web": {"init": "true"}}}
    assert all(
        pattern[0] in {"services", "networks", "volumes", "secrets", "configs"} for pattern, _ in CASTS
    )


def test_a_part_of_the_document_at_its_path() -> None:
    assert cast_typed({"replicas": "2"}, path=("services", "web", "deploy")) == {"replicas": 2}
    assert cast_typed("true", path=("services", "web", "init")) is True
    with pytest.raises(InterpolationError, match=r"^services\.web\.ports\[3\]\.target: invalid integer"):
        cast_typed({"target": "x"}, path=("services", "web", "ports", 3))


def test_deep_documents_are_not_walked_below_the_deepest_key() -> None:
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    assert cast_typed({"x-deep": deep}) == {"x-deep": deep}
