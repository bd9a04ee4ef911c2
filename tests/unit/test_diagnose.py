"""Why a container's program cannot start: Docker's exit codes (126 cannot invoke, 127 not
found) with a message naming the file; and the ELF reader that finds a program's loader."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from cove.containers.diagnose import (
    CANNOT_INVOKE,
    ENGINE,
    NOT_FOUND,
    StartFailure,
    explain,
    preflight,
)
from cove.host.elf import NotElf, is_static, program_interpreter
from cove.host.inroot import Root

PATH = "/usr/local/bin:/usr/bin:/bin"
HOST_TRUE = Path("/bin/true")


def put(root: Path, path: str, content: str | bytes = b"", mode: int = 0o755) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)
    target.chmod(mode)
    return target


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A tiny image: /bin/sh exists, so do /usr/bin/env and a few programs."""
    rootfs = tmp_path / "rootfs"
    put(rootfs, "/bin/sh", b"\x7fELF-ish placeholder")
    put(rootfs, "/usr/bin/env", "#!/bin/sh\n")
    put(rootfs, "/usr/bin/python3", "#!/bin/sh\n")
    return rootfs


def resolver(root: Path) -> Root:
    """The image's files, seen from its root (closed when the test's objects go)."""
    return Root(root)


def elf(bits: int = 64, little: bool = True, interp: str | None = "/lib/ld-test.so.1") -> bytes:
    """A minimal ELF image: a header, a PT_LOAD and (optionally) a PT_INTERP program header."""
    e = "<" if little else ">"
    ehsize, phentsize = (64, 56) if bits == 64 else (52, 32)
    phdrs = [(1, b"")] + ([(3, interp.encode() + b"\0")] if interp is not None else [])
    data_at = ehsize + phentsize * len(phdrs)
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1 if little else 2, 1]) + bytes(9)
    if bits == 64:
        header = ident + struct.pack(
            e + "HHIQQQIHHHHHH", 2, 62, 1, 0, ehsize, 0, 0, ehsize, phentsize, len(phdrs), 0, 0, 0
        )
    else:
        header = ident + struct.pack(
            e + "HHIIIIIHHHHHH", 2, 3, 1, 0, ehsize, 0, 0, ehsize, phentsize, len(phdrs), 0, 0, 0
        )
    table = b""
    payload = b""
    for p_type, content in phdrs:
        offset = data_at + len(payload) if content else 0
        if bits == 64:
            table += struct.pack(e + "IIQQQQQQ", p_type, 4, offset, 0, 0, len(content), len(content), 1)
        else:
            table += struct.pack(e + "IIIIIIII", p_type, offset, 0, 0, len(content), len(content), 4, 1)
        payload += content
    assert len(header) == ehsize
    return header + table + payload


# --- preflight: nothing to say ---------------------------------------------------------------


def test_no_args_nothing_to_check(root: Path) -> None:
    assert preflight(resolver(root), [], PATH) is None
    assert preflight(resolver(root), [], PATH, missing_is_error=True) is None


def test_a_fine_script_by_path_and_by_name(root: Path) -> None:
    put(root, "/usr/local/bin/app", "#!/bin/sh\necho hi\n")
    assert preflight(resolver(root), ["/usr/local/bin/app"], PATH) is None
    assert preflight(resolver(root), ["app", "--flag"], PATH) is None


def test_env_shebang_checks_env_only(root: Path) -> None:
    put(root, "/app/run.py", "#!/usr/bin/env python3\nprint(1)\n")
    assert preflight(resolver(root), ["/app/run.py"], PATH) is None


def test_shebang_with_argument_and_spaces(root: Path) -> None:
    put(root, "/app/run", "#!  /bin/sh -e  \nexit 0\n")
    assert preflight(resolver(root), ["/app/run"], PATH) is None


def test_binary_that_is_neither_script_nor_elf_is_left_to_the_runtime(root: Path) -> None:
    put(root, "/app/blob", bytes(range(256)))
    assert preflight(resolver(root), ["/app/blob"], PATH) is None


def test_missing_program_is_not_an_error_before_start(root: Path) -> None:
    """A mount may still bring it."""
    assert preflight(resolver(root), ["nope"], PATH) is None
    assert preflight(resolver(root), ["/data/nope"], PATH) is None


# --- preflight: 127 not found ----------------------------------------------------------------


def test_missing_program_in_path_names_it_and_the_path(root: Path) -> None:
    failure = preflight(resolver(root), ["nope", "arg"], PATH, missing_is_error=True)
    assert failure == StartFailure(NOT_FOUND, f'exec: "nope": executable file not found in $PATH ({PATH})')


