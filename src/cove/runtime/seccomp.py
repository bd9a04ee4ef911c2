"""Seccomp profiles: cove's default (Docker's policy), and Docker-format profiles from files.

The default is an allow-list: every system call this kernel generation knows, except the
ones that reach outside a container (loading modules, mounting, changing the clock, the
kernel keyring, io_uring, ...). Several of those come back when the container holds the
capability that guards them, as in Docker. ``clone`` may not create namespaces without
CAP_SYS_ADMIN, ``clone3`` answers ENOSYS so C libraries fall back to ``clone``,
``personality`` takes only the harmless personas and ``socket`` every address family but
AF_ALG and AF_VSOCK. Docker's moby/profiles ``default.json`` is the reference.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cove.errors import InvalidArgument
from cove.runtime.syscall_names import SYSCALL_NAMES

ENOSYS = 38
EPERM = 1
CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
HARMLESS_PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
AF_ALG = 38  # the kernel's crypto API, kernel attack surface containers rarely need (Docker 29.5)
AF_VSOCK = 40  # reaches the hypervisor, outside any network namespace (blocked since Docker 23)

# Allowed only with the capability that guards them.
CAP_GUARDED: dict[str, frozenset[str]] = {
    "CAP_SYS_ADMIN": frozenset(
        {"bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
         "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount", "mount_setattr", "move_mount",
         "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
         "syslog", "umount", "umount2", "unshare"}
    ),
    "CAP_SYS_BOOT": frozenset({"reboot"}),
    "CAP_SYS_CHROOT": frozenset({"chroot"}),
    "CAP_SYS_MODULE": frozenset({"delete_module", "init_module", "finit_module"}),
    "CAP_SYS_PACCT": frozenset({"acct"}),
    "CAP_SYS_PTRACE": frozenset(
        {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}
    ),
    "CAP_SYS_RAWIO": frozenset({"iopl", "ioperm"}),
    # Not adjtimex or clock_adjtime: they also read the clock's state (ntp_gettime, chronyc), and
    # the kernel asks for CAP_SYS_TIME itself before they change anything.
    "CAP_SYS_TIME": frozenset({"settimeofday", "stime", "clock_settime", "clock_settime64"}),
    "CAP_SYS_TTY_CONFIG": frozenset({"vhangup"}),
    "CAP_SYS_NICE": frozenset({"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}),
    "CAP_SYSLOG": frozenset({"syslog"}),
    "CAP_BPF": frozenset({"bpf"}),
    "CAP_PERFMON": frozenset({"perf_event_open"}),
    "CAP_DAC_READ_SEARCH": frozenset({"open_by_handle_at"}),
}  # fmt: skip

# Allowed whatever the capabilities from this kernel (major, minor) on: since 4.8 a tracer can
# no longer slip a system call past the tracee's seccomp filter, so strace and gdb may run.
SINCE_KERNEL: dict[tuple[int, int], frozenset[str]] = {
    (4, 8): frozenset({"ptrace", "process_vm_readv", "process_vm_writev"}),
}

# Never allowed by the default profile, whatever the capabilities.
ALWAYS_DENIED = frozenset(
    # the kernel keyring is not namespaced; kexec replaces the host's kernel
    {"add_key", "keyctl", "request_key", "kexec_file_load", "kexec_load"}
    # swap, a new root for nested containers, and moving other processes' pages between NUMA nodes
    | {"swapon", "swapoff", "pivot_root", "migrate_pages", "move_pages"}
    # large kernel attack surfaces few workloads need (Docker 25 dropped io_uring)
    | {"io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd"}
    # obsolete, or never implemented
    | {"create_module", "get_kernel_syms", "query_module", "nfsservctl", "uselib", "ustat", "_sysctl",
       "sysfs", "vm86", "vm86old", "afs_syscall", "putpmsg", "getpmsg", "tuxcall", "security", "vserver",
       "bdflush", "break", "ftime", "gtty", "idle", "lock", "mpx", "prof", "profil", "stty", "ulimit"}
    # i386 calls that newer ones replaced (Docker's profile has only the new ones)
    | {"nice", "oldfstat", "oldlstat", "oldolduname", "oldstat", "olduname", "readdir", "sgetmask",
       "ssetmask", "sigaction", "signal", "sigpending", "sigsuspend"}
)  # fmt: skip

# Allowed only for the arguments their own rules check.
ARGUMENT_CHECKED = frozenset({"clone", "clone3", "personality", "socket"})

_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "ppc64le": ["SCMP_ARCH_PPC64LE"],
    "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
    "riscv64": ["SCMP_ARCH_RISCV64"],
}


def host_architectures(machine: str | None = None) -> list[str]:
    """The seccomp architectures of ``machine`` (``uname -m``; None: this host's)."""
    return _ARCHES.get(machine or platform.machine(), [])


def parse_kernel_version(release: str) -> tuple[int, int] | None:
    """(major, minor) of a kernel release such as ``6.8.0-45-generic``, as Docker compares them."""
    match = re.match(r"(\d+)\.(\d+)", release.strip())
    return (int(match[1]), int(match[2])) if match else None


def running_kernel(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of kernel ``release`` (None: the running one's)."""
    # An unreadable release counts as an old kernel: the stricter profile.
    return parse_kernel_version(platform.release() if release is None else release) or (0, 0)


def default_profile(
    caps: Iterable[str], *, kernel: tuple[int, int] | None = None, machine: str | None = None
) -> dict[str, Any]:
    """Docker's default profile for a container holding ``caps`` on ``kernel`` and ``machine``
    (by default the running kernel, and this host's architecture)."""
    machine = machine or platform.machine()
    held = set(caps)
    rules: list[dict[str, Any]] = [
        {"names": sorted(_allowed(held, kernel or running_kernel())), "action": "SCMP_ACT_ALLOW"}
    ]
    rules += _socket_rules() + _clone_rules(held, machine) + _personality_rules()
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": host_architectures(machine),
        "syscalls": rules,
    }


def _allowed(held: set[str], kernel: tuple[int, int]) -> frozenset[str]:
    """System calls allowed whatever their arguments."""
    guarded = frozenset().union(*CAP_GUARDED.values())
    unlocked = frozenset().union(*(names for cap, names in CAP_GUARDED.items() if cap in held))
    recent = frozenset().union(*(names for since, names in SINCE_KERNEL.items() if kernel >= since))
    return (SYSCALL_NAMES - ALWAYS_DENIED - ARGUMENT_CHECKED - guarded) | unlocked | recent


def _arg_rule(name: str, index: int, op: str, value: int, **extra: int) -> dict[str, Any]:
    return {
        "names": [name],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": index, "value": value, **extra, "op": op}],
    }


def _socket_rules() -> list[dict[str, Any]]:
    # Every address family but AF_ALG (38) and AF_VSOCK (40), in three comparisons; 39 is AF_NFC.
    # 32-bit x86 programs reach socket() through socketcall, whose arguments seccomp cannot see.
    return [
        _arg_rule("socket", 0, "SCMP_CMP_LT", AF_ALG),
        _arg_rule("socket", 0, "SCMP_CMP_EQ", AF_ALG + 1),
        _arg_rule("socket", 0, "SCMP_CMP_GT", AF_VSOCK),
    ]


def _clone_rules(held: set[str], machine: str) -> list[dict[str, Any]]:
    if "CAP_SYS_ADMIN" in held:
        return [{"names": ["clone", "clone3"], "action": "SCMP_ACT_ALLOW"}]
    flags_arg = 1 if machine == "s390x" else 0  # s390x swaps clone's first two arguments
    return [
        _arg_rule("clone", flags_arg, "SCMP_CMP_MASKED_EQ", CLONE_NAMESPACE_FLAGS, valueTwo=0),
        # ENOSYS, not EPERM: the C library falls back to clone, whose flags seccomp can read.
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    ]


def _personality_rules() -> list[dict[str, Any]]:
    return [_arg_rule("personality", 0, "SCMP_CMP_EQ", persona) for persona in HARMLESS_PERSONAS]


def _applies(rule: dict[str, Any], caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    """Docker's includes/excludes: every condition of ``includes`` holds, none of ``excludes``."""
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if includes.get("caps") and not set(includes["caps"]) <= caps:
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if includes.get("minKernel") and kernel < _min_kernel(includes["minKernel"]):
        return False
    if excludes.get("caps") and set(excludes["caps"]) & caps:
        return False
    if excludes.get("arches") and arch in excludes["arches"]:
        return False
    return not (excludes.get("minKernel") and kernel >= _min_kernel(excludes["minKernel"]))


def _min_kernel(text: Any) -> tuple[int, int]:
    version = parse_kernel_version(text) if isinstance(text, str) else None
    if version is None:
        raise InvalidArgument(f"seccomp profile: minKernel {text!r} is not a kernel version such as '4.8'")
    return version


def read_profile(path: Path) -> str:
    """A profile file's text, checked to be a JSON object with a defaultAction."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidArgument(f"cannot read seccomp profile {path}: {exc.strerror}") from None
    profile_from_text(text, [], source=str(path))
    return text


def profile_from_text(
    text: str,
    caps: Iterable[str],
    *,
    source: str = "seccomp profile",
    kernel: tuple[int, int] | None = None,
    machine: str | None = None,
) -> dict[str, Any]:
    """A Docker-format seccomp profile, turned into the OCI runtime spec's form for a container
    holding ``caps`` on ``kernel`` and ``machine`` (by default the running kernel, this host)."""
    machine = machine or platform.machine()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "defaultAction" not in data:
        raise InvalidArgument(f"{source} has no defaultAction")
    go_arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    held = set(caps)
    kernel = kernel or running_kernel()
    out: dict[str, Any] = {"defaultAction": data["defaultAction"]}
    if "defaultErrnoRet" in data:
        out["defaultErrnoRet"] = data["defaultErrnoRet"]
    arches = list(data.get("architectures") or [])
    for entry in data.get("archMap") or []:
        if entry.get("architecture") in host_architectures(machine)[:1]:
            arches = [entry["architecture"], *(entry.get("subArchitectures") or [])]  # null for riscv64
    if arches:
        out["architectures"] = arches
    if data.get("flags"):
        out["flags"] = data["flags"]
    rules = []
    for rule in data.get("syscalls") or []:
        if not _applies(rule, held, go_arch, kernel):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        converted: dict[str, Any] = {"names": names, "action": rule["action"]}
        for key in ("args", "errnoRet"):
            if rule.get(key) is not None:
                converted[key] = rule[key]
        rules.append(converted)
    out["syscalls"] = rules
    return out
