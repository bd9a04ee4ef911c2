"""Seccomp profiles: cove's default (Docker's policy), and Docker-format profiles from files.

The default is an allow-list: every system call this kernel generation knows, except the
ones that reach outside a container (loading modules, mounting, changing the clock,
tracing other processes, the kernel keyring, ...). Several of those come back when the
container holds the capability that guards them, as in Docker. ``clone`` may not create
namespaces without CAP_SYS_ADMIN, ``clone3`` answers ENOSYS so C libraries fall back to
``clone``, and ``personality`` takes only the harmless personas.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cove.errors import InvalidArgument
from cove.runtime.syscall_names import SYSCALL_NAMES

ENOSYS = 38
EPERM = 1
CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
HARMLESS_PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# Allowed only with the capability that guards them.
CAP_GUARDED: dict[str, frozenset[str]] = {
    "CAP_SYS_ADMIN": frozenset(
        {"bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount",
         "mount_setattr", "move_mount", "name_to_handle_at", "open_tree", "perf_event_open", "quotactl",
         "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
         "pivot_root", "swapon", "swapoff", "sysfs", "vhangup"}
    ),
    "CAP_SYS_BOOT": frozenset({"reboot"}),
    "CAP_SYS_MODULE": frozenset({"delete_module", "init_module", "finit_module"}),
    "CAP_SYS_PACCT": frozenset({"acct"}),
    "CAP_SYS_PTRACE": frozenset(
        {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}
    ),
    "CAP_SYS_RAWIO": frozenset({"iopl", "ioperm"}),
    "CAP_SYS_TIME": frozenset(
        {"settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex", "clock_adjtime",
         "clock_adjtime64"}
    ),
    "CAP_SYS_TTY_CONFIG": frozenset({"vhangup"}),
    "CAP_SYS_NICE": frozenset(
        {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", "move_pages"}
    ),
    "CAP_SYSLOG": frozenset({"syslog"}),
    "CAP_BPF": frozenset({"bpf"}),
    "CAP_PERFMON": frozenset({"perf_event_open"}),
    "CAP_DAC_READ_SEARCH": frozenset({"open_by_handle_at"}),
}  # fmt: skip

# Never allowed by the default profile: the keyring is not namespaced, the rest is obsolete
# or lets a process reach the host.
ALWAYS_DENIED = frozenset(
    {"add_key", "keyctl", "request_key", "kexec_file_load", "kexec_load", "create_module", "get_kernel_syms",
     "query_module", "nfsservctl", "uselib", "ustat", "_sysctl", "vm86", "vm86old", "afs_syscall", "putpmsg",
     "getpmsg", "tuxcall", "security", "vserver", "userfaultfd", "clone", "clone3", "personality"}
)  # fmt: skip

_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "ppc64le": ["SCMP_ARCH_PPC64LE"],
    "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
    "riscv64": ["SCMP_ARCH_RISCV64"],
}


def host_architectures() -> list[str]:
    return _ARCHES.get(platform.machine(), [])


def default_profile(caps: Iterable[str]) -> dict[str, Any]:
    held = set(caps)
    guarded = set().union(*CAP_GUARDED.values())
    unlocked = set().union(*(names for cap, names in CAP_GUARDED.items() if cap in held))
    allowed = sorted((SYSCALL_NAMES - ALWAYS_DENIED - guarded) | unlocked)
    clone_arg = 1 if platform.machine() == "s390x" else 0  # s390x swaps clone's first two arguments
    rules: list[dict[str, Any]] = [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    if "CAP_SYS_ADMIN" in held:
        rules.append({"names": ["clone", "clone3"], "action": "SCMP_ACT_ALLOW"})
    else:
        rules.append(
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {
                        "index": clone_arg,
                        "value": CLONE_NAMESPACE_FLAGS,
                        "valueTwo": 0,
                        "op": "SCMP_CMP_MASKED_EQ",
                    }
                ],
            }
        )
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    for persona in HARMLESS_PERSONAS:
        rules.append(
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}],
            }
        )
    if "CAP_SYS_PTRACE" in held:
        rules.append({"names": ["userfaultfd"], "action": "SCMP_ACT_ALLOW"})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": host_architectures(),
        "syscalls": rules,
    }


def _applies(rule: dict[str, Any], caps: set[str], arch: str) -> bool:
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if includes.get("caps") and not set(includes["caps"]) <= caps:
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if excludes.get("caps") and set(excludes["caps"]) & caps:
        return False
    return not (excludes.get("arches") and arch in excludes["arches"])


def read_profile(path: Path) -> str:
    """A profile file's text, checked to be a JSON object with a defaultAction."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidArgument(f"cannot read seccomp profile {path}: {exc.strerror}") from None
    profile_from_text(text, [], source=str(path))
    return text


def profile_from_text(text: str, caps: Iterable[str], *, source: str = "seccomp profile") -> dict[str, Any]:
    """A Docker-format seccomp profile, turned into the OCI runtime spec's form."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "defaultAction" not in data:
        raise InvalidArgument(f"{source} has no defaultAction")
    go_arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    held = set(caps)
    out: dict[str, Any] = {"defaultAction": data["defaultAction"]}
    if "defaultErrnoRet" in data:
        out["defaultErrnoRet"] = data["defaultErrnoRet"]
    arches = list(data.get("architectures") or [])
    for entry in data.get("archMap") or []:
        if entry.get("architecture") in host_architectures()[:1]:
            arches = [entry["architecture"], *entry.get("subArchitectures", [])]
    if arches:
        out["architectures"] = arches
    if data.get("flags"):
        out["flags"] = data["flags"]
    rules = []
    for rule in data.get("syscalls") or []:
        if not _applies(rule, held, go_arch):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        converted: dict[str, Any] = {"names": names, "action": rule["action"]}
        for key in ("args", "errnoRet"):
            if rule.get(key) is not None:
                converted[key] = rule[key]
        rules.append(converted)
    out["syscalls"] = rules
    return out
