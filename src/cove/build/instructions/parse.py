"""Typed instructions from the parser's nodes: arguments counted, flags checked, forms told
apart, as BuildKit's instruction layer does it (its rules, cove's code).

``from_node`` makes one instruction; ``parse_instructions`` all of a file's, in order.
Every error is a ``DockerfileError`` over the instruction's lines, so that it can be shown
with an excerpt of the file. ``require_stages`` is the file-level rule: something to build,
and a FROM before anything but ARG.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cove.build.dockerfile import DockerfileError, heredoc_from_word
from cove.build.expand import ExpansionError, expand
from cove.build.instructions import commands as c
from cove.build.instructions.flags import FlagError, FlagKind, ParsedFlags, parse_flags
from cove.build.instructions.mounts import parse_mount
from cove.errors import InvalidArgument
from cove.units import parse_duration

if TYPE_CHECKING:
    from cove.build.dockerfile import Node, Syntax

_T = TypeVar("_T", bound=c.BaseInstruction)
B, S, M = FlagKind.BOOL, FlagKind.STRING, FlagKind.STRINGS
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)
_MINIMUM_INTERVAL = 1_000_000  # 1ms in ns: a health check duration is 0 (unset) or at least this


class _Refused(Exception):
    """An instruction-level error, given its range by ``from_node``."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_instructions(syntax: Syntax) -> list[c.Instruction]:
    return [from_node(node) for node in syntax.nodes]


def from_node(node: Node) -> c.Instruction:
    parse = _PARSERS.get(node.keyword.upper())
    if parse is None:
        written = node.original.split()
        raise _error(node, f"unknown instruction: {written[0] if written else node.keyword}")
    try:
        return parse(node)
    except (_Refused, FlagError) as exc:
        raise _error(node, exc.message, exc.hint) from None


def require_stages(instructions: Sequence[c.Instruction]) -> None:
    """A Dockerfile builds something, and only ARGs come before its first FROM."""
    if not instructions:
        raise DockerfileError(0, "the Dockerfile has no instructions", hint="it needs at least a FROM")
    first = next((x for x in instructions if not isinstance(x, c.Arg)), None)
    if first is None or not isinstance(first, c.From):
        where = first if first is not None else instructions[-1]
        raise DockerfileError(
            where.line,
            "no build stage in current context: the first instruction must be FROM "
            "(only ARG may come before it)",
            end_line=where.end_line,
        )


def _error(node: Node, message: str, hint: str | None = None) -> DockerfileError:
    return DockerfileError(node.line, message, hint, end_line=node.end_line)


def _make(cls: type[_T], node: Node, warnings: Iterable[str] = (), **fields: Any) -> _T:
    return cls(
        line=node.line,
        end_line=node.end_line,
        original=node.original.strip(),
        flags=tuple(node.flags),
        warnings=tuple(warnings),
        **fields,
    )


def _flags(node: Node, accepted: dict[str, FlagKind] | None = None) -> ParsedFlags:
    return parse_flags(node.flags, accepted or {})


def _exactly_one(node: Node) -> str:
    if len(node.args) != 1:
        raise _Refused(f"{node.keyword.upper()} requires exactly one argument")
    return node.args[0]


def _at_least_one(node: Node) -> None:
    if not node.args:
        raise _Refused(f"{node.keyword.upper()} requires at least one argument")


# -- stages --------------------------------------------------------------------------------


def _from(node: Node) -> c.From:
    args = node.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise _Refused(
                f"invalid name for build stage: {args[2]!r}, name can't start with a number "
                "or contain symbols"
            )
    elif len(args) != 1:
        raise _Refused("FROM requires either one or three arguments")
    flags = _flags(node, {"platform": S})
    platform = flags.string("platform") if flags.given("platform") else None
    return _make(c.From, node, image=args[0], name=name, platform=platform)


# -- commands ------------------------------------------------------------------------------


def _heredoc_files(node: Node) -> tuple[c.HeredocFile, ...]:
    return tuple(c.HeredocFile(h.name, h.content, h.expand, h.chomp, h.fd) for h in node.heredocs)


def _shell_dependent(node: Node) -> dict[str, Any]:
    shell_text = (" ".join(node.args),) if node.args else ()
    command = tuple(node.args) if node.json else shell_text
    return {"command": command, "shell": not node.json, "heredocs": _heredoc_files(node)}


def _run(node: Node) -> c.Run:
    flags = _flags(node, {"mount": M, "network": S, "security": S, "device": M})
    if flags.given("device"):
        raise _Refused("RUN --device is not supported by cove")
    network = flags.string("network", "default")
    if network not in ("default", "none", "host"):
        raise _Refused(f"invalid network mode {network!r}", hint="use default, none or host")
    security = flags.string("security", "sandbox")
    if security not in ("sandbox", "insecure"):
        raise _Refused(f"security {security!r} is not valid", hint="use sandbox or insecure")
    mounts = tuple(parse_mount(spec) for spec in flags.strings("mount"))
    return _make(
        c.Run,
        node,
        **_shell_dependent(node),
        mounts=mounts,
        network=network,
        security=security,
    )


