"""``--user name|uid[:group|gid]`` resolved against the container's /etc/passwd and /etc/group.

The files come from the image (or the container's mounts): they are read inside its root
(a link cannot lead to the host's), only when they are regular files of a sane size (a
FIFO there would block a reader forever), and parsed defensively: a line that cannot be
used is an error naming the file and the line, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cove.errors import InvalidArgument

MAX_ID = 2**32 - 2
MAX_FILE = 4 << 20  # bytes of /etc/passwd or /etc/group read at most


class FileReader(Protocol):
    """Reads a small regular file inside a root (``cove.host.inroot.Root`` and friends)."""

    def read_file(self, path: str, limit: int) -> bytes | None: ...


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


@dataclass(frozen=True)
class _Row:
    path: str
    line: int
    fields: list[str]

    def number(self, index: int, what: str) -> int:
        value = self.fields[index]
        parsed = _number(value)
        if parsed is None:
            raise InvalidArgument(
                f"the image's {self.path} line {self.line}: the {what} {value!r} is not a number",
                hint=f"fix that line of {self.path} in the image",
            )
        return parsed


def _table(files: FileReader, path: str, min_fields: int) -> list[_Row]:
    try:
        data = files.read_file(path, MAX_FILE)
    except InvalidArgument as exc:
        raise InvalidArgument(f"cannot read the image's {path}: {exc.message}") from None
    if not data:
        return []
    rows = []
    for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        if line and not line.startswith("#"):
            fields = line.split(":")
            if len(fields) >= min_fields:
                rows.append(_Row(path, number, fields))
    return rows


def _number(text: str) -> int | None:
    if text.isascii() and text.isdigit():
        value = int(text)
        if value > MAX_ID:
            raise InvalidArgument(f"user or group ID {value} is out of range")
        return value
    return None


def resolve_user(spec: str | None, files: FileReader) -> ResolvedUser:
    spec = (spec or "").strip()
    user_part, _, group_part = spec.partition(":")
    passwd = _table(files, "/etc/passwd", 7)
    groups = _table(files, "/etc/group", 3)
    if not user_part:
        user_part = "0"
    uid = _number(user_part)
    entry = next(
        (
            row
            for row in passwd
            if (row.fields[2] == user_part if uid is not None else row.fields[0] == user_part)
        ),
        None,
    )
    if uid is None:
        if entry is None:
            raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
        uid = entry.number(2, "user ID")
    gid = entry.number(3, "group ID") if entry is not None else 0
    home = entry.fields[5] if entry is not None else ("/root" if uid == 0 else "/")
    if group_part:
        number = _number(group_part)
        if number is not None:
            gid = number
        else:
            match = next((row for row in groups if row.fields[0] == group_part), None)
            if match is None:
                raise InvalidArgument(f"unable to find group {group_part}: no matching entries in group file")
            gid = match.number(2, "group ID")
    name = entry.fields[0] if entry is not None else None
    extra: list[int] = [gid]  # as Docker: the primary group is among the supplementary ones
    if name is not None and not group_part:
        for row in groups:
            members = row.fields[3].split(",") if len(row.fields) > 3 else []
            group_id = _number(row.fields[2]) if name in members else None
            if group_id is not None and group_id not in extra:
                extra.append(group_id)
    return ResolvedUser(uid, gid, tuple(extra), home)
