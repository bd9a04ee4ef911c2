"""Cache keys of build steps: a step's result is reused when its key is the same.

A key is the SHA-256 of the parent step's key (or the base image's ID) and what decides
the step's outcome:

- every instruction: its keyword, flags and arguments as written (after expansion for the
  instructions the builder reads itself), and the stage's platform;
- RUN: also the build args in scope (declared with ARG) and their values, since the
  command's environment carries them; an undeclared ``--build-arg`` changes nothing;
- COPY and ADD: also the content digest of the sources (see ``build.context``) or, for
  ``--from``, the source stage's key.

So a change to one file invalidates the COPY that takes it and every later step, not the
earlier ones; and ``--no-cache`` simply skips the lookup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping


def step_key(
    parent: str,
    keyword: str,
    arguments: str,
    *,
    flags: Mapping[str, list[str]] | None = None,
    platform: str = "",
    build_args: Mapping[str, str] | None = None,
    sources: str = "",
) -> str:
    """The cache key of one step (``sources``: the content digest or source stage key)."""
    payload = {
        "parent": parent,
        "keyword": keyword,
        "arguments": arguments,
        "flags": {k: list(v) for k, v in sorted((flags or {}).items())},
        "platform": platform,
        "args": dict(sorted((build_args or {}).items())) if keyword == "RUN" else {},
        "sources": sources,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()
