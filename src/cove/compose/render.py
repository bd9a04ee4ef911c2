"""The canonical tree as ``docker compose config`` writes it: YAML in Go's yaml.v3 style, or JSON.

A string is written plain when it reads back as the same string; one that would read back as
another type (``"1"``, ``"true"``, ``""``) is double-quoted; one that YAML 1.1 reads as a boolean
or a base-60 number (``'yes'``, ``'1:20'``), or that cannot be plain (``': '``, a leading ``*``),
is single-quoted; text with control characters is double-quoted with escapes; multi-line text is
a literal block (``|``, ``|-`` without a final newline).
"""

from __future__ import annotations

import json
import re
from typing import Any

_RESOLVES = re.compile(
    r"[-+]?(?:[0-9][0-9_]*|[0-9]*\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?"
    r"|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|true|True|TRUE|false|False|FALSE|null|Null|NULL|~|<<"
)
_OLD_BOOL = set("y Y yes Yes YES on On ON n N no No NO off Off OFF".split())
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


def _plain_allowed(text: str) -> bool:
    if text[0] in "#,[]{}&*!|>'\"%@`" or text[0].isspace() or text[-1].isspace():
        return False
    if text[0] in "-?:" and (len(text) == 1 or text[1] == " "):
        return False
    return ": " not in text and " #" not in text and not text.endswith(":")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if text == "" or _RESOLVES.fullmatch(text):
        return json.dumps(text)
    if not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    if text in _OLD_BOOL or _BASE60.fullmatch(text) or not _plain_allowed(text):
        return "'" + text.replace("'", "''") + "'"
    return text


def _block(text: str, pad: str) -> str | None:
    """A literal block for multi-line text, or None when it cannot be one."""
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    if any(c != "\n" and not c.isprintable() for c in text) or (lines and lines[0].startswith(" ")):
        return None
    if any(line != line.rstrip() for line in lines) or body.endswith("\n"):
        return None
    header = "|" if text.endswith("\n") else "|-"
    return header + "".join(f"\n{pad}{line}" if line else "\n" for line in lines)


def _value(item: Any, pad: str) -> str:
    if isinstance(item, dict):
        return "{}"
    if isinstance(item, list):
        return "[]"
    if isinstance(item, str) and "\n" in item:
        block = _block(item, pad)
        if block is not None:
            return block
        return json.dumps(item, ensure_ascii=False)
    return _scalar(item)


def to_yaml(value: Any, indent: int = 0) -> str:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            k = _scalar(key)
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{k}:\n{to_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{k}: {_value(item, pad + '  ')}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                body = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {body[len(pad) + 2 :]}")
            else:
                lines.append(f"{pad}- {_value(item, pad + '  ')}")
    return "\n".join(lines)


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
