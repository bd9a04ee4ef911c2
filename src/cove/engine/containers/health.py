"""A container's health check: the image's HEALTHCHECK, with the container's settings over it."""

from __future__ import annotations

import dataclasses
from typing import Any

from cove.containers.model import ContainerConfig, HealthConfig


def health_from_image(image: dict[str, Any]) -> HealthConfig | None:
    hc = image.get("Healthcheck")
    if not isinstance(hc, dict) or not hc.get("Test"):
        return None
    ns = 1e9
    return HealthConfig(
        test=list(hc["Test"]),
        interval=(hc.get("Interval") or 0) / ns,
        timeout=(hc.get("Timeout") or 0) / ns,
        retries=int(hc.get("Retries") or 0),
        start_period=(hc.get("StartPeriod") or 0) / ns,
        start_interval=(hc.get("StartInterval") or 0) / ns,
    )


def effective_health(config: ContainerConfig, image: dict[str, Any]) -> HealthConfig | None:
    """Docker's merge of the container's health settings over the image's HEALTHCHECK: each
    setting the container leaves unset (empty test, zero timing) is the image's."""
    if config.no_healthcheck:
        return None
    own, image_health = config.healthcheck, health_from_image(image)
    if own is None or image_health is None:
        merged = own or image_health
    else:
        merged = HealthConfig(
            **{f.name: getattr(own, f.name) or getattr(image_health, f.name) for f in dataclasses.fields(own)}
        )
    return merged if merged is not None and merged.test else None