def test_missing_program_by_path(root: Path) -> None:
    failure = preflight(resolver(root), ["/app/server"], PATH, missing_is_error=True)
    assert failure == StartFailure(NOT_FOUND, 'exec: "/app/server": executable file not found')


def test_missing_program_with_empty_path(root: Path) -> None:
    failure = preflight(resolver(root), ["sh"], "", missing_is_error=True)
    assert failure is not None
    assert failure.exit_code == NOT_FOUND
    assert '"sh"' in failure.message


def test_relative_program_with_slash_is_not_searched_in_path(root: Path) -> None:
    put(root, "/usr/bin/tool", "#!/bin/sh\n")
    failure = preflight(resolver(root), ["bin/tool"], PATH, missing_is_error=True)
    assert failure is not None and failure.exit_code == NOT_FOUND


def test_script_whose_interpreter_is_missing(root: Path) -> None:
    put(root, "/app/start.sh", "#!/bin/bash\necho hi\n")
    failure = preflight(resolver(root), ["/app/start.sh"], PATH)
    assert failure == StartFailure(
        NOT_FOUND, "exec: /app/start.sh: the script's interpreter /bin/bash is not in the image"
    )


def test_script_found_through_path_is_named_by_its_full_path(root: Path) -> None:
    put(root, "/usr/bin/entry", "#!/usr/bin/node\n")
    failure = preflight(resolver(root), ["entry"], PATH)
    assert failure is not None
    assert failure.exit_code == NOT_FOUND
    assert failure.message.startswith("exec: /usr/bin/entry: ")
    assert "/usr/bin/node" in failure.message


def test_script_with_crlf_line_endings(root: Path) -> None:
    put(root, "/app/start.sh", b"#!/bin/sh\r\necho hi\r\n")
    failure = preflight(resolver(root), ["/app/start.sh"], PATH)
    assert failure is not None
    assert failure.exit_code == NOT_FOUND
    assert failure.message.startswith("exec: /app/start.sh: ")
    assert "CRLF" in failure.message
    assert "'/bin/sh'" in failure.message
    assert "dos2unix" in failure.message


def test_crlf_after_interpreter_argument(root: Path) -> None:
    put(root, "/app/start.sh", b"#!/bin/sh -e\r\n")
    failure = preflight(resolver(root), ["/app/start.sh"], PATH)
    assert failure is not None and "CRLF" in failure.message


def test_shebang_interpreter_is_looked_up_in_the_image_not_the_host(root: Path) -> None:
    assert Path("/bin/sh").exists()
    (root / "bin" / "sh").unlink()
    put(root, "/app/run", "#!/bin/sh\n")
    failure = preflight(resolver(root), ["/app/run"], PATH)
    assert failure is not None and "/bin/sh is not in the image" in failure.message


def test_shebang_interpreter_through_an_absolute_link_in_the_image(root: Path) -> None:
    (root / "usr" / "bin" / "bash").symlink_to("/bin/sh")
    put(root, "/app/run", "#!/usr/bin/bash\n")
    assert preflight(resolver(root), ["/app/run"], PATH) is None


