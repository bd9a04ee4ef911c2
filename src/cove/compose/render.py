"""The canonical tree as ``docker compose config`` writes it: YAML in Go's yaml.v3 style, or JSON."""

from __future__ import annotations

import json
import re
from typing import Any

_NUMBER = re.compile(
    r"[-+]?(?:\d[\d_]*|\d*\.\d+|\d+\.\d*)(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.inf|\.nan",
    re.IGNORECASE,
)
_SPECIAL = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", ""}


def _needs_quotes(text: str) -> bool:
    return (
        text.lower() in _SPECIAL
        or _NUMBER.fullmatch(text) is not None
        or text[0] in "!&*?|>%@`{}[],#'\""
        or text[0].isspace()
        or text[-1].isspace()
        or (text[0] in "-:" and (len(text) == 1 or text[1] == " "))
        or ": " in text
        or " #" in text
        or text.endswith(":")
        or any(c in text for c in '\n\t"')
        or not text.isprintable()
    )


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if _needs_quotes(text) else text


def to_yaml(value: Any, indent: int = 0) -> str:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            k = _scalar(key)
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{k}:\n{to_yaml(item, indent + 1)}")
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, list) else _scalar(item)
                lines.append(f"{pad}{k}: {empty}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                body = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {body[len(pad) + 2 :]}")
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, list) else _scalar(item)
                lines.append(f"{pad}- {empty}")
    return "\n".join(lines)


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
