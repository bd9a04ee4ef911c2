"""``RUN --mount=...``: a CSV list of ``key=value`` fields (BuildKit's keys and rules).

The types are bind (the default), cache, tmpfs, secret and ssh. A field's value may use
build variables; such a value is checked when the step runs, expanded in the stage's scope,
and everything else as the Dockerfile is parsed: unknown keys, bad booleans, sizes, modes,
and the combinations a type does not take (``sharing`` off a cache, ``size`` off a tmpfs,
``from`` on a secret...). ``from`` never takes variables (BuildKit: name an alias stage).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass

from cove.build.instructions.flags import FlagError
from cove.errors import InvalidArgument
from cove.units import parse_bytes

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_KEYS = (
    "type from source src target dst destination readonly ro readwrite rw id sharing required "
    "size mode uid gid env"
).split()
_ALIASES = {"src": "source", "dst": "target", "destination": "target", "ro": "readonly", "rw": "readwrite"}

Expander = Callable[[str], str]


@dataclass(frozen=True)
class RunMount:
    written: str  # the flag's value as written (unexpanded)
    type: str = "bind"
    from_: str = ""  # a stage or image (bind, cache)
    source: str = ""
    target: str = ""
    readonly: bool = True  # bind, secret and ssh default to read-only; cache and tmpfs do not
    id: str = ""  # a cache's or secret's id
    sharing: str = ""  # cache: shared (the default), private or locked
    required: bool = False  # secret, ssh
    size: int = 0  # tmpfs: bytes (0: the kernel's default)
    mode: int | None = None  # cache, secret, ssh: the file mode
    uid: int | None = None
    gid: int | None = None
    env: str | None = None  # secret: also (or only) as this environment variable
    deferred: bool = False  # some value uses a variable: see ``expanded``

    def expanded(self, expand: Expander) -> RunMount:
        """This mount with every value expanded and then checked (when the step runs)."""
        return parse_mount(self.written, expand)


def parse_mount(spec: str, expand: Expander | None = None) -> RunMount:
    """One ``--mount`` value. Without ``expand`` (at parse time) a value that uses a variable
    is kept as written and its checks wait for ``RunMount.expanded``."""
    try:
        fields = next(csv.reader([spec], strict=True), [])
    except csv.Error as exc:
        raise FlagError(f"failed to parse csv mounts: {exc}") from None
    values: dict[str, object] = {"type": "bind"}
    readonly_given = False
    deferred = False
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro", "readwrite", "rw"):
                values["readonly"] = key in ("readonly", "ro")
                readonly_given = True
            elif key == "required":
                _only_for(key, values, ("secret", "ssh"))
                values["required"] = True
            else:
                raise FlagError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key not in _KEYS:
            raise FlagError(f"unexpected key '{key}' in '{field}'", hint="keys: " + ", ".join(_KEYS))
        if key == "from" and "$" in value[:-1]:
            raise FlagError(f"'{key}' doesn't support variable expansion, define alias stage instead")
        if expand is not None:
            value = expand(value)
        name = _ALIASES.get(key, key)
        if expand is None and "$" in value:
            deferred = True  # checked once expanded; text fields keep it as written meanwhile
            if name in ("source", "target", "id", "env"):
                values[name] = value
            continue
        if name in ("readonly", "readwrite"):
            flag = _boolean(key, value)
            values["readonly"] = flag if name == "readonly" else not flag
            readonly_given = True
        elif name == "type":
            kind = value.lower()
            if kind not in MOUNT_TYPES:
                raise FlagError(f"unsupported mount type {value!r}", hint="types: " + ", ".join(MOUNT_TYPES))
            values["type"] = kind
        elif name == "sharing":
            mode = value.lower()
            if mode not in SHARING_MODES:
                raise FlagError(f"unsupported sharing value {value!r}", hint=", ".join(SHARING_MODES))
            values["sharing"] = mode
        elif name == "required":
            _only_for(key, values, ("secret", "ssh"))
            values["required"] = _boolean(key, value)
        elif name == "size":
            _only_for(key, values, ("tmpfs",))
            try:
                values["size"] = parse_bytes(value)
            except InvalidArgument:
                raise FlagError(f"invalid value for {key}: {value}") from None
        elif name in ("mode", "uid", "gid"):
            values[name] = _number(name, value, 8 if name == "mode" else 10)
        elif name == "id":
            values["id"] = value
        elif name == "from":
            values["from_"] = value
        else:  # source, target, env
            values[name] = value
    mount = RunMount(
        written=spec,
        type=str(values["type"]),
        from_=str(values.get("from_", "")),
        source=str(values.get("source", "")),
        target=str(values.get("target", "")),
        id=str(values.get("id", "")),
        sharing=str(values.get("sharing", "")),
        required=bool(values.get("required", False)),
        size=_optional_int(values.get("size")) or 0,
        mode=_optional_int(values.get("mode")),
        uid=_optional_int(values.get("uid")),
        gid=_optional_int(values.get("gid")),
        env=str(values["env"]) if "env" in values else None,
        readonly=bool(values["readonly"])
        if readonly_given
        else str(values["type"]) not in ("cache", "tmpfs"),
        deferred=deferred,
    )
    if not deferred:
        _check(mount)
    return mount


def _check(m: RunMount) -> None:
    """The combinations BuildKit refuses."""
    if m.type not in ("secret", "ssh", "cache"):
        for name in ("mode", "uid", "gid"):
            if getattr(m, name) is not None:
                raise FlagError(f"{name} not allowed for {m.type!r} type mounts")
    if m.type == "secret":
        if m.from_:
            raise FlagError("secret mount should not have a from")
        if m.sharing:
            raise FlagError("secret mount should not define sharing")
        if not (m.source or m.target or m.id):
            raise FlagError("invalid secret mount. one of source, target required")
        if m.source and m.id:
            raise FlagError("both source and id can't be set")
    if m.sharing and m.type != "cache":
        raise FlagError(f"invalid cache sharing set for {m.type} mount")


def _only_for(key: str, values: dict[str, object], types: tuple[str, ...]) -> None:
    if values["type"] not in types:
        raise FlagError(f"unexpected key '{key}' for mount type '{values['type']}'")


def _boolean(key: str, value: str) -> bool:
    # Go's strconv.ParseBool
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise FlagError(f"invalid value for {key}: {value}")


def _number(name: str, value: str, base: int) -> int:
    try:
        number = int(value, base) if value.isascii() and value.isalnum() else -1
    except ValueError:
        number = -1
    if not 0 <= number < 1 << 32:
        raise FlagError(f"invalid value {value} for {name}")
    return number


def _optional_int(value: object) -> int | None:
    assert value is None or isinstance(value, int)
    return value
