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
    errors = list(_validator().iter_errors(tree))
    if not errors:
        return
    best = _deepest(min(errors, key=lambda e: (-len(e.absolute_path), [str(p) for p in e.absolute_path])))
    raise ComposeError(f"{where(source, tuple(best.absolute_path))}: {_say(best)}")


def _deepest(error: Any) -> Any:
    """Inside a oneOf/anyOf, the alternative that got furthest says best what is wrong."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        if len(deepest.absolute_path) <= len(error.absolute_path):
            break
        error = deepest
    return error


def _say(error: Any) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"additional properties {', '.join(repr(e) for e in extra)} not allowed"
    if error.validator == "type":
        return f"must be {_types(error.validator_value)}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        kinds = [e.validator_value for e in error.context if e.validator == "type"]
        if len(kinds) == len(error.context):
            flat = [k for kind in kinds for k in (kind if isinstance(kind, list) else [kind])]
            return f"must be {_types(list(dict.fromkeys(flat)))}"
        return f"invalid value {json.dumps(error.instance)}"
    if error.validator == "enum":
        return "value must be one of " + ", ".join(repr(v) for v in error.validator_value)
    if error.validator == "required":
        return str(error.message).replace("'", '"')
    if error.validator == "pattern":
        return f"{json.dumps(error.instance)} does not match {error.validator_value}"
    return str(error.message)


_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
          "number": "a number", "boolean": "a boolean", "null": "null"}  # fmt: skip


def _types(kinds: Any) -> str:
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return " or ".join(_NAMES.get(k, k) for k in kinds)
