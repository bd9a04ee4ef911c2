"""Seccomp profiles and capabilities, checked against Docker's documented defaults.

Docker's reference is moby's ``profiles/seccomp/default.json`` (the default profile) and
``daemon/pkg/oci/caps`` (the default capability set and ``TweakCapabilities``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from cove.errors import InvalidArgument, Kind
from cove.runtime import caps, seccomp
from cove.runtime.syscall_names import SYSCALL_NAMES

EPERM = 1
ENOSYS = 38
CLONE_THREAD_FLAGS = 0x003D0F00  # what glibc's pthread_create passes to clone
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
ADDR_NO_RANDOMIZE = 0x0040000  # setarch -R
PER_LINUX32 = 0x0008
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
AF_ALG = 38
AF_NFC = 39
AF_VSOCK = 40
AF_XDP = 44

DOCKER_DEFAULT_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
}  # fmt: skip

# The first rule of Docker's default.json: allowed for every container, whatever its capabilities.
DOCKER_ALWAYS_ALLOWED = (
    "_llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod "
    "chown chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime "
    "clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range "
    "creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 "
    "epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 "
    "fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 "
    "fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat "
    "fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 "
    "futex_wait futex_waitv futex_wake futimesat get_robust_list get_thread_area getcpu getcwd getdents "
    "getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer "
    "getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid "
    "getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid getuid32 "
    "getxattr getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel "
    "io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl ioprio_get "
    "ioprio_set ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 "
    "lgetxattr link linkat listen listmount listxattr listxattrat llistxattr lremovexattr lseek lsetxattr "
    "lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat "
    "mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open "
    "mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal "
    "msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat "
    "open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect "
    "poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 "
    "pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom "
    "recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat "
    "renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask "
    "rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo "
    "sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr sched_getparam "
    "sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity "
    "sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop "
    "semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list "
    "set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups "
    "setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid "
    "setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid setuid32 setxattr setxattrat "
    "shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall "
    "socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range "
    "syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime "
    "timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 "
    "timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink "
    "unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write "
    "writev"
).split()

# Docker's CAP_SYS_ADMIN rule.
DOCKER_SYS_ADMIN_UNLOCKS = {
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
    "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount", "mount_setattr", "move_mount",
    "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
    "syslog", "umount", "umount2", "unshare",
}  # fmt: skip


# Profiles depend on the host's architecture; these tests describe an amd64 host unless they say.
AMD64 = "x86_64"


def _arg_matches(cond: dict[str, Any], args: Sequence[int]) -> bool:
    arg = args[cond["index"]] if cond["index"] < len(args) else 0
    value = cond["value"]
    op = cond["op"]
    if op == "SCMP_CMP_MASKED_EQ":
        return bool(arg & value == cond.get("valueTwo", 0))
    compare = {
        "SCMP_CMP_EQ": arg == value,
        "SCMP_CMP_NE": arg != value,
        "SCMP_CMP_LT": arg < value,
        "SCMP_CMP_LE": arg <= value,
        "SCMP_CMP_GT": arg > value,
        "SCMP_CMP_GE": arg >= value,
    }
    return bool(compare[op])


def decide(profile: dict[str, Any], name: str, *args: int) -> str:
    """What the kernel would answer, as libseccomp ranks actions: "allow", "errno N" or "kill"."""
    matching = [
        rule
        for rule in profile["syscalls"]
        if name in rule["names"] and all(_arg_matches(c, args) for c in rule.get("args") or [])
    ]
    errnos = [r for r in matching if r["action"] == "SCMP_ACT_ERRNO"]
    if errnos:
        return f"errno {errnos[0].get('errnoRet', profile.get('defaultErrnoRet', EPERM))}"
    if any(r["action"] == "SCMP_ACT_ALLOW" for r in matching):
        return "allow"
    if profile["defaultAction"] == "SCMP_ACT_ERRNO":
        return f"errno {profile.get('defaultErrnoRet', EPERM)}"
    return {"SCMP_ACT_ALLOW": "allow", "SCMP_ACT_KILL": "kill"}[profile["defaultAction"]]


def allowed_names(profile: dict[str, Any]) -> set[str]:
    """System calls allowed whatever their arguments."""
    return {
        n for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
        for n in rule["names"]
    }  # fmt: skip


def default(extra: Iterable[str] = (), *, kernel: tuple[int, int] | None = None) -> dict[str, Any]:
    return seccomp.default_profile([*caps.DEFAULT_CAPS, *extra], machine=AMD64, kernel=kernel)


# -- the default seccomp profile --------------------------------------------------------


def test_default_profile_denies_with_eperm_on_the_three_x86_abis() -> None:
    profile = default()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == EPERM
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert decide(profile, "no_such_syscall") == f"errno {EPERM}"


@pytest.mark.parametrize(
    ("machine", "arches"),
    [
        ("aarch64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        ("s390x", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]),
        ("riscv64", ["SCMP_ARCH_RISCV64"]),
        ("sparc64", []),
    ],
)
def test_architectures_follow_the_host(machine: str, arches: list[str]) -> None:
    assert seccomp.host_architectures(machine) == arches
    assert seccomp.default_profile(caps.DEFAULT_CAPS, machine=machine)["architectures"] == arches


def test_the_hosts_architecture_by_default() -> None:
    assert seccomp.host_architectures() == seccomp.host_architectures(os.uname().machine)
    assert seccomp.default_profile(caps.DEFAULT_CAPS)["architectures"] == seccomp.host_architectures()


def test_default_profile_is_valid_json_with_one_rule_shape() -> None:
    profile = default()
    assert json.loads(json.dumps(profile)) == profile
    for rule in profile["syscalls"]:
        assert set(rule) <= {"names", "action", "args", "errnoRet"}, rule
        assert rule["action"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO")
        assert rule["names"], rule
    big = profile["syscalls"][0]["names"]
    assert big == sorted(set(big)), "the allow-list is sorted and has no duplicates"


@pytest.mark.parametrize(
    "name",
    sorted(set(DOCKER_ALWAYS_ALLOWED) & SYSCALL_NAMES),
)
def test_everything_docker_always_allows_is_allowed(name: str) -> None:
    assert decide(default(), name) == "allow"


def test_ptrace_family_allowed_without_cap_sys_ptrace_as_in_docker() -> None:
    # Docker allows these on kernels >= 4.8 (where a tracer can no longer slip a call past
    # seccomp), so `strace cmd` and gdb on a child work in a default container; the kernel's
    # own ptrace checks still stop tracing what the container may not trace.
    profile = default()
    assert {n: decide(profile, n) for n in ("ptrace", "process_vm_readv", "process_vm_writev")} == {
        "ptrace": "allow",
        "process_vm_readv": "allow",
        "process_vm_writev": "allow",
    }


def test_ptrace_family_needs_cap_sys_ptrace_before_linux_4_8() -> None:
    # Docker's minKernel rule: before 4.8 a tracer could change a system call after seccomp saw it.
    old = seccomp.default_profile(caps.DEFAULT_CAPS, kernel=(4, 4), machine=AMD64)
    assert {decide(old, n) for n in ("ptrace", "process_vm_readv", "process_vm_writev")} == {f"errno {EPERM}"}
    traced = seccomp.default_profile([*caps.DEFAULT_CAPS, "CAP_SYS_PTRACE"], kernel=(4, 4), machine=AMD64)
    assert {decide(traced, n) for n in ("ptrace", "process_vm_readv", "process_vm_writev")} == {"allow"}
    assert (
        decide(seccomp.default_profile(caps.DEFAULT_CAPS, kernel=(4, 8), machine=AMD64), "ptrace") == "allow"
    )
    assert (
        decide(seccomp.default_profile(caps.DEFAULT_CAPS, kernel=(4, 8), machine=AMD64), "kcmp")
        == f"errno {EPERM}"
    )


@pytest.mark.parametrize(
    ("release", "version"),
    [("6.18.44-fc-v782", (6, 18)), ("3.12-1-amd64", (3, 12)), ("4.8.0", (4, 8)),
     ("5.15.0-91-generic", (5, 15)), ("bogus", None), ("", None), ("6", None)],
)  # fmt: skip
def test_kernel_versions_compare_by_major_and_minor(release: str, version: tuple[int, int] | None) -> None:
    assert seccomp.parse_kernel_version(release) == version


def test_the_kernel_release_decides_the_ptrace_rule() -> None:
    assert seccomp.running_kernel("4.4.0-210-generic") == (4, 4)
    assert decide(default(kernel=seccomp.running_kernel("4.4.0-210-generic")), "ptrace") == f"errno {EPERM}"
    assert seccomp.running_kernel("unknown") == (0, 0)  # the stricter profile
    assert decide(default(kernel=seccomp.running_kernel("6.1.0-28-amd64")), "ptrace") == "allow"
    # By default, the running kernel's.
    assert seccomp.running_kernel() == seccomp.running_kernel(os.uname().release)
    assert default() == default(kernel=seccomp.running_kernel(os.uname().release))


@pytest.mark.parametrize(
    "name",
    ["mount", "umount2", "unshare", "setns", "sethostname", "pivot_root", "swapon", "reboot", "init_module",
     "finit_module", "delete_module", "acct", "kcmp", "pidfd_getfd", "iopl", "ioperm", "settimeofday",
     "clock_settime", "vhangup", "mbind", "set_mempolicy", "syslog", "bpf", "perf_event_open",
     "open_by_handle_at", "kexec_load", "kexec_file_load", "add_key", "keyctl", "request_key", "uselib",
     "userfaultfd", "lookup_dcookie", "quotactl", "fsopen", "open_tree", "move_mount"],
)  # fmt: skip
def test_escapes_are_denied_with_default_caps(name: str) -> None:
    assert decide(default(), name) == f"errno {EPERM}"


@pytest.mark.parametrize(
    ("cap", "names"),
    [
        ("CAP_SYS_MODULE", {"init_module", "finit_module", "delete_module"}),
        ("CAP_SYS_BOOT", {"reboot"}),
        ("CAP_SYS_PACCT", {"acct"}),
        ("CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                            "process_vm_writev", "ptrace"}),
        ("CAP_SYS_RAWIO", {"iopl", "ioperm"}),
        ("CAP_SYS_TIME", {"settimeofday", "clock_settime"}),
        ("CAP_SYS_TTY_CONFIG", {"vhangup"}),
        ("CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy"}),
        ("CAP_SYSLOG", {"syslog"}),
        ("CAP_BPF", {"bpf"}),
        ("CAP_PERFMON", {"perf_event_open"}),
        ("CAP_DAC_READ_SEARCH", {"open_by_handle_at"}),
        ("CAP_SYS_ADMIN", {"mount", "umount2", "unshare", "setns", "sethostname", "setdomainname", "bpf",
                           "perf_event_open", "syslog", "quotactl", "fsopen", "fsmount", "move_mount"}),
    ],
)  # fmt: skip
def test_a_capability_unlocks_the_calls_it_guards(cap: str, names: set[str]) -> None:
    assert cap not in caps.DEFAULT_CAPS
    with_cap = default([cap])
    assert {n: decide(with_cap, n) for n in names} == dict.fromkeys(names, "allow")
    assert "kexec_load" not in allowed_names(with_cap)


def test_cap_sys_admin_unlocks_what_docker_unlocks_and_no_more() -> None:
    # Docker's default profile never allows pivot_root, swapon, swapoff or sysfs (CAP_SYS_ADMIN
    # or not), and vhangup only with CAP_SYS_TTY_CONFIG.
    unlocked = allowed_names(default(["CAP_SYS_ADMIN"])) - allowed_names(default())
    assert unlocked == DOCKER_SYS_ADMIN_UNLOCKS


@pytest.mark.parametrize("name", ["move_pages", "migrate_pages", "get_mempolicy", "set_mempolicy_home_node"])
def test_numa_calls_need_cap_sys_nice(name: str) -> None:
    # Docker never allows migrate_pages/move_pages; the NUMA policy calls need CAP_SYS_NICE.
    assert decide(default(), name) == f"errno {EPERM}"


def test_io_uring_is_denied_as_in_docker() -> None:
    # Docker 25 removed io_uring_* from the default profile (moby 891241e7e7): a large kernel
    # attack surface that most container workloads do not need.
    profile = default()
    assert {n: decide(profile, n) for n in ("io_uring_setup", "io_uring_enter", "io_uring_register")} == {
        "io_uring_setup": f"errno {EPERM}",
        "io_uring_enter": f"errno {EPERM}",
        "io_uring_register": f"errno {EPERM}",
    }


def test_socket_allows_ordinary_families() -> None:
    profile = default()
    assert decide(profile, "socket", AF_INET, 1, 0) == "allow"
    assert decide(profile, "socketpair", 1, 1, 0) == "allow"


def test_socket_af_vsock_is_denied_as_in_docker() -> None:
    # Since Docker 23 (moby 57b229012a): vsock reaches the hypervisor, outside any network namespace.
    assert decide(default(), "socket", AF_VSOCK, 1, 0) == f"errno {EPERM}"


def test_socket_af_alg_is_denied_as_in_docker_29_5() -> None:
    # moby/profiles v0.2.1 (Docker 29.5): the kernel crypto API socket is refused too; the families
    # around and between the two refused ones still work.
    profile = default()
    assert decide(profile, "socket", AF_ALG, 5, 0) == f"errno {EPERM}"
    for family in (AF_INET, AF_INET6, AF_NETLINK, AF_ALG - 1, AF_NFC, AF_VSOCK + 1, AF_XDP):
        assert decide(profile, "socket", family, 1, 0) == "allow", family
    assert (
        decide(seccomp.default_profile(caps.ALL_CAPS, machine=AMD64), "socket", AF_ALG, 5, 0)
        == f"errno {EPERM}"
    )
    assert "socket" not in profile["syscalls"][0]["names"]


def test_chroot_needs_cap_sys_chroot_as_in_docker() -> None:
    assert decide(default(), "chroot") == "allow"  # CAP_SYS_CHROOT is a default capability
    without = seccomp.default_profile([c for c in caps.DEFAULT_CAPS if c != "CAP_SYS_CHROOT"], machine=AMD64)
    assert decide(without, "chroot") == f"errno {EPERM}"


def test_reading_the_clock_discipline_needs_no_capability() -> None:
    # adjtimex(2) with modes 0 only reads (ntp_gettime, chronyc tracking); the kernel itself asks
    # for CAP_SYS_TIME before changing anything, so Docker leaves it to the kernel.
    profile = default()
    assert {decide(profile, n) for n in ("adjtimex", "clock_adjtime")} == {"allow"}
    assert {decide(profile, n) for n in ("settimeofday", "clock_settime", "stime")} == {f"errno {EPERM}"}


def test_every_name_the_profile_mentions_is_in_the_syscall_table() -> None:
    # A misspelt name would silently allow nothing (or deny nothing).
    named = set().union(*seccomp.CAP_GUARDED.values(), *seccomp.SINCE_KERNEL.values())
    named |= seccomp.ALWAYS_DENIED | seccomp.ARGUMENT_CHECKED
    assert named - SYSCALL_NAMES == set()


def test_newest_calls_docker_allows_are_known() -> None:
    assert {"mseal", "listmount", "statmount", "getxattrat", "setxattrat", "listxattrat", "removexattrat",
            "uretprobe", "lsm_get_self_attr"} <= SYSCALL_NAMES  # fmt: skip
    # Docker does not allow these (yet); an allow-everything-known profile must not know them.
    assert not {"open_tree_attr", "file_getattr", "file_setattr"} & SYSCALL_NAMES


@pytest.mark.parametrize(
    "name",
    ["kexec_load", "kexec_file_load", "add_key", "keyctl", "request_key", "create_module", "nfsservctl",
     "uselib", "ustat", "_sysctl", "vm86", "vm86old", "get_kernel_syms", "query_module", "pivot_root",
     "swapon", "swapoff", "sysfs", "migrate_pages", "move_pages", "io_uring_setup", "userfaultfd",
     "signal", "olduname", "readdir"],
)  # fmt: skip
def test_always_denied_even_with_every_capability(name: str) -> None:
    # Docker allows none of these (userfaultfd not even with CAP_SYS_PTRACE, as podman does).
    assert decide(seccomp.default_profile(caps.ALL_CAPS, machine=AMD64), name) == f"errno {EPERM}"


# -- clone, clone3, personality ----------------------------------------------------------


def test_clone_without_cap_sys_admin_cannot_create_namespaces() -> None:
    profile = default()
    rules = [r for r in profile["syscalls"] if "clone" in r["names"]]
    assert rules == [
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        }
    ]
    assert decide(profile, "clone", CLONE_THREAD_FLAGS) == "allow"
    assert decide(profile, "clone", 17) == "allow"  # fork(): SIGCHLD
    for flag in (CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, 0x02000000, 0x04000000, 0x08000000):
        assert decide(profile, "clone", 17 | flag) == f"errno {EPERM}", hex(flag)


def test_clone3_answers_enosys_without_cap_sys_admin() -> None:
    # ENOSYS, not EPERM: glibc then falls back to clone, whose flags seccomp can inspect.
    profile = default()
    assert decide(profile, "clone3") == f"errno {ENOSYS}"
    assert [r for r in profile["syscalls"] if "clone3" in r["names"]] == [
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}
    ]


def test_clone_and_clone3_are_free_with_cap_sys_admin() -> None:
    profile = default(["CAP_SYS_ADMIN"])
    assert decide(profile, "clone", 17 | CLONE_NEWUSER | CLONE_NEWNS) == "allow"
    assert decide(profile, "clone3") == "allow"
    assert not any(r["action"] == "SCMP_ACT_ERRNO" for r in profile["syscalls"])


def test_clone_flags_are_the_second_argument_on_s390x() -> None:
    profile = seccomp.default_profile(caps.DEFAULT_CAPS, machine="s390x")
    (rule,) = [r for r in profile["syscalls"] if r["names"] == ["clone"]]
    assert rule["args"][0]["index"] == 1
    assert decide(profile, "clone", 0, CLONE_NEWUSER) == f"errno {EPERM}"
    assert decide(profile, "clone", CLONE_NEWUSER, 17) == "allow"


@pytest.mark.parametrize("persona", [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF])
def test_personality_allows_dockers_personas(persona: int) -> None:
    assert decide(default(), "personality", persona) == "allow"
    assert decide(seccomp.default_profile(caps.ALL_CAPS, machine=AMD64), "personality", persona) == "allow"


@pytest.mark.parametrize("persona", [ADDR_NO_RANDOMIZE, ADDR_NO_RANDOMIZE | PER_LINUX32, 0x0100000, 0x1])
def test_personality_refuses_other_personas(persona: int) -> None:
    # ADDR_NO_RANDOMIZE (setarch -R) would switch off ASLR; READ_IMPLIES_EXEC etc. likewise.
    assert decide(default(), "personality", persona) == f"errno {EPERM}"
    assert (
        decide(seccomp.default_profile(caps.ALL_CAPS, machine=AMD64), "personality", persona)
        == f"errno {EPERM}"
    )


def test_caps_not_held_do_not_unlock_anything() -> None:
    # An unrelated capability (CAP_NET_ADMIN) changes nothing in the profile.
    assert default(["CAP_NET_ADMIN"]) == default()
    assert seccomp.default_profile(iter(caps.DEFAULT_CAPS), machine=AMD64) == default()


# -- Docker-format profiles from files ---------------------------------------------------

CUSTOM = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW", "comment": "basics"},
        {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
        {"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}  # fmt: skip


def _names(profile: dict[str, Any]) -> list[str]:
    return [n for rule in profile["syscalls"] for n in rule["names"]]


def test_custom_profile_is_converted_to_the_runtime_form() -> None:
    profile = seccomp.profile_from_text(json.dumps(CUSTOM), caps.DEFAULT_CAPS, machine=AMD64)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert "archMap" not in profile
    assert profile["syscalls"][0] == {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}
    assert profile["syscalls"][1] == {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in profile["syscalls"]
    for rule in profile["syscalls"]:
        assert "includes" not in rule and "excludes" not in rule and "comment" not in rule


def test_custom_profile_capability_conditions() -> None:
    plain = _names(seccomp.profile_from_text(json.dumps(CUSTOM), caps.DEFAULT_CAPS, machine=AMD64))
    assert "mount" not in plain
    assert "chroot" not in plain  # needs both CAP_SYS_ADMIN and CAP_SYS_CHROOT
    assert "clone" in plain  # excluded only when CAP_SYS_ADMIN is held
    admin = _names(
        seccomp.profile_from_text(json.dumps(CUSTOM), [*caps.DEFAULT_CAPS, "CAP_SYS_ADMIN"], machine=AMD64)
    )
    assert "mount" in admin
    assert "chroot" in admin
    assert "clone" not in admin
    only_admin = _names(seccomp.profile_from_text(json.dumps(CUSTOM), ["CAP_SYS_ADMIN"], machine=AMD64))
    assert "chroot" not in only_admin


def test_custom_profile_arch_conditions_use_go_names() -> None:
    names = _names(seccomp.profile_from_text(json.dumps(CUSTOM), [], machine=AMD64))
    assert "arch_prctl" in names
    assert "set_tls" not in names
    assert "modify_ldt" not in names
    arm = seccomp.profile_from_text(json.dumps(CUSTOM), [], machine="aarch64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "set_tls" in _names(arm)
    assert "arch_prctl" not in _names(arm)
    assert "modify_ldt" in _names(arm)


def test_custom_profile_keeps_args_flags_and_plain_architectures() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}],
                },
            ],
        }
    )
    profile = seccomp.profile_from_text(text, [], machine=AMD64)
    assert profile == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}],
            }
        ],
    }
    assert decide(profile, "personality", 8) == "allow"
    assert decide(profile, "personality", 0) == f"errno {EPERM}"


def test_custom_profile_min_kernel_conditions() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}},
            ],
        }
    )
    assert _names(seccomp.profile_from_text(text, [], kernel=(6, 1), machine=AMD64)) == ["ptrace"]
    assert _names(seccomp.profile_from_text(text, [], kernel=(5, 4), machine=AMD64)) == ["ptrace", "kcmp"]
    assert _names(seccomp.profile_from_text(text, [], kernel=(4, 4), machine=AMD64)) == ["kcmp"]


def test_custom_profile_with_a_bad_min_kernel_is_refused() -> None:
    text = json.dumps(
        {"defaultAction": "SCMP_ACT_ERRNO",
         "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}
    )  # fmt: skip
    with pytest.raises(InvalidArgument, match="minKernel 'four'"):
        seccomp.profile_from_text(text, [], kernel=(6, 1), machine=AMD64)


def test_custom_profile_arch_map_without_sub_architectures() -> None:
    # Docker's own default.json writes "subArchitectures": null for riscv64.
    text = json.dumps(
        {"defaultAction": "SCMP_ACT_ERRNO",
         "archMap": [{"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": None}]}
    )  # fmt: skip
    assert seccomp.profile_from_text(text, [], machine="riscv64")["architectures"] == ["SCMP_ARCH_RISCV64"]


def test_minimal_custom_profile() -> None:
    assert seccomp.profile_from_text('{"defaultAction": "SCMP_ACT_ALLOW"}', [], machine=AMD64) == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [],
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "has no defaultAction"),
        ('{"syscalls": []}', "has no defaultAction"),
        ('"SCMP_ACT_ALLOW"', "has no defaultAction"),
    ],
)
def test_bad_profiles_are_invalid_arguments(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        seccomp.profile_from_text(text, [], source="/etc/p.json", machine=AMD64)
    assert info.value.kind is Kind.INVALID_ARGUMENT
    assert why in str(info.value)
    assert "/etc/p.json" in str(info.value)


def test_read_profile_checks_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(CUSTOM))
    assert seccomp.read_profile(good) == good.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"syscalls": []}')
    with pytest.raises(InvalidArgument, match=r"bad\.json has no defaultAction"):
        seccomp.read_profile(bad)
    with pytest.raises(InvalidArgument, match=r"cannot read seccomp profile .*missing\.json"):
        seccomp.read_profile(tmp_path / "missing.json")


# -- capabilities -------------------------------------------------------------------------


def test_default_caps_are_dockers() -> None:
    assert set(caps.DEFAULT_CAPS) == DOCKER_DEFAULT_CAPS
    assert len(caps.DEFAULT_CAPS) == len(DOCKER_DEFAULT_CAPS)


def test_all_caps_are_in_kernel_order() -> None:
    # capability.h numbers; host_caps cuts this list at /proc/sys/kernel/cap_last_cap.
    numbers = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_SETPCAP": 8, "CAP_NET_ADMIN": 12, "CAP_SYS_MODULE": 16,
               "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29,
               "CAP_SETFCAP": 31, "CAP_SYSLOG": 34, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
               "CAP_CHECKPOINT_RESTORE": 40}  # fmt: skip
    assert {name: caps.ALL_CAPS.index(name) for name in numbers} == numbers
    assert len(caps.ALL_CAPS) == 41
    assert len(set(caps.ALL_CAPS)) == 41


def test_effective_caps_default() -> None:
    result = caps.effective_caps(known=caps.ALL_CAPS)
    assert set(result) == DOCKER_DEFAULT_CAPS
    assert result == [c for c in caps.ALL_CAPS if c in DOCKER_DEFAULT_CAPS]  # kernel order


@pytest.mark.parametrize(
    "spelling", ["NET_ADMIN", "net_admin", "CAP_NET_ADMIN", "cap_net_admin", " Net_Admin "]
)
def test_cap_add_spellings(spelling: str) -> None:
    assert caps.normalize(spelling) == "CAP_NET_ADMIN"
    result = caps.effective_caps([spelling], known=caps.ALL_CAPS)
    assert set(result) == DOCKER_DEFAULT_CAPS | {"CAP_NET_ADMIN"}


def test_cap_drop() -> None:
    result = caps.effective_caps(drop=["mknod", "CAP_NET_RAW"], known=caps.ALL_CAPS)
    assert set(result) == DOCKER_DEFAULT_CAPS - {"CAP_MKNOD", "CAP_NET_RAW"}


def test_dropping_a_cap_not_held_is_harmless() -> None:
    assert set(caps.effective_caps(drop=["SYS_ADMIN"], known=caps.ALL_CAPS)) == DOCKER_DEFAULT_CAPS


def test_add_and_drop_the_same_cap_add_wins() -> None:
    # Docker drops first, then adds (TweakCapabilities' default branch).
    result = caps.effective_caps(
        add=["NET_RAW", "SYS_TIME"], drop=["NET_RAW", "SYS_TIME"], known=caps.ALL_CAPS
    )
    assert "CAP_NET_RAW" in result
    assert "CAP_SYS_TIME" in result


@pytest.mark.parametrize("all_spelling", ["ALL", "all", "All"])
def test_drop_all_then_add(all_spelling: str) -> None:
    assert caps.normalize(all_spelling) == "ALL"
    assert caps.effective_caps(drop=[all_spelling], known=caps.ALL_CAPS) == []
    result = caps.effective_caps(add=["chown", "SETUID"], drop=[all_spelling], known=caps.ALL_CAPS)
    assert result == ["CAP_CHOWN", "CAP_SETUID"]


def test_add_all() -> None:
    assert caps.effective_caps(add=["ALL"], known=caps.ALL_CAPS) == list(caps.ALL_CAPS)


def test_add_all_drop_some() -> None:
    result = caps.effective_caps(add=["all"], drop=["SYS_ADMIN", "net_admin"], known=caps.ALL_CAPS)
    assert result == [c for c in caps.ALL_CAPS if c not in ("CAP_SYS_ADMIN", "CAP_NET_ADMIN")]


def test_add_all_and_drop_a_cap_also_named_in_add_drops_it_as_docker() -> None:
    # moby TweakCapabilities: with ALL in cap-add, the result is every capability "except
    # ones on capDrop", whatever else cap-add names.
    result = caps.effective_caps(add=["ALL", "SYS_ADMIN"], drop=["SYS_ADMIN"], known=caps.ALL_CAPS)
    assert "CAP_SYS_ADMIN" not in result


def test_add_all_is_limited_to_known_caps() -> None:
    known = caps.ALL_CAPS[:38]  # a kernel before CAP_PERFMON
    assert caps.effective_caps(add=["ALL"], known=known) == list(known)


def test_privileged_gets_every_known_cap_whatever_add_and_drop_say() -> None:
    known = tuple(c for c in caps.ALL_CAPS if c != "CAP_SYS_RESOURCE")
    assert caps.effective_caps(privileged=True, known=known) == list(known)
    assert caps.effective_caps(drop=["ALL"], privileged=True, known=known) == list(known)
    assert caps.effective_caps(add=["NET_ADMIN"], drop=["CHOWN"], privileged=True, known=known) == list(known)


@pytest.mark.parametrize("name", ["CAP_FOO", "foo", "NET_ADMINN", "CAP_", "", "CAP_ALL", "SYS-ADMIN"])
def test_unknown_capability_is_an_invalid_argument(name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        caps.normalize(name)
    assert info.value.kind is Kind.INVALID_ARGUMENT
    assert f"unknown capability: {name!r}" in str(info.value)
    assert info.value.hint
    with pytest.raises(InvalidArgument):
        caps.effective_caps(add=[name], known=caps.ALL_CAPS)
    with pytest.raises(InvalidArgument):
        caps.effective_caps(drop=[name], known=caps.ALL_CAPS)


def test_cap_the_host_cannot_grant_is_refused_not_silently_dropped() -> None:
    # Docker: "capability not supported by your kernel or not available in the current
    # environment". Quietly leaving it out runs the container without what the user asked for.
    known = tuple(c for c in caps.ALL_CAPS if c != "CAP_BPF")
    with pytest.raises(InvalidArgument, match="CAP_BPF"):
        caps.effective_caps(add=["BPF"], known=known)


def test_cap_the_host_cannot_grant_is_refused_with_all_and_when_privileged() -> None:
    known = tuple(c for c in caps.ALL_CAPS if c != "CAP_BPF")
    with pytest.raises(InvalidArgument, match="not supported by your kernel") as info:
        caps.effective_caps(add=["ALL", "BPF"], known=known)
    assert info.value.kind is Kind.INVALID_ARGUMENT
    assert info.value.hint
    with pytest.raises(InvalidArgument, match="CAP_BPF"):
        caps.effective_caps(add=["BPF"], privileged=True, known=known)  # Docker checks CapAdd at create
    assert caps.effective_caps(add=["ALL"], known=known) == list(known)


def test_dropping_a_cap_the_host_cannot_grant_is_harmless() -> None:
    known = tuple(c for c in caps.ALL_CAPS if c != "CAP_BPF")
    assert set(caps.effective_caps(drop=["BPF"], known=known)) == DOCKER_DEFAULT_CAPS


def test_host_caps_cut_by_last_cap_and_bounding_set() -> None:
    everything = (1 << 64) - 1
    assert caps.host_caps(last_cap=40, bounding=everything) == caps.ALL_CAPS
    assert caps.host_caps(last_cap=37, bounding=everything) == caps.ALL_CAPS[:38]
    assert "CAP_BPF" not in caps.host_caps(last_cap=37, bounding=everything)
    without_sys_admin = everything & ~(1 << 21)
    result = caps.host_caps(last_cap=40, bounding=without_sys_admin)
    assert "CAP_SYS_ADMIN" not in result
    assert len(result) == 40
    assert caps.host_caps(last_cap=40, bounding=0b101) == ("CAP_CHOWN", "CAP_DAC_READ_SEARCH")
    # a newer kernel than this table: only the names cove knows
    assert caps.host_caps(last_cap=63, bounding=everything) == caps.ALL_CAPS
