"""Checking one file's tree against the Compose Specification's JSON schema (shipped as is)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from cove.compose.errors import ComposeError, where


@cache
def _validator() -> Any:
    import jsonschema  # noqa: PLC0415 - only the compose commands validate

    schema = json.loads(resources.files("cove.compose").joinpath("schema/compose-spec.json").read_text())
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def validate(tree: dict[str, Any], source: str) -> None:
    errors = sorted(
        _validator().iter_errors(tree), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    if not errors:
        return
    best = min(errors, key=lambda e: -len(e.absolute_path))
    path = tuple(best.absolute_path)
    raise ComposeError(f"{where(source, path)}: {_say(best)}")


def _say(error: Any) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"additional properties {', '.join(repr(e) for e in extra)} not allowed"
    if error.validator == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"must be a {want}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        if len(deepest.absolute_path) > len(error.absolute_path):
            inner = ".".join(map(str, list(deepest.absolute_path)[len(error.absolute_path) :]))
            return f"{inner}: {_say(deepest)}"
        return f"invalid value {json.dumps(error.instance)}"
    if error.validator == "required":
        return str(error.message).replace("'", '"')
    if error.validator == "pattern":
        return f"{json.dumps(error.instance)} does not match {error.validator_value}"
    return str(error.message)
