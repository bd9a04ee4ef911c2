"""run racing rmi, as real processes: either rmi refuses or run finds no image, never both succeed."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import CoveRunner

# Every test here takes more than a second or two: none is in `make fast`.
pytestmark = pytest.mark.slow

ROUNDS = 16
PAIRS = 3  # images raced at once in each round


def test_run_and_rmi_of_one_image_never_both_succeed(cove_busybox: CoveRunner) -> None:
    cove = cove_busybox
    # Each raced image has its own config over busybox's layer, which stays (busybox holds it):
    # a container made from a deleted image would still find its layer and start.
    cove("create", "--name", "base", "busybox", "true")
    both: list[str] = []
    outcomes = {"run": 0, "rmi": 0}
    for round_ in range(ROUNDS):
        images = [f"race{round_}-{i}" for i in range(PAIRS)]
        for image in images:
            cove("commit", "-c", f"LABEL race={image}", "base", image)
        procs = []
        for image in images:
            run = cove.popen(
                "run", "-d", "--pull", "never", image, "true", stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            rmi = cove.popen("rmi", image, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            procs.append((image, run, rmi))
        for image, run, rmi in procs:
            run_out, run_err = run.communicate(timeout=120)
            rmi_out, rmi_err = rmi.communicate(timeout=120)
            if run.returncode == 0 and rmi.returncode == 0:
                both.append(f"{image}: run {run_out!r}, rmi {rmi_out!r}")
            elif run.returncode == 0:
                assert b"is using its referenced image" in rmi_err, rmi_err
                outcomes["run"] += 1
            else:
                assert run.returncode == 125 and b"No such image" in run_err, run_err
                assert rmi.returncode == 0, rmi_err
                outcomes["rmi"] += 1
    assert both == []
    # Every container's image is there.
    images = set(cove("images", "-q", "--no-trunc").out.split())
    for cid in cove("ps", "-aq", "--no-trunc").out.split():
        image_id = json.loads(cove("inspect", "--format", "{{json .Image}}", cid).out)
        assert image_id in images, (cid, image_id)
    assert sum(outcomes.values()) == ROUNDS * PAIRS
