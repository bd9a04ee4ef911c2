"""Registry failures as cove errors: one line that names the problem, and a hint."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime

from cove.errors import CoveError, InvalidArgument, NotFound, PermissionDenied, Unavailable


class RegistryError(CoveError):
    """Raised for an HTTP error answer; ``status`` and ``code`` say which."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


class Unauthorized(RegistryError, PermissionDenied):
    pass


class Denied(RegistryError, PermissionDenied):
    pass


class RegistryNotFound(RegistryError, NotFound):
    pass


class RateLimited(RegistryError, Unavailable):
    pass


class RegistryUnavailable(RegistryError, Unavailable):
    pass


class BadRequest(RegistryError, InvalidArgument):
    pass


MAX_DETAIL = 200  # characters of a registry's own words kept in a message


def _one_line(text: str) -> str:
    """A registry's words as one short, printable line (they reach a terminal)."""
    line = next((part for part in text.strip().splitlines() if part.strip()), "")
    return "".join(c if c.isprintable() else "?" for c in line.strip())[:MAX_DETAIL]


def _codes(body: bytes) -> list[tuple[str, str]]:
    """(code, message) of a distribution error body: {"errors": [{"code", "message"}]}."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [
        (_one_line(str(e.get("code") or "")).upper(), _one_line(str(e.get("message") or "")))
        for e in errors
        if isinstance(e, dict)
    ]


def rate_limit_reset(headers: dict[str, str]) -> str | None:
    """When a rate limit lifts, from Retry-After or Docker Hub's ratelimit headers."""
    retry = headers.get("retry-after")
    if retry:
        if retry.isdigit():
            return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(time.time() + int(retry)))
        try:
            return parsedate_to_datetime(retry).strftime("%Y-%m-%d %H:%M:%S UTC")
        except (TypeError, ValueError):
            return retry
    reset = headers.get("ratelimit-reset") or headers.get("x-ratelimit-reset")
    if reset and reset.split(";")[0].strip().isdigit():
        value = int(reset.split(";")[0])
        when = value if value > 10**9 else time.time() + value  # an epoch, or seconds from now
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
    return None


def error_for(
    status: int, body: bytes, headers: dict[str, str], what: str, host: str, *, repository: str = ""
) -> RegistryError:
    """The error to raise for a non-success answer about ``what`` (a repository, a manifest...)."""
    codes = _codes(body)
    code, detail = codes[0] if codes else ("", "")
    if not codes and body and not body.lstrip().startswith(b"<"):  # a short plain-text reason, not HTML
        detail = _one_line(body[: MAX_DETAIL * 4].decode(errors="replace"))
    if status == 401 and "insufficient_scope" in headers.get("www-authenticate", ""):
        # What Docker Hub answers for a repository that does not exist as for a private one.
        return Denied(
            f"access denied to {what}: the repository does not exist, or needs a login that may use it",
            status=status,
            code=code or "UNAUTHORIZED",
            hint=f"check the name; for a private repository: cove login {host}",
        )
    if status == 401 or code == "UNAUTHORIZED":
        return Unauthorized(
            f"unauthorized: authentication required for {what}",
            status=status,
            code=code,
            hint=f"log in first: cove login {host}",
        )
    if status == 403 or code == "DENIED":
        return Denied(
            f"denied: requested access to {what} is denied" + (f" ({detail})" if detail else ""),
            status=status,
            code=code,
            hint=f"check the name, and that the account you logged in with (cove login {host}) may use it",
        )
    if status == 429 or code == "TOOMANYREQUESTS":
        reset = rate_limit_reset(headers)
        return RateLimited(
            f"toomanyrequests: the registry {host} rate-limits this client"
            + (f" until {reset}" if reset else ""),
            status=status,
            code=code,
            hint="wait, log in (authenticated users get a higher limit), or use a mirror",
        )
    if code == "NAME_UNKNOWN":
        return RegistryNotFound(
            f"name unknown: repository {repository or what} not known to registry {host}",
            status=status,
            code=code,
        )
    if code == "MANIFEST_UNKNOWN" or (status == 404 and "manifest" in what):
        return RegistryNotFound(f"manifest unknown: {what} not found", status=status, code=code)
    if code == "BLOB_UNKNOWN" or status == 404:
        return RegistryNotFound(
            f"{what} not found on {host}" + (f": {detail}" if detail else ""), status=status, code=code
        )
    if status in (400, 405, 411, 413, 415, 416) or code in (
        "DIGEST_INVALID",
        "MANIFEST_INVALID",
        "NAME_INVALID",
        "TAG_INVALID",
        "SIZE_INVALID",
        "UNSUPPORTED",
    ):
        return BadRequest(
            f"{host} refused {what}: " + (f"{code.lower()}: {detail}" if code else f"HTTP {status}"),
            status=status,
            code=code,
        )
    return RegistryUnavailable(
        f"{host} answered HTTP {status} for {what}" + (f": {detail}" if detail else ""),
        status=status,
        code=code,
    )
