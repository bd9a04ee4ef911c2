"""Opening an engine: the one place that picks implementations (storage driver, runner)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cove.config import EngineConfig
from cove.content.store import ContentStore
from cove.db.database import Database
from cove.engine.images import ImageService
from cove.engine.store import Store
from cove.engine.system import SystemService
from cove.errors import FailedPrecondition, PermissionDenied
from cove.host.overlay import probe_overlay
from cove.host.runner import Runner, SubprocessRunner
from cove.images.store import ImageStore
from cove.snapshots.snapshotter import COPY, OVERLAY, Snapshotter

DRIVER_KEY = "storage_driver"
DRIVER_REASON_KEY = "storage_driver_reason"


@dataclass
class Engine:
    store: Store
    images: ImageService
    system: SystemService

    def close(self) -> None:
        self.store.close()


def _choose_driver(config: EngineConfig, db: Database) -> tuple[str, str]:
    recorded = db.get_meta(DRIVER_KEY)
    wanted = config.storage_driver
    if recorded is not None:
        reason = db.get_meta(DRIVER_REASON_KEY) or ""
        if wanted in ("auto", recorded):
            return recorded, reason
        if db.query_one("SELECT 1 FROM snapshots LIMIT 1") is not None:
            raise FailedPrecondition(
                f"the store at {config.root} uses the {recorded} storage driver, not {wanted}",
                hint="use another COVE_ROOT for another driver, or `cove system prune -a` to empty this one",
            )
    if wanted == "auto":
        works, reason = probe_overlay(config.root / "tmp")
        driver = OVERLAY if works else COPY
    else:
        driver, reason = wanted, "chosen in the configuration"
    db.set_meta(DRIVER_KEY, driver)
    db.set_meta(DRIVER_REASON_KEY, reason)
    return driver, reason


def open_engine(config: EngineConfig, *, runner: Runner | None = None) -> Engine:
    if os.geteuid() != 0:
        raise PermissionDenied(
            "cove needs root to manage images and containers", hint="run it as root (e.g. with sudo)"
        )
    config.root.mkdir(parents=True, exist_ok=True, mode=0o711)
    db = Database(config.root / "cove.db")
    try:
        driver, reason = _choose_driver(config, db)
        runner = runner or SubprocessRunner()
        content = ContentStore(config.root / "content")
        snapshotter = Snapshotter(config.root / "snapshots", db, driver, runner)
        images = ImageStore(db, content)
        store = Store(config, config.root, db, content, snapshotter, images, runner, reason)
        # Whatever a killed cove left behind goes now, if no other cove is at work.
        store.tidy()
    except BaseException:
        db.close()
        raise
    images_service = ImageService(store)
    return Engine(store, images_service, SystemService(store, images_service))
