"""Linux capabilities: names, Docker's default set, and --cap-add / --cap-drop."""

from __future__ import annotations

from collections.abc import Iterable

from cove.errors import InvalidArgument
from cove.host import sysinfo

# In kernel order (capability.h), so cap_last_cap can cut the list for older kernels.
ALL_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

# What Docker grants a container that asks for nothing else.
DEFAULT_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)  # fmt: skip


def host_caps(last_cap: int | None = None, bounding: int | None = None) -> tuple[str, ...]:
    """The capabilities this kernel knows (``cap_last_cap``) and that cove itself may hand out
    (its bounding set: where cove runs without some, a container cannot get them either)."""
    if last_cap is None:
        last_cap = sysinfo.cap_last_cap()
    if last_cap is None:  # unreadable: every capability cove knows
        last_cap = len(ALL_CAPS) - 1
    if bounding is None:
        bounding = sysinfo.bounding_set()
    if bounding is None:
        bounding = (1 << len(ALL_CAPS)) - 1
    return tuple(c for i, c in enumerate(ALL_CAPS[: last_cap + 1]) if bounding >> i & 1)


def normalize(name: str) -> str:
    """``net_admin``, ``NET_ADMIN`` and ``CAP_NET_ADMIN`` all name CAP_NET_ADMIN; ``ALL`` stays."""
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in ALL_CAPS:
        raise InvalidArgument(f"unknown capability: {name!r}", hint="see capabilities(7) for the names")
    return upper


def effective_caps(
    add: Iterable[str] = (),
    drop: Iterable[str] = (),
    *,
    privileged: bool = False,
    known: tuple[str, ...] | None = None,
) -> list[str]:
    """Docker's TweakCapabilities: all when privileged; with ``ALL`` added, every capability but
    the dropped ones; else the defaults (none with ``ALL`` dropped) less the dropped, plus the added."""
    known = known or host_caps()
    adds = [normalize(c) for c in add]
    drops = [normalize(c) for c in drop]
    _check_available(adds, known)
    if privileged:
        return list(known)
    if "ALL" in adds:
        caps = [c for c in known if c not in drops]
    elif "ALL" in drops:
        caps = adds
    else:
        caps = [c for c in DEFAULT_CAPS if c not in drops] + adds
    return [c for c in known if c in caps]


def _check_available(adds: list[str], known: tuple[str, ...]) -> None:
    # Leaving out a capability the user asked for would run the container without it, unnoticed.
    # (A dropped one the host lacks is what the user wanted already: no error for that.)
    for cap in adds:
        if cap != "ALL" and cap not in known:
            raise InvalidArgument(
                "capability not supported by your kernel or not available in the current environment: "
                f"{cap!r}",
                hint="the kernel predates it, or cove itself runs without it (CapBnd in /proc/self/status)",
            )
