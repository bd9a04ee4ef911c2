"""Pull a missing image, then create: the sequence Docker's client runs, for every front-end."""

from __future__ import annotations

import pytest

from cove.containers.model import ContainerConfig
from cove.containers.store import ContainerRecord
from cove.engine.clientside import create_pulling
from cove.errors import ImageNotFound
from cove.policies import PullPolicy


class Store:
    """A container service's create over a set of local images; it records every call."""

    def __init__(self, images: set[str]) -> None:
        self.images = images
        self.calls: list[str] = []

    def create(
        self, config: ContainerConfig, name: str | None = None, *, pull: PullPolicy | str = "missing"
    ) -> ContainerRecord:
        self.calls.append(f"create {config.image} pull={pull}")
        if config.image not in self.images:
            raise ImageNotFound(config.image)
        return ContainerRecord(
            id="c" * 64,
            name=name or "n",
            image_id="sha256:i",
            image_ref=config.image,
            snapshot_key="k",
            created=0.0,
            config=config,
            runtime="runc",
        )

    def pull(self, image: str) -> None:
        self.calls.append(f"pull {image}")
        self.images.add(image)

    def missing(self, image: str) -> None:
        self.calls.append(f"missing {image}")


def _create(store: Store, policy: PullPolicy) -> ContainerRecord:
    config = ContainerConfig(image="busybox")
    return create_pulling(store, config, "web", policy=policy, pull=store.pull, on_missing=store.missing)


def test_missing_pulls_only_what_is_not_there() -> None:
    store = Store(set())
    assert _create(store, PullPolicy.MISSING).name == "web"
    assert store.calls == [
        "create busybox pull=missing",
        "missing busybox",
        "pull busybox",
        "create busybox pull=never",
    ]
    store.calls.clear()
    _create(store, PullPolicy.MISSING)
    assert store.calls == ["create busybox pull=missing"]


def test_always_pulls_first() -> None:
    store = Store({"busybox"})
    _create(store, PullPolicy.ALWAYS)
    assert store.calls == ["pull busybox", "create busybox pull=always"]


def test_never_never_pulls() -> None:
    store = Store(set())
    with pytest.raises(ImageNotFound):
        _create(store, PullPolicy.NEVER)
    assert store.calls == ["create busybox pull=never"]