def test_dangling_symlink_program(tmp_path: Path) -> None:
    """A program that is a link to nothing: the link's missing target is named."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr" / "bin").mkdir(parents=True)
    (rootfs / "usr" / "bin" / "app").symlink_to("app-1.0")
    failure = preflight(resolver(rootfs), ["app"], "/usr/bin")
    assert failure == StartFailure(
        NOT_FOUND, "exec: /usr/bin/app: it is a symbolic link to a file that does not exist"
    )


# --- preflight: 126 cannot invoke ------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o400])
def test_program_that_is_not_executable(root: Path, mode: int) -> None:
    put(root, "/app/run.sh", "#!/bin/sh\n", mode=mode)
    failure = preflight(resolver(root), ["/app/run.sh"], PATH)
    assert failure == StartFailure(
        CANNOT_INVOKE,
        f"exec: /app/run.sh: permission denied: the file is not executable (mode {mode:04o})",
    )


def test_program_that_is_a_directory(root: Path) -> None:
    (root / "app").mkdir()
    failure = preflight(resolver(root), ["/app"], PATH)
    assert failure == StartFailure(CANNOT_INVOKE, "exec: /app: is a directory, not a program")


@pytest.mark.parametrize("mode", [0o100, 0o010, 0o001])
def test_any_execute_bit_is_enough(root: Path, mode: int) -> None:
    put(root, "/app/run", "#!/bin/sh\n", mode=0o600 | mode)
    assert preflight(resolver(root), ["/app/run"], PATH) is None


@pytest.mark.parametrize("shadow", ["file", "dir"])
def test_path_search_skips_what_cannot_be_executed(root: Path, shadow: str) -> None:
    """As Go's exec.LookPath (runc) and crun: a non-executable file or a directory of the same
    name earlier in $PATH is skipped, and the program found later runs."""
    if shadow == "file":
        put(root, "/usr/local/bin/python3", "not a program\n", mode=0o644)
    else:
        (root / "usr" / "local" / "bin" / "python3").mkdir(parents=True)
    assert preflight(resolver(root), ["python3", "-V"], PATH) is None


def test_path_search_skips_a_dangling_link(root: Path) -> None:
    (root / "usr" / "local" / "bin").mkdir(parents=True)
    (root / "usr" / "local" / "bin" / "python3").symlink_to("python3.99")
    assert preflight(resolver(root), ["python3"], PATH) is None


def test_path_search_with_nothing_executable_tells_the_first_one_s_problem(root: Path) -> None:
    """Only when no entry can run is one reported: the first that exists, with its problem."""
    put(root, "/usr/local/bin/tool", "#!/bin/sh\n", mode=0o644)
    (root / "usr" / "bin" / "tool").mkdir()
    failure = preflight(resolver(root), ["tool"], PATH)
    assert failure == StartFailure(
        CANNOT_INVOKE, "exec: /usr/local/bin/tool: permission denied: the file is not executable (mode 0644)"
    )


def test_path_search_takes_the_first_executable(root: Path) -> None:
    put(root, "/usr/local/bin/python3", "#!/opt/missing\n")
    failure = preflight(resolver(root), ["python3"], PATH)
    assert failure is not None
    assert failure.message.startswith("exec: /usr/local/bin/python3: ")


def test_empty_path_entries_are_ignored(root: Path) -> None:
    put(root, "/bin/tool", "#!/opt/missing\n")
    failure = preflight(resolver(root), ["tool"], "::/bin:")
    assert failure is not None and failure.message.startswith("exec: /bin/tool: ")


# --- preflight: ELF programs and their loader ------------------------------------------------


def host_loader() -> str:
    loader = program_interpreter(HOST_TRUE) if HOST_TRUE.exists() else None
    if loader is None:
        pytest.skip("/bin/true is not a dynamic executable on this host")
    return loader


def test_real_elf_whose_loader_is_missing(root: Path) -> None:
    loader = host_loader()
    shutil.copy(HOST_TRUE, root / "bin" / "true")
    failure = preflight(resolver(root), ["true"], PATH)
    assert failure == StartFailure(
        NOT_FOUND,
        f"exec: /bin/true: its dynamic loader {loader} is not in the image (built for another libc?)",
    )


def test_real_elf_with_its_loader(root: Path) -> None:
    loader = host_loader()
    shutil.copy(HOST_TRUE, root / "bin" / "true")
    put(root, loader, b"\x7fELF")
    assert preflight(resolver(root), ["/bin/true"], PATH) is None


def test_loader_that_is_a_dangling_link_in_the_image_is_missing(root: Path) -> None:
    loader = host_loader()
    shutil.copy(HOST_TRUE, root / "bin" / "true")
    link = root / loader.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("/lib/elsewhere/ld.so")
    failure = preflight(resolver(root), ["/bin/true"], PATH)
    assert failure is not None and failure.exit_code == NOT_FOUND and loader in failure.message


def test_loader_through_a_link_inside_the_image(root: Path) -> None:
    loader = host_loader()
    shutil.copy(HOST_TRUE, root / "bin" / "true")
    put(root, "/lib/real/ld.so", b"")
    link = root / loader.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("/lib/real/ld.so")
    assert preflight(resolver(root), ["/bin/true"], PATH) is None


def test_musl_program_on_a_glibc_image(root: Path) -> None:
    put(root, "/app/server", elf(interp="/lib/ld-musl-x86_64.so.1"))
    put(root, "/lib64/ld-linux-x86-64.so.2", b"")
    failure = preflight(resolver(root), ["/app/server"], PATH)
    assert failure is not None
    assert failure.exit_code == NOT_FOUND
    assert "/lib/ld-musl-x86_64.so.1" in failure.message


def test_static_elf_needs_no_loader(root: Path) -> None:
    put(root, "/app/static", elf(interp=None))
    assert preflight(resolver(root), ["/app/static"], PATH) is None


def test_truncated_elf_is_left_to_the_runtime(root: Path) -> None:
    put(root, "/app/broken", b"\x7fELF\x02\x01")
    assert preflight(resolver(root), ["/app/broken"], PATH) is None


# --- explain: after a runtime error ----------------------------------------------------------


def test_explain_leaves_other_errors_to_the_engine(root: Path) -> None:
    message = "OCI runtime create failed: cgroup: cannot enter"
    assert explain(message, resolver(root), ["/bin/sh"], PATH) == StartFailure(ENGINE, message)


def test_explain_missing_program(root: Path) -> None:
    failure = explain('exec: "nope": executable file not found in $PATH', resolver(root), ["nope"], PATH)
    assert failure == StartFailure(NOT_FOUND, f'exec: "nope": executable file not found in $PATH ({PATH})')


def test_explain_missing_program_by_path(root: Path) -> None:
    failure = explain("No such file or directory", resolver(root), ["/srv/app"], PATH)
    assert failure == StartFailure(NOT_FOUND, 'exec: "/srv/app": executable file not found')


def test_explain_tells_a_missing_interpreter_from_a_missing_program(root: Path) -> None:
    put(root, "/app/start", "#!/bin/zsh\n")
    failure = explain("exec /app/start: no such file or directory", resolver(root), ["/app/start"], PATH)
    assert failure.exit_code == NOT_FOUND
    assert "interpreter /bin/zsh is not in the image" in failure.message


def test_explain_not_executable(root: Path) -> None:
    put(root, "/app/start", "#!/bin/sh\n", mode=0o640)
    failure = explain("exec /app/start: permission denied", resolver(root), ["/app/start"], PATH)
    assert failure.exit_code == CANNOT_INVOKE
    assert "(mode 0640)" in failure.message


def test_explain_exec_format_error(root: Path) -> None:
    put(root, "/app/start", "echo no shebang\n")
    failure = explain("EXEC FORMAT ERROR", resolver(root), ["/app/start"], PATH)
    assert failure.exit_code == CANNOT_INVOKE
    assert failure.message.startswith("exec: /app/start: exec format error")
    assert "#!" in failure.message


def test_explain_permission_denied_on_an_executable(root: Path) -> None:
    """E.g. a noexec mount: the file looks fine, the runtime says no."""
    put(root, "/usr/bin/tool", "#!/bin/sh\n")
    failure = explain("permission denied", resolver(root), ["tool"], PATH)
    assert failure == StartFailure(CANNOT_INVOKE, "exec: /usr/bin/tool: permission denied")


def test_explain_keeps_the_runtime_message_when_nothing_more_is_known(root: Path) -> None:
    put(root, "/app/start", "#!/bin/sh\n")
    message = "exec: no such file or directory"
    assert explain(message, resolver(root), ["/app/start"], PATH) == StartFailure(NOT_FOUND, message)
    message = "mount: not a directory"
    assert explain(message, resolver(root), ["/app/start"], PATH) == StartFailure(ENGINE, message)


def test_explain_directory(root: Path) -> None:
    (root / "srv").mkdir()
    failure = explain("is a directory", resolver(root), ["/srv"], PATH)
    assert failure.exit_code == CANNOT_INVOKE


# --- the ELF reader --------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("little", [True, False])
def test_program_interpreter_of_every_elf_class(tmp_path: Path, bits: int, little: bool) -> None:
    path = tmp_path / "prog"
    path.write_bytes(elf(bits, little, "/lib/ld-linux.so.2"))
    assert program_interpreter(path) == "/lib/ld-linux.so.2"
    assert is_static(path) is False
    path.write_bytes(elf(bits, little, None))
    assert program_interpreter(path) is None
    assert is_static(path) is True


def test_program_interpreter_of_a_real_program() -> None:
    loader = host_loader()
    assert loader.startswith("/")
    assert "ld" in Path(loader).name


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"#!/bin/sh\n",
        b"MZ\x90\x00",
        b"\x7fEL",
        b"\x7fELF",  # the magic alone, and one byte more: the header cut short
        b"\x7fELF\x02",
        b"\x7fELF\x02\x01",
        b"\x7fELF" + bytes(20),
    ],
)
def test_not_elf(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    with pytest.raises(NotElf):
        program_interpreter(path)
    assert is_static(path) is False


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        program_interpreter(tmp_path / "absent")
    assert is_static(tmp_path / "absent") is False


def test_an_executable_fifo_is_not_opened(root: Path) -> None:
    """A hostile image's program that is a FIFO with execute bits: reading its first line
    would block for ever; the check leaves it to the runtime instead."""
    os.mkfifo(root / "bin" / "trap", 0o755)
    assert preflight(resolver(root), ["/bin/trap"], PATH) is None


def test_links_are_followed_inside_the_image_only(root: Path) -> None:
    """A program linked to an absolute path is the image's file of that name, never the host's."""
    (root / "bin" / "host-true").symlink_to(HOST_TRUE)  # the host has it; the image does not
    failure = preflight(resolver(root), ["/bin/host-true"], PATH)
    assert failure == StartFailure(
        NOT_FOUND, "exec: /bin/host-true: it is a symbolic link to a file that does not exist"
    )