def _cmd(node: Node) -> c.Cmd:
    _flags(node)
    return _make(c.Cmd, node, **_shell_dependent(node))


def _entrypoint(node: Node) -> c.Entrypoint:
    _flags(node)
    return _make(c.Entrypoint, node, **_shell_dependent(node))


def heredoc_marker(word: str) -> str | None:
    """The heredoc a word names (``<<EOF``, ``<<-'EOF'``, ``3<<EOF``), else None."""
    try:
        doc = heredoc_from_word(word)
    except DockerfileError:
        return None
    return doc.name if doc is not None else None


def _sources_and_dest(node: Node, keyword: str) -> dict[str, Any]:
    if len(node.args) < 2:
        raise _Refused(
            f"{keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    *sources, dest = node.args
    heredocs = {h.name: h for h in node.heredocs} if not node.json else {}
    if heredocs and heredoc_marker(dest) is not None:
        raise _Refused(f"{keyword} cannot accept a heredoc as a destination")
    paths: list[str] = []
    files: list[c.HeredocFile] = []
    for source in sources:
        marker = heredoc_marker(source) if heredocs else None
        doc = heredocs.get(marker) if marker is not None else None
        if doc is None:
            paths.append(source)
        else:
            files.append(c.HeredocFile(doc.name, doc.content, doc.expand, doc.chomp, doc.fd))
    return {"sources": tuple(paths), "dest": dest, "heredocs": tuple(files), "json": node.json}


def _copy(node: Node) -> c.Copy:
    if len(node.args) < 2:
        _sources_and_dest(node, "COPY")  # raises: counted before the flags, as BuildKit
    flags = _flags(
        node,
        {"chown": S, "from": S, "chmod": S, "link": B, "exclude": M, "parents": B},
    )
    origin = flags.string("from")
    if origin and _expanded_without_env(origin) != origin:
        raise _Refused(
            "variable expansion is not supported for --from, define a new stage with FROM using "
            "ARG from global scope as a workaround"
        )
    return _make(
        c.Copy,
        node,
        **_sources_and_dest(node, "COPY"),
        from_=origin,
        chown=flags.string("chown"),
        chmod=flags.string("chmod"),
        link=flags.boolean("link"),
        parents=flags.boolean("parents"),
        exclude=flags.strings("exclude"),
    )


def _expanded_without_env(word: str) -> str | None:
    try:
        return expand(word, {})
    except ExpansionError:
        return None


def _add(node: Node) -> c.Add:
    if len(node.args) < 2:
        _sources_and_dest(node, "ADD")
    flags = _flags(
        node,
        {"chown": S, "chmod": S, "link": B, "keep-git-dir": B, "checksum": S, "unpack": B, "exclude": M},
    )
    return _make(
        c.Add,
        node,
        **_sources_and_dest(node, "ADD"),
        chown=flags.string("chown"),
        chmod=flags.string("chmod"),
        link=flags.boolean("link"),
        checksum=flags.string("checksum"),
        keep_git_dir=flags.boolean("keep-git-dir") if flags.given("keep-git-dir") else None,
        unpack=flags.boolean("unpack") if flags.given("unpack") else None,
        exclude=flags.strings("exclude"),
    )


def _pairs(node: Node) -> tuple[tuple[c.KeyValue, ...], tuple[str, ...]]:
    """ENV and LABEL: the parser's (key, value, "=" or "") triples."""
    keyword = node.keyword.upper()
    args = node.args
    if not args:
        raise _Refused(f"{keyword} requires at least one argument")
    if len(args) % 3:
        raise _Refused(f"Bad input to {keyword}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):
        key, value, delimiter = args[i : i + 3]
        if not key:
            raise _Refused(f"{keyword} names can not be blank")
        pairs.append(c.KeyValue(key, value, legacy=delimiter == ""))
    warnings: tuple[str, ...] = ()
    if any(p.legacy for p in pairs):
        warnings = (
            f'"{keyword} key=value" should be used instead of legacy "{keyword} key value" format '
            "(LegacyKeyValueFormat)",
        )
    return tuple(pairs), warnings


def _env(node: Node) -> c.Env:
    _flags(node)
    pairs, warnings = _pairs(node)
    return _make(c.Env, node, warnings, pairs=pairs)


def _label(node: Node) -> c.Label:
    _flags(node)
    pairs, warnings = _pairs(node)
    return _make(c.Label, node, warnings, pairs=pairs)


def _arg(node: Node) -> c.Arg:
    _at_least_one(node)
    specs = []
    for word in node.args:
        name, eq, default = word.partition("=")
        if eq and not name:
            raise _Refused("ARG names can not be blank")
        specs.append(c.ArgSpec(name, default if eq else None))
    return _make(c.Arg, node, args=tuple(specs))


def _expose(node: Node) -> c.Expose:
    _at_least_one(node)
    _flags(node)
    return _make(c.Expose, node, ports=tuple(sorted(node.args)))


def _user(node: Node) -> c.User:
    user = _exactly_one(node)
    _flags(node)
    return _make(c.User, node, user=user)


def _workdir(node: Node) -> c.Workdir:
    path = _exactly_one(node)
    _flags(node)
    return _make(c.Workdir, node, path=path)


def _volume(node: Node) -> c.Volume:
    _at_least_one(node)
    _flags(node)
    paths = tuple(path.strip() for path in node.args)
    if any(not path for path in paths):
        raise _Refused("VOLUME specified can not be an empty string")
    return _make(c.Volume, node, paths=paths)


def _stopsignal(node: Node) -> c.StopSignal:
    signal = _exactly_one(node)  # (BuildKit checks no flags here; cove does)
    _flags(node)
    return _make(c.StopSignal, node, signal=signal)


def _shell(node: Node) -> c.Shell:
    _flags(node)
    if not node.args:
        raise _Refused("SHELL requires at least one argument")
    if not node.json:
        raise _Refused(
            f"SHELL requires the arguments to be in JSON form: {node.original.strip()}",
            hint='SHELL ["executable", "parameters"]',
        )
    return _make(c.Shell, node, shell=tuple(node.args))


def _duration(flags: ParsedFlags, name: str) -> int:
    text = flags.string(name)
    if not text:
        return 0
    try:
        nanoseconds = round(parse_duration(text, f"--{name}") * 1e9)
    except InvalidArgument as exc:
        raise _Refused(exc.message, exc.hint) from None
    if 0 < nanoseconds < _MINIMUM_INTERVAL:
        raise _Refused(f'Interval "{name}" cannot be less than 1ms')
    return nanoseconds


def _healthcheck(node: Node) -> c.Healthcheck:
    _at_least_one(node)
    kind, *rest = node.args
    kind = kind.upper()
    if kind == "NONE":
        if rest:
            raise _Refused("HEALTHCHECK NONE takes no arguments")
        return _make(c.Healthcheck, node, test=("NONE",))  # (its flags not looked at, as in BuildKit)
    flags = _flags(
        node,
        {"interval": S, "timeout": S, "start-period": S, "start-interval": S, "retries": S},
    )
    if kind != "CMD":
        raise _Refused(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    command = tuple(rest) if node.json else ((" ".join(rest),) if rest else ())
    if not command:
        raise _Refused("Missing command after HEALTHCHECK CMD")
    retries = 0
    if flags.string("retries"):
        text = flags.string("retries")
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not -(2**31) <= int(text) < 2**31:
            raise _Refused(f'strconv.ParseInt: parsing "{text}": invalid syntax')
        retries = int(text)
        if retries < 0:
            raise _Refused(f"--retries cannot be negative ({retries})")
    return _make(
        c.Healthcheck,
        node,
        test=("CMD" if node.json else "CMD-SHELL", *command),
        interval=_duration(flags, "interval"),
        timeout=_duration(flags, "timeout"),
        start_period=_duration(flags, "start-period"),
        start_interval=_duration(flags, "start-interval"),
        retries=retries,
    )


def _onbuild(node: Node) -> c.OnBuild:
    trigger = node.trigger
    if trigger is None:
        raise _Refused("ONBUILD requires at least one argument")
    _flags(node)
    inner = trigger.keyword.upper()
    if inner == "ONBUILD":
        raise _Refused("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if inner in ("MAINTAINER", "FROM"):
        raise _Refused(f"{inner} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    # The parser keeps a trigger's heredocs on the ONBUILD node, as BuildKit does.
    typed = from_node(dataclasses.replace(trigger, heredocs=trigger.heredocs or node.heredocs))
    return _make(c.OnBuild, node, expression=expression, trigger=typed)


def _maintainer(node: Node) -> c.Maintainer:
    maintainer = _exactly_one(node)
    _flags(node)
    warning = "The MAINTAINER instruction is deprecated, use a label instead to define an image author"
    return _make(c.Maintainer, node, (f"{warning} (MaintainerDeprecated)",), maintainer=maintainer)


_PARSERS: dict[str, Callable[[Node], c.Instruction]] = {
    "FROM": _from,
    "RUN": _run,
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "COPY": _copy,
    "ADD": _add,
    "ENV": _env,
    "LABEL": _label,
    "ARG": _arg,
    "EXPOSE": _expose,
    "USER": _user,
    "WORKDIR": _workdir,
    "VOLUME": _volume,
    "STOPSIGNAL": _stopsignal,
    "SHELL": _shell,
    "HEALTHCHECK": _healthcheck,
    "ONBUILD": _onbuild,
    "MAINTAINER": _maintainer,
}
