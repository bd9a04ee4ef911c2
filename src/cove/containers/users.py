"""``--user name|uid[:group|gid]`` resolved against the container's /etc/passwd and /etc/group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cove.containers.paths import read_in_root
from cove.errors import InvalidArgument

MAX_ID = 2**32 - 2


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


def _table(text: str | None) -> list[list[str]]:
    if not text:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _number(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value > MAX_ID:
            raise InvalidArgument(f"user or group ID {value} is out of range")
        return value
    return None


def resolve_user(spec: str | None, rootfs: Path) -> ResolvedUser:
    spec = (spec or "").strip()
    user_part, _, group_part = spec.partition(":")
    passwd = [row for row in _table(read_in_root(rootfs, "/etc/passwd")) if len(row) >= 7]
    groups = [row for row in _table(read_in_root(rootfs, "/etc/group")) if len(row) >= 3]
    if not user_part:
        user_part = "0"
    uid = _number(user_part)
    entry = next(
        (row for row in passwd if (row[2] == user_part if uid is not None else row[0] == user_part)), None
    )
    if uid is None:
        if entry is None:
            raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
        uid = int(entry[2])
    gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    home = entry[5] if entry is not None else ("/root" if uid == 0 else "/")
    if group_part:
        number = _number(group_part)
        if number is not None:
            gid = number
        else:
            match = next((row for row in groups if row[0] == group_part), None)
            if match is None:
                raise InvalidArgument(f"unable to find group {group_part}: no matching entries in group file")
            gid = int(match[2])
    name = entry[0] if entry is not None else None
    extra: list[int] = [gid]  # as Docker: the primary group is among the supplementary ones
    if name is not None and not group_part:
        for row in groups:
            members = row[3].split(",") if len(row) > 3 else []
            if name in members and row[2].isdigit() and int(row[2]) not in extra:
                extra.append(int(row[2]))
    return ResolvedUser(uid, gid, tuple(extra), home)
