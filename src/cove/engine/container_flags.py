"""Docker's small option languages for a container (``--tmpfs PATH:OPTS``, ``--security-opt``,
``--log-opt``, ``--platform``), parsed into the request values; every front-end that takes them
(the CLI's run and create, compose's service keys) uses these, so that they mean the same."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from cove.containers.model import TMPFS, MountSpec
from cove.errors import InvalidArgument
from cove.units import parse_bytes

# The --tmpfs options Docker's daemon accepts (moby/sys/mount) besides size, mode, ro and rw.
TMPFS_FLAGS = frozenset(
    "suid nosuid dev nodev exec noexec sync async dirsync mand nomand atime noatime diratime"
    " nodiratime relatime norelatime strictatime nostrictatime private rprivate shared rshared"
    " slave rslave unbindable runbindable".split()
)
TMPFS_DATA = ("uid", "gid", "nr_inodes", "nr_blocks", "mpol")
_GO_INT = re.compile(r"[+-]?\d+")
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def go_bool(value: str, what: str) -> bool:
    """Go's strconv.ParseBool, as Docker reads an option's boolean; a bad one is named."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise InvalidArgument(f"invalid value for {what}: {value}", hint="use true or false")


def go_int(text: str) -> int | None:
    """Go's strconv.Atoi: optional sign and digits only (Python's int() also takes 1_000)."""
    return int(text) if _GO_INT.fullmatch(text) else None


def octal_mode(text: str, what: str) -> int:
    if not re.fullmatch(r"[0-7]+", text) or int(text, 8) > 0o7777:
        raise InvalidArgument(f"invalid value for {what}: {text}", hint="use an octal mode such as 1777")
    return int(text, 8)


def parse_tmpfs(spec: str) -> MountSpec:
    """--tmpfs PATH[:OPTIONS]: mount(8) options, as Docker's daemon takes them. size and mode
    are read, ro and rw set readonly (the last wins), and the others are kept in order, to be
    put after the defaults they may override (exec after noexec)."""
    target, _, options = spec.partition(":")
    readonly, size, mode, kept = False, None, None, []
    for option in filter(None, options.split(",")):
        key, eq, value = option.partition("=")
        if option in ("ro", "rw"):
            readonly = option == "ro"
        elif eq and key == "size":
            size = parse_bytes(value)
        elif eq and key == "mode":
            mode = octal_mode(value, "tmpfs mode")
        elif option in TMPFS_FLAGS or (eq and key in TMPFS_DATA):
            kept.append(option)
        elif option != "defaults":
            raise InvalidArgument(
                f"invalid tmpfs option {option!r}",
                hint="use mount(8) options such as size=64m,mode=1777,exec",
            )
    return MountSpec(
        TMPFS,
        target,
        readonly=readonly,
        propagation="flag",
        tmpfs_size=size,
        tmpfs_mode=mode,
        tmpfs_options=tuple(kept),
    )


def _seccomp_profile(path: Path) -> str:
    from cove.runtime.seccomp import profile_from_text  # (json and the syscall tables: not for --help)

    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidArgument(f"cannot read seccomp profile {path}: {exc.strerror}") from None
    profile_from_text(text, [], source=str(path))
    return text


def parse_security_opts(opts: Iterable[str], base: Path | None = None) -> tuple[bool, str]:
    """--security-opt: (no_new_privileges, seccomp) from no-new-privileges[=BOOL] and
    seccomp=unconfined|FILE (a relative FILE under ``base``, else the current directory); the
    old ':' separator is accepted too."""
    no_new_privileges = False
    seccomp = "default"
    for opt in opts:
        key, sep, value = re.split(r"([=:])", opt, maxsplit=1) if re.search(r"[=:]", opt) else (opt, "", "")
        if key == "no-new-privileges":
            no_new_privileges = go_bool(value, "--security-opt no-new-privileges") if sep else True
        elif key == "seccomp" and value in ("unconfined", "builtin"):
            seccomp = "unconfined" if value == "unconfined" else "default"
        elif key == "seccomp" and value:
            seccomp = _seccomp_profile(base / value if base is not None else Path(value))
        elif (key, value) in (("apparmor", "unconfined"), ("label", "disable")):
            pass  # cove sets neither AppArmor nor SELinux labels
        else:
            raise InvalidArgument(f"invalid --security-opt: {opt!r}",
                                  hint="use no-new-privileges or seccomp=unconfined|FILE")  # fmt: skip
    return no_new_privileges, seccomp


def parse_log_opts(opts: Iterable[str]) -> tuple[int | None, int | None]:
    """--log-opt for the json-file driver: (max-size in bytes, max-file)."""
    log_size = log_files = None
    for opt in opts:
        key, _, value = opt.partition("=")
        if key == "max-size":
            log_size = parse_bytes(value, "log max-size")
        elif key == "max-file":
            log_files = go_int(value)
            if log_files is None or log_files < 1:
                raise InvalidArgument(
                    f"invalid log max-file: {value!r}", hint="use a whole number, 1 or more"
                )
        else:
            raise InvalidArgument(
                f"unknown log opt {key!r} for json-file log driver", hint="use max-size or max-file"
            )
    return log_size, log_files


def check_platform(text: str) -> str:
    """--platform: only the host's (``linux`` or ``linux/<arch>``) can run here."""
    from cove.oci.platform import host_platform

    host = host_platform()
    arch = host.architecture
    names = {"linux", f"linux/{arch}"} | ({f"linux/{arch}/{host.variant}"} if host.variant else set())
    if text.lower() not in names:
        raise InvalidArgument(f"platform {text} is not this host's (linux/{arch})")
    return text


def mac_address(text: str | None) -> str | None:
    """--mac-address: six hex pairs, not a multicast address; in lower case."""
    if text is None:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", text):
        raise InvalidArgument(f"invalid MAC address {text!r}", hint="use six hex pairs: 92:d0:c6:0a:29:33")
    if int(text[:2], 16) & 1:
        raise InvalidArgument(f"invalid MAC address {text!r}: it is a multicast address")
    return text.lower()
