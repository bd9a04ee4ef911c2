"""Golden Dockerfiles: each ``tests/unit/dockerfiles/<case>/Dockerfile`` is parsed into typed
instructions and planned into stages; ``expected.json`` holds the instructions as JSON (with
the warnings), or the error with its line range.

To regenerate the expected files after a deliberate change, run
``COVE_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_dockerfile_golden.py`` and
read the diff before committing it. A new case is a new directory with a Dockerfile (its
expected.json is written on the first regeneration).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from cove.build.dockerfile import DockerfileError, parse_syntax
from cove.build.instructions import Instruction, parse_instructions
from cove.build.stages import plan
from cove.oci.platform import parse_platform

CASES = Path(__file__).with_name("dockerfiles")
REGENERATE = os.environ.get("COVE_REGEN_GOLDEN") == "1"
PLATFORM = parse_platform("linux/amd64")


def instruction_json(x: Instruction) -> dict[str, Any]:
    fields = dataclasses.asdict(x)
    if "trigger" in fields:
        fields["trigger"] = instruction_json(x.trigger)  # type: ignore[union-attr]
    return {"instruction": x.keyword, **fields}


def outcome(text: bytes) -> dict[str, Any]:
    try:
        syntax = parse_syntax(text)
        instructions = parse_instructions(syntax)
        built = plan(
            instructions, {}, target_platform=PLATFORM, build_platform=PLATFORM, escape=syntax.escape
        )
    except DockerfileError as exc:
        return {
            "error": {"message": exc.reason, "hint": exc.hint, "line": exc.line, "end_line": exc.end_line}
        }
    return {
        "instructions": [instruction_json(x) for x in instructions],
        "warnings": [f"line {w.line}: {w.message}" for w in syntax.warnings]
        + [f"line {x.line}: {w}" for x in instructions for w in x.warnings],
        "stages": [
            {"name": s.name, "base": s.base, "depends_on": sorted(s.depends_on)} for s in built.stages
        ],
        "needed": built.needed,
    }


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden(case: str) -> None:
    directory = CASES / case
    got = json.loads(json.dumps(outcome((directory / "Dockerfile").read_bytes())))  # tuples as lists
    expected_file = directory / "expected.json"
    if REGENERATE:
        expected_file.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert expected_file.exists(), f"{case}: no expected.json (run with COVE_REGEN_GOLDEN=1)"
    assert got == json.loads(expected_file.read_text())


def test_every_case_has_a_dockerfile() -> None:
    cases = [p for p in CASES.iterdir() if p.is_dir()]
    assert len(cases) >= 20
    assert all((p / "Dockerfile").is_file() for p in cases)
