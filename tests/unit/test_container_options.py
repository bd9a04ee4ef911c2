"""The flags of ``cove run`` / ``cove create`` (Docker's), turned into a ContainerConfig."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

import pytest

from cove.cli.container_options import (
    add_create_flags,
    config_from_args,
    parse_device,
    parse_label,
    parse_mount,
    parse_restart,
    parse_tmpfs,
    parse_ulimit,
    parse_volume,
    read_env_file,
)
from cove.cli.parser import CoveArgumentParser, UsageError
from cove.containers.model import (
    BIND,
    TMPFS,
    VOLUME,
    ContainerConfig,
    DeviceRequest,
    HealthConfig,
    MountSpec,
    NetworkKind,
    NetworkMode,
    RestartName,
    RestartPolicy,
    Ulimit,
)
from cove.engine.containers import effective_health
from cove.errors import CoveError, InvalidArgument
from cove.oci.platform import host_platform

MIB = 1 << 20
GIB = 1 << 30


def parser(run: bool = True) -> CoveArgumentParser:
    """The parser of ``cove run`` (or ``create``): the shared flags, plus run's own -d and --rm."""
    p = CoveArgumentParser(prog="cove run" if run else "cove create", add_help=False)
    add_create_flags(p)
    if run:
        p.add_argument("-d", "--detach", action="store_true")
        p.add_argument("--rm", action="store_true")
    return p


def parse(*argv: str) -> argparse.Namespace:
    return parser().parse_args(list(argv))


def config(*argv: str, env: dict[str, str] | None = None) -> ContainerConfig:
    return config_from_args(parse(*argv), env or {})


def invalid(*argv: str, env: dict[str, str] | None = None) -> CoveError:
    """The cove error that these flags give: never a bare ValueError or argparse error."""
    with pytest.raises(CoveError) as caught:
        config(*argv, env=env)
    assert caught.value.message
    return caught.value


# --- the defaults and the plain flags --------------------------------------------------------


def test_defaults() -> None:
    c = config("alpine")
    assert c == ContainerConfig(image="alpine", network=NetworkMode(NetworkKind.BRIDGE), stdin_once=False)
    assert c.entrypoint is None  # the image's
    assert c.cmd is None  # the image's
    assert c.env == []
    assert c.mounts == []
    assert c.restart == RestartPolicy(RestartName.NO, 0) and not c.restart.restarts
    assert c.seccomp == "default"
    assert c.healthcheck is None and c.no_healthcheck is False


def test_create_parser_has_the_same_flags() -> None:
    args = parser(run=False).parse_args(["--name", "web", "-e", "A=1", "nginx"])
    c = config_from_args(args, {})
    assert (c.image, c.env, c.auto_remove, c.stdin_once) == ("nginx", ["A=1"], False, False)
    assert args.name == "web"


def test_image_is_required() -> None:
    with pytest.raises(UsageError) as caught:
        parse("-e", "A=1")
    assert "IMAGE" in caught.value.message
    assert caught.value.prog == "cove run"


def test_unknown_flag_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--bogus"):
        parse("--bogus", "alpine")


def test_command_and_its_flags() -> None:
    c = config("--rm", "alpine", "sh", "-c", "echo hi; ls -l", "--rm", "-e", "X=1")
    assert c.image == "alpine"
    assert c.cmd == ["sh", "-c", "echo hi; ls -l", "--rm", "-e", "X=1"]
    assert c.env == []  # flags after the image are the command's
    assert c.auto_remove is True


def test_interactive_and_tty() -> None:
    c = config("-it", "alpine")
    assert (c.open_stdin, c.tty, c.stdin_once) == (True, True, True)
    c = config("-i", "-d", "alpine")
    assert (c.open_stdin, c.stdin_once) == (True, False)  # detached: stdin stays open
    c = config("-t", "alpine")
    assert (c.open_stdin, c.tty, c.stdin_once) == (False, True, False)


def test_create_interactive_keeps_stdin_open() -> None:
    c = config_from_args(parser(run=False).parse_args(["-i", "alpine"]), {})
    assert (c.open_stdin, c.stdin_once) == (True, True)


def test_workdir_user_hostname() -> None:
    c = config("-w", "/srv", "-u", "1000:100", "-h", "box", "alpine")
    assert (c.workdir, c.user, c.hostname) == ("/srv", "1000:100", "box")
    c = config("--workdir=/app", "--user", "nobody", "--hostname", "web.local", "alpine")
    assert (c.workdir, c.user, c.hostname) == ("/app", "nobody", "web.local")


@pytest.mark.parametrize("user", ["root", "0", "1000", "www-data:www-data", "1000:1000", "app:0"])
def test_user_is_kept_for_the_container_s_passwd(user: str) -> None:
    assert config("-u", user, "alpine").user == user


def test_entrypoint() -> None:
    assert config("--entrypoint", "/bin/sh", "alpine").entrypoint == ["/bin/sh"]
    assert config("--entrypoint=", "alpine").entrypoint == []  # "": reset the image's
    assert config("--entrypoint", "", "alpine", "ls").cmd == ["ls"]
    assert config("alpine").entrypoint is None


def test_flags_that_are_switches() -> None:
    c = config("--read-only", "--init", "--privileged", "--rm", "alpine")
    assert (c.read_only, c.init, c.privileged, c.auto_remove) == (True, True, True, True)
    c = config("alpine")
    assert (c.read_only, c.init, c.privileged, c.auto_remove) == (False, False, False, False)


def test_capabilities() -> None:
    c = config("--cap-add", "NET_ADMIN", "--cap-add=SYS_TIME", "--cap-drop", "ALL", "alpine")
    assert c.cap_add == ["NET_ADMIN", "SYS_TIME"]
    assert c.cap_drop == ["ALL"]


def test_dns_and_hosts() -> None:
    c = config(
        "--dns", "1.1.1.1", "--dns", "8.8.8.8", "--dns-search", "corp", "--add-host", "db:10.0.0.2",
        "--dns-option", "ndots:2", "--dns-opt", "timeout:1", "alpine",
    )  # fmt: skip
    assert c.dns == ["1.1.1.1", "8.8.8.8"]
    assert c.dns_options == ["ndots:2", "timeout:1"]
    assert c.dns_search == ["corp"]
    assert c.extra_hosts == ["db:10.0.0.2"]


def test_sysctls_and_runtime() -> None:
    c = config("--sysctl", "net.core.somaxconn=1024", "--runtime", "crun", "alpine")
    assert c.sysctls == {"net.core.somaxconn": "1024"}
    assert c.runtime == "crun"


def test_pull_policy_choices() -> None:
    assert parse("--pull", "never", "alpine").pull == "never"
    assert parse("alpine").pull == "missing"
    with pytest.raises(UsageError, match="invalid choice"):
        parse("--pull", "sometimes", "alpine")


# --- environment -----------------------------------------------------------------------------


def test_env_values() -> None:
    c = config("-e", "A=1", "--env", "B=", "-e", "C=x=y", "--env=D=with space", "alpine")
    assert c.env == ["A=1", "B=", "C=x=y", "D=with space"]


def test_env_name_alone_is_taken_from_the_given_environment() -> None:
    c = config("-e", "HOME", "-e", "TOKEN", "-e", "A=1", "alpine", env={"TOKEN": "s3cret", "HOME": "/h"})
    assert c.env == ["HOME=/h", "TOKEN=s3cret", "A=1"]


def test_env_name_alone_that_is_not_set_is_not_set_to_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONLY_IN_PROCESS", "leak")
    c = config("-e", "MISSING", "-e", "ONLY_IN_PROCESS", "alpine", env={})
    assert not any(item.startswith(("MISSING=", "ONLY_IN_PROCESS=")) for item in c.env)


def test_env_with_empty_name_is_rejected() -> None:
    """Docker's opts.ValidateEnv: ``invalid environment variable: =x``."""
    error = invalid("-e", "=x", "alpine")
    assert "=x" in error.message
    assert invalid("-e", "", "alpine").message == "invalid environment variable: "


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_env_file_comments_blank_lines_and_spaces(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "app.env",
        "# a comment\n\nA=1\n   \n  B=two words\n# C=commented\nD=\nE=x=y\nF=value # not a comment\n",
    )
    assert read_env_file(path) == ["A=1", "B=two words", "D=", "E=x=y", "F=value # not a comment"]
    assert config("--env-file", path, "alpine").env == read_env_file(path)


def test_env_files_in_order_then_env_flags(tmp_path: Path) -> None:
    first = write(tmp_path, "first.env", "A=first\nONE=1\n")
    second = write(tmp_path, "second.env", "A=second\nTWO=2\n")
    c = config("--env-file", first, "-e", "A=flag", "--env-file", second, "alpine")
    # As docker/cli's ReadKVEnvStrings: every file in the order given, then every -e.
    assert c.env == ["A=first", "ONE=1", "A=second", "TWO=2", "A=flag"]


def test_env_file_name_alone_uses_the_given_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``KEY`` alone in a file takes the caller's value, like ``-e KEY`` does (the command
    server runs the client's command with the client's environment, passed in as ``env``)."""
    monkeypatch.delenv("FROM_CLIENT", raising=False)
    path = write(tmp_path, "pass.env", "FROM_CLIENT\nUNSET_ANYWHERE\n")
    c = config("--env-file", path, "alpine", env={"FROM_CLIENT": "yes"})
    assert c.env == ["FROM_CLIENT=yes"]


def test_env_file_values_are_kept_as_written(tmp_path: Path) -> None:
    """Docker trims only the front of a line: spaces at the end belong to the value; a
    byte-order mark at the start of the file is dropped; CRLF lines are read as lines."""
    path = tmp_path / "win.env"
    path.write_bytes(b"\xef\xbb\xbfA=1  \r\nB=x\r\n")
    assert read_env_file(str(path)) == ["A=1  ", "B=x"]


@pytest.mark.parametrize(
    ("text", "why"),
    [("A B=1\n", "variable 'A B' contains whitespaces"), ("=1\n", "no variable name on line '=1'")],
)
def test_env_file_bad_names(tmp_path: Path, text: str, why: str) -> None:
    path = write(tmp_path, "bad.env", text)
    assert invalid("--env-file", path, "alpine").message == f"invalid env file {path}: {why}"


def test_env_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.env"
    path.write_bytes(b"A=caf\xe9\n")
    assert (
        invalid("--env-file", str(path), "alpine").message == f"env file {path} contains invalid utf8 bytes"
    )


def test_read_env_file_takes_name_alone_from_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVE_TEST_PASS", "through")
    monkeypatch.delenv("COVE_TEST_UNSET", raising=False)
    path = write(tmp_path, "pass.env", "COVE_TEST_PASS\nCOVE_TEST_UNSET\n")
    assert read_env_file(path) == ["COVE_TEST_PASS=through"]


def test_missing_env_file_names_the_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.env")
    error = invalid("--env-file", missing, "alpine")
    assert isinstance(error, InvalidArgument)
    assert error.message == f"open {missing}: No such file or directory"


# --- labels ----------------------------------------------------------------------------------


def test_labels() -> None:
    c = config("-l", "a=1", "--label", "b", "--label=c=x=y", "-l", "a=2", "alpine")
    assert c.labels == {"a": "2", "b": "", "c": "x=y"}


def test_label_without_key_is_rejected() -> None:
    assert "'=x'" in invalid("-l", "=x", "alpine").message
    with pytest.raises(InvalidArgument):
        parse_label("")


# --- -v / --volume ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("/data", MountSpec(VOLUME, "/data")),  # anonymous volume
        ("cache:/var/cache", MountSpec(VOLUME, "/var/cache", "cache")),
        ("cache:/var/cache:ro", MountSpec(VOLUME, "/var/cache", "cache", readonly=True)),
        ("cache:/var/cache:nocopy", MountSpec(VOLUME, "/var/cache", "cache", no_copy=True)),
        ("cache:/c:ro,nocopy", MountSpec(VOLUME, "/c", "cache", readonly=True, no_copy=True)),
        ("my.vol_1-x:/c", MountSpec(VOLUME, "/c", "my.vol_1-x")),
        (
            "/srv/www:/usr/share/nginx/html",
            MountSpec(BIND, "/usr/share/nginx/html", "/srv/www", create_host_path=True),
        ),
        ("/srv:/srv:ro", MountSpec(BIND, "/srv", "/srv", readonly=True, create_host_path=True)),
        ("/srv:/srv:rw", MountSpec(BIND, "/srv", "/srv", create_host_path=True)),
        ("/srv:/srv:z", MountSpec(BIND, "/srv", "/srv", create_host_path=True)),
        ("/srv:/srv:Z", MountSpec(BIND, "/srv", "/srv", create_host_path=True)),
        ("/srv:/srv:ro,Z", MountSpec(BIND, "/srv", "/srv", readonly=True, create_host_path=True)),
        ("/srv:/srv:cached", MountSpec(BIND, "/srv", "/srv", create_host_path=True)),
        ("/srv:/srv:rshared", MountSpec(BIND, "/srv", "/srv", propagation="rshared", create_host_path=True)),
        ("/srv:/srv:ro,slave", MountSpec(BIND, "/srv", "/srv", True, "slave", create_host_path=True)),
        ("/:/host:ro", MountSpec(BIND, "/host", "/", readonly=True, create_host_path=True)),
        (
            "/var/run/docker.sock:/var/run/docker.sock",
            MountSpec(BIND, "/var/run/docker.sock", "/var/run/docker.sock", create_host_path=True),
        ),
    ],
)
def test_volume_flag(spec: str, expected: MountSpec) -> None:
    assert parse_volume(spec) == expected
    assert config("-v", spec, "alpine").mounts == [expected]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (":/data", ""),
        ("/host:", ""),
        ("/a:/b:ro:extra", ""),
        ("a:b:c:d", ""),
        ("/host:/ctr:bogus", "unknown option 'bogus'"),
        ("/host:/ctr:ro,exec", "unknown option 'exec'"),
        ("data:/ctr:RO", "unknown option 'RO'"),
        ("~/data:/data", "the host path must be absolute"),  # no shell here to expand ~
    ],
)
def test_volume_flag_errors(spec: str, why: str) -> None:
    error = invalid("-v", spec, "alpine")
    assert isinstance(error, InvalidArgument)
    assert error.message.startswith(f"invalid volume specification: '{spec}'")
    assert why in error.message


@pytest.mark.parametrize(
    ("source", "relative"), [("./data", "data"), (".", ""), ("../up", "../up"), (".cfg", ".cfg")]
)
def test_volume_flag_relative_host_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, relative: str
) -> None:
    """Docker 23+: a host path starting with "." is taken from the current directory."""
    monkeypatch.chdir(tmp_path)
    host = os.path.normpath(Path.cwd() / relative)
    expected = MountSpec(BIND, "/x", host, readonly=True, create_host_path=True)
    assert config("-v", f"{source}:/x:ro", "alpine").mounts == [expected]


def test_several_volumes_keep_their_order() -> None:
    c = config("-v", "/a:/a", "--volume", "named:/b", "-v", "/c", "alpine")
    assert [(m.type, m.target) for m in c.mounts] == [(BIND, "/a"), (VOLUME, "/b"), (VOLUME, "/c")]


# --- --mount ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("type=bind,source=/srv,target=/app", MountSpec(BIND, "/app", "/srv")),
        ("type=bind,src=/srv,dst=/app", MountSpec(BIND, "/app", "/srv")),
        ("type=bind,src=/srv,destination=/app", MountSpec(BIND, "/app", "/srv")),
        ("type=bind,src=/srv,dst=/app,readonly", MountSpec(BIND, "/app", "/srv", readonly=True)),
        ("type=bind,src=/srv,dst=/app,ro", MountSpec(BIND, "/app", "/srv", readonly=True)),
        ("type=bind,src=/srv,dst=/app,ro=true", MountSpec(BIND, "/app", "/srv", readonly=True)),
        ("type=bind,src=/srv,dst=/app,readonly=1", MountSpec(BIND, "/app", "/srv", readonly=True)),
        ("type=bind,src=/srv,dst=/app,readonly=false", MountSpec(BIND, "/app", "/srv")),
        ("type=bind,src=/srv,dst=/app,ro=0", MountSpec(BIND, "/app", "/srv")),
        (
            "type=bind,src=/srv,dst=/app,bind-propagation=rslave",
            MountSpec(BIND, "/app", "/srv", propagation="rslave"),
        ),
        ("type=bind,src=/srv,dst=/app,consistency=cached", MountSpec(BIND, "/app", "/srv")),
        ("Type=bind,Source=/srv,Target=/app", MountSpec(BIND, "/app", "/srv")),  # keys: any case
        ("target=/data", MountSpec(VOLUME, "/data")),  # default type: an anonymous volume
        ("type=volume,dst=/data", MountSpec(VOLUME, "/data")),
        ("type=volume,source=db,target=/var/lib/db", MountSpec(VOLUME, "/var/lib/db", "db")),
        ("type=volume,src=db,dst=/d,volume-nocopy", MountSpec(VOLUME, "/d", "db", no_copy=True)),
        ("type=volume,src=db,dst=/d,volume-nocopy=true", MountSpec(VOLUME, "/d", "db", no_copy=True)),
        ("type=volume,src=db,dst=/d,volume-nocopy=false", MountSpec(VOLUME, "/d", "db")),
        ("type=volume,src=db,dst=/d,readonly", MountSpec(VOLUME, "/d", "db", readonly=True)),
        ("type=tmpfs,dst=/run", MountSpec(TMPFS, "/run")),
        ("type=tmpfs,target=/run,tmpfs-size=64m", MountSpec(TMPFS, "/run", tmpfs_size=64 * MIB)),
        ("type=tmpfs,target=/run,tmpfs-size=1024", MountSpec(TMPFS, "/run", tmpfs_size=1024)),
        ("type=tmpfs,target=/run,tmpfs-mode=1770", MountSpec(TMPFS, "/run", tmpfs_mode=0o1770)),
        (
            "type=tmpfs,target=/t,tmpfs-size=1g,tmpfs-mode=700",
            MountSpec(TMPFS, "/t", tmpfs_size=GIB, tmpfs_mode=0o700),
        ),
    ],
)
def test_mount_flag(spec: str, expected: MountSpec) -> None:
    assert parse_mount(spec) == expected
    assert config("--mount", spec, "alpine").mounts == [expected]


def test_mount_bind_is_not_created_on_the_host() -> None:
    """Unlike -v, --mount type=bind fails when the host path is missing (Docker)."""
    assert parse_mount("type=bind,src=/srv,dst=/app").create_host_path is False
    assert parse_volume("/srv:/app").create_host_path is True


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("type=bind,src=/srv", "target is required"),
        ("type=volume,source=db", "target is required"),
        ("type=bind,target=/app", "source is required for a bind mount"),
        ("type=bind,src=,target=/app", "source is required for a bind mount"),
        ("type=nfs,target=/app", "invalid mount type 'nfs'"),
        ("type=bind,src=/a,dst=/b,volume-nocopy", "unexpected key 'volume-nocopy'"),
        ("type=volume,src=v,dst=/b,bind-propagation=shared", "unexpected key 'bind-propagation'"),
        ("type=bind,src=/a,dst=/b,tmpfs-size=1m", "unexpected key 'tmpfs-size'"),
        ("type=tmpfs,dst=/b,volume-nocopy", "unexpected key 'volume-nocopy'"),
        ("type=bind,src=/a,dst=/b,color=blue", "unexpected key 'color'"),
        ("type=tmpfs,dst=/b,tmpfs-size=lots", "invalid size: 'lots'"),
        ("type=tmpfs,src=/a,dst=/b", "a tmpfs mount takes no source ('/a')"),
        ("type=bind,src=/a,target", "field 'target' must be a key=value pair"),
        ("type=bind,src=/a,dst=/b,nocopy", "field 'nocopy' must be a key=value pair"),
        ("type=volume,dst=/b,", "field '' must be a key=value pair"),
    ],
)
def test_mount_flag_errors(spec: str, why: str) -> None:
    error = invalid("--mount", spec, "alpine")
    assert isinstance(error, InvalidArgument)
    assert why in error.message


def test_mount_source_and_readonly_spellings_last_wins() -> None:
    """src/source, dst/target/destination and ro/readonly are one key each: the last wins."""
    assert parse_mount("type=bind,src=/a,source=/b,dst=/c,target=/d") == MountSpec(BIND, "/d", "/b")
    assert parse_mount("type=bind,src=/a,dst=/b,ro,readonly=false").readonly is False


def test_mount_bind_relative_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As docker/cli: src=./dir and src=. are taken from the current directory."""
    monkeypatch.chdir(tmp_path)
    assert parse_mount("type=bind,src=.,dst=/x").source == str(Path.cwd())
    assert parse_mount("type=bind,src=./sub,dst=/x").source == str(Path.cwd() / "sub")
    assert parse_mount("Type=BIND,src=/a,dst=/b").type == BIND  # the type in any case, too


def test_mount_tmpfs_read_only() -> None:
    assert parse_mount("type=tmpfs,dst=/run,readonly").readonly is True
    assert parse_mount("type=tmpfs,dst=/run,ro=true").readonly is True


def test_mount_type_error_has_a_hint() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_mount("type=npipe,dst=/x")
    assert caught.value.hint == "use bind, volume or tmpfs"


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("type=bind,src=/a,dst=/b,readonly=maybe", "maybe"),
        ("type=bind,src=/a,dst=/b,ro=yesplease", "yesplease"),
        ("type=volume,src=v,dst=/b,volume-nocopy=perhaps", "perhaps"),
        ("type=tmpfs,dst=/b,tmpfs-mode=rwx", "rwx"),
        ("type=tmpfs,dst=/b,tmpfs-mode=999", "999"),
    ],
)
def test_mount_flag_bad_values_are_cove_errors(spec: str, why: str) -> None:
    """A bad value is the user's mistake: a cove error naming it (exit 125 with a message),
    not an internal error from a bare ValueError/ArgumentTypeError."""
    error = invalid("--mount", spec, "alpine")
    assert why in error.message


@pytest.mark.parametrize("mode", ["bogus", "recursive", "rw"])
def test_mount_bind_propagation_must_be_known(mode: str) -> None:
    """Docker: ``invalid propagation mode: bogus``; cove would hand it to the runtime as a
    mount option."""
    error = invalid("--mount", f"type=bind,src=/a,dst=/b,bind-propagation={mode}", "alpine")
    assert mode in error.message


@pytest.mark.parametrize("mode", ["private", "rprivate", "shared", "rshared", "slave", "rslave"])
def test_mount_bind_propagation_modes(mode: str) -> None:
    assert parse_mount(f"type=bind,src=/a,dst=/b,bind-propagation={mode}").propagation == mode
    assert parse_mount(f"type=bind,src=/a,dst=/b,bind-propagation={mode.upper()}").propagation == mode


# --- --tmpfs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "size", "mode"),
    [
        ("/run", None, None),
        ("/run:size=64m", 64 * MIB, None),
        ("/run:size=65536k", 64 * MIB, None),
        ("/tmp:mode=1777", None, 0o1777),
        ("/tmp:rw,noexec,nosuid,size=1g,mode=755", GIB, 0o755),
    ],
)
def test_tmpfs_flag(spec: str, size: int | None, mode: int | None) -> None:
    mount = parse_tmpfs(spec)
    target = spec.partition(":")[0]
    assert (mount.type, mount.target, mount.tmpfs_size, mount.tmpfs_mode) == (TMPFS, target, size, mode)
    assert mount.propagation == "flag"  # marks --tmpfs, which gets noexec like Docker's
    assert mount.readonly is False
    assert config("--tmpfs", spec, "alpine").mounts == [mount]


def test_tmpfs_flag_and_mount_tmpfs_differ_only_by_the_flag_marker() -> None:
    assert parse_mount("type=tmpfs,dst=/run").propagation == ""
    assert parse_tmpfs("/run").propagation == "flag"


def test_tmpfs_flag_read_only() -> None:
    """``--tmpfs /run:ro`` mounts a read-only tmpfs in Docker (options go to mount(8))."""
    assert parse_tmpfs("/run:ro,size=1m").readonly is True
    assert parse_tmpfs("/run:ro,rw").readonly is False  # the last one wins


def test_tmpfs_flag_passes_other_mount_options_through() -> None:
    """Docker's daemon appends them to its defaults (noexec,nosuid,nodev), so exec undoes noexec."""
    mount = parse_tmpfs("/run:exec,size=1m,nosuid,uid=1000,gid=100,nr_inodes=400,noatime,defaults")
    assert mount.tmpfs_options == ("exec", "nosuid", "uid=1000", "gid=100", "nr_inodes=400", "noatime")
    assert (mount.tmpfs_size, mount.readonly) == (MIB, False)
    assert parse_tmpfs("/run").tmpfs_options == ()
    assert parse_mount("type=tmpfs,dst=/run").tmpfs_options == ()


@pytest.mark.parametrize("option", ["bogus", "uid", "color=blue", "bind=1"])
def test_tmpfs_flag_unknown_option(option: str) -> None:
    """moby/sys/mount: ``invalid tmpfs option``."""
    assert invalid("--tmpfs", f"/run:{option}", "alpine").message == f"invalid tmpfs option {option!r}"


def test_tmpfs_flag_bad_size() -> None:
    assert "invalid size: 'huge'" in invalid("--tmpfs", "/run:size=huge", "alpine").message


@pytest.mark.parametrize("spec", ["/run:mode=999", "/run:mode=rwx"])
def test_tmpfs_flag_bad_mode_is_a_cove_error(spec: str) -> None:
    assert spec.split("=")[1] in invalid("--tmpfs", spec, "alpine").message


def test_all_mount_flags_together_in_order() -> None:
    c = config("--tmpfs", "/t", "--mount", "type=volume,dst=/m", "-v", "/h:/v", "alpine")
    assert [m.target for m in c.mounts] == ["/v", "/m", "/t"]  # -v, then --mount, then --tmpfs


# --- --ulimit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nofile=1024:2048", Ulimit("nofile", 1024, 2048)),
        ("nofile=1024", Ulimit("nofile", 1024, 1024)),
        ("nproc=512:1024", Ulimit("nproc", 512, 1024)),
        ("core=0", Ulimit("core", 0, 0)),
        ("memlock=-1:-1", Ulimit("memlock", -1, -1)),  # -1: unlimited
    ],
)
def test_ulimit_flag(spec: str, expected: Ulimit) -> None:
    assert parse_ulimit(spec) == expected
    assert config("--ulimit", spec, "alpine").ulimits == [expected]


def test_several_ulimits() -> None:
    c = config("--ulimit", "nofile=10:20", "--ulimit", "nproc=5", "alpine")
    assert c.ulimits == [Ulimit("nofile", 10, 20), Ulimit("nproc", 5, 5)]


@pytest.mark.parametrize(
    "spec", ["nofile", "nofile=", "nofile=abc", "nofile=1:abc", "nofile=1.5", "nofile=1:", "nofile=1_000"]
)
def test_ulimit_flag_errors(spec: str) -> None:
    error = invalid("--ulimit", spec, "alpine")
    assert error.message == f"invalid ulimit argument: {spec}"


def test_ulimit_without_value_has_a_hint() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_ulimit("nofile")
    assert caught.value.hint is not None and "nofile=1024:2048" in caught.value.hint


# --- --device --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("/dev/fuse", DeviceRequest("/dev/fuse", "/dev/fuse", "rwm")),
        ("/dev/sda:/dev/xvda", DeviceRequest("/dev/sda", "/dev/xvda", "rwm")),
        ("/dev/sda:/dev/xvda:r", DeviceRequest("/dev/sda", "/dev/xvda", "r")),
        ("/dev/sda:/dev/xvda:rw", DeviceRequest("/dev/sda", "/dev/xvda", "rw")),
        ("/dev/sda:/dev/xvda:mrw", DeviceRequest("/dev/sda", "/dev/xvda", "mrw")),
        ("/dev/snd:rw", DeviceRequest("/dev/snd", "/dev/snd", "rw")),  # HOST:MODE, as Docker
    ],
)
def test_device_flag(spec: str, expected: DeviceRequest) -> None:
    assert parse_device(spec) == expected
    assert config("--device", spec, "alpine").devices == [expected]


@pytest.mark.parametrize(
    "spec", ["/dev/sda:/dev/xvda:rwx", "/dev/sda:/dev/xvda:x", "/dev/sda:q", "/dev/a:/dev/b:r:extra"]
)
def test_device_flag_bad_mode(spec: str) -> None:
    error = invalid("--device", spec, "alpine")
    assert error.message.startswith("invalid device mode")
    assert repr(spec) in error.message


# --- --restart -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("no", ("no", 0)),
        ("always", ("always", 0)),
        ("unless-stopped", ("unless-stopped", 0)),
        ("on-failure", ("on-failure", 0)),
        ("on-failure:3", ("on-failure", 3)),
        ("on-failure:0", ("on-failure", 0)),
    ],
)
def test_restart_flag(spec: str, expected: tuple[str, int]) -> None:
    policy = RestartPolicy(RestartName(expected[0]), expected[1])
    assert parse_restart(spec) == policy
    assert config("--restart", spec, "alpine").restart == policy
    assert RestartPolicy.parse(str(policy)) == policy  # it prints as Docker spells it


def test_empty_restart_policy_is_no() -> None:
    """Docker's daemon reads ``--restart ""`` as no restart."""
    assert parse_restart("") == RestartPolicy()
    assert config("--restart", "", "alpine").restart == RestartPolicy(RestartName.NO)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("sometimes", "invalid restart policy 'sometimes'"),
        ("On-Failure", "invalid restart policy 'On-Failure'"),
        ("always:3", "only on-failure takes a count"),
        ("unless-stopped:1", "only on-failure takes a count"),
        ("no:1", "only on-failure takes a count"),
        ("on-failure:x", "invalid restart policy 'on-failure:x'"),
        ("on-failure:-1", "invalid restart policy 'on-failure:-1'"),
    ],
)
def test_restart_flag_errors(spec: str, why: str) -> None:
    error = invalid("--restart", spec, "alpine")
    assert why in error.message


def test_restart_error_lists_the_policies() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_restart("maybe")
    assert caught.value.hint == "use no, always, unless-stopped or on-failure[:N]"


# --- resources -------------------------------------------------------------------------------


def test_memory_and_swap() -> None:
    c = config("-m", "512m", "--memory-swap", "1g", "alpine")
    assert (c.resources.memory, c.resources.memory_swap) == (512 * MIB, GIB)
    c = config("--memory=1.5g", "--memory-swap", "-1", "alpine")
    assert (c.resources.memory, c.resources.memory_swap) == (GIB + GIB // 2, -1)
    c = config("--memory", "268435456", "--memory-swap=-1", "alpine")
    assert (c.resources.memory, c.resources.memory_swap) == (256 * MIB, -1)


def test_bad_memory_names_the_flag() -> None:
    assert invalid("-m", "lots", "alpine").message == "invalid memory: 'lots'"
    assert invalid("-m", "1g", "--memory-swap", "2x", "alpine").message == "invalid memory-swap: '2x'"


def test_cpus_shares_pids() -> None:
    c = config("--cpus", "1.5", "-c", "512", "--pids-limit", "100", "alpine")
    assert (c.resources.cpus, c.resources.cpu_shares, c.resources.pids_limit) == (1.5, 512, 100)
    assert config("--pids-limit", "-1", "alpine").resources.pids_limit == -1
    assert config("--cpu-shares=2", "alpine").resources.cpu_shares == 2
    r = config("alpine").resources
    assert (r.memory, r.memory_swap, r.cpus, r.cpu_shares, r.pids_limit) == (None,) * 5


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--cpus", "lots"], "invalid float value: 'lots'"),
        (["--cpu-shares", "1.5"], "invalid int value: '1.5'"),
        (["--pids-limit", "many"], "invalid int value: 'many'"),
        (["--stop-timeout", "10s"], "invalid int value: '10s'"),
        (["--health-retries", "x"], "invalid int value: 'x'"),
    ],
)
def test_numbers_are_checked_by_the_parser(argv: list[str], why: str) -> None:
    with pytest.raises(UsageError, match=why):
        parse(*argv, "alpine")


# --- health checks ---------------------------------------------------------------------------


def test_health_cmd_with_all_timings() -> None:
    c = config(
        "--health-cmd",
        "curl -f http://localhost/ || exit 1",
        "--health-interval",
        "30s",
        "--health-timeout",
        "5s",
        "--health-retries",
        "3",
        "--health-start-period",
        "1m",
        "--health-start-interval",
        "500ms",
        "alpine",
    )
    assert c.healthcheck == HealthConfig(
        ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
        interval=30.0,
        timeout=5.0,
        retries=3,
        start_period=60.0,
        start_interval=0.5,
    )
    assert c.no_healthcheck is False


def test_health_cmd_alone_uses_defaults() -> None:
    assert config("--health-cmd", "true", "alpine").healthcheck == HealthConfig(["CMD-SHELL", "true"])


def test_no_healthcheck() -> None:
    c = config("--no-healthcheck", "alpine")
    assert c.no_healthcheck is True
    assert c.healthcheck is None


@pytest.mark.parametrize(
    "flag", ["--health-interval", "--health-timeout", "--health-start-period", "--health-start-interval"]
)
def test_bad_health_duration(flag: str) -> None:
    error = invalid("--health-cmd", "true", flag, "5", "alpine")
    assert error.message == "invalid duration: '5'"


def test_no_healthcheck_conflicts_with_health_options() -> None:
    """docker/cli: ``--no-healthcheck conflicts with --health-* options``."""
    error = invalid("--no-healthcheck", "--health-cmd", "true", "alpine")
    assert "--no-healthcheck" in error.message


def test_health_timing_without_command_overrides_the_image_s() -> None:
    """docker/cli builds a HealthConfig (with no Test, so the image's command is kept) as soon
    as any --health-* option is given: ``--health-interval 5s`` alone changes the interval."""
    c = config("--health-interval", "5s", "--health-retries", "2", "alpine")
    assert c.healthcheck is not None
    assert (c.healthcheck.interval, c.healthcheck.retries) == (5.0, 2)
    assert c.healthcheck.test in ([], None)


def test_zero_health_timing_is_not_a_setting() -> None:
    """docker/cli counts an option as given only when it is not zero."""
    assert config("--health-interval", "0s", "alpine").healthcheck is None
    assert config("--no-healthcheck", "--health-retries", "0", "alpine").no_healthcheck is True


def test_negative_health_retries() -> None:
    assert "-1" in invalid("--health-retries", "-1", "alpine").message


IMAGE_HEALTH = {
    "Healthcheck": {"Test": ["CMD", "check"], "Interval": 30 * 10**9, "Timeout": 3 * 10**9, "Retries": 4}
}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], HealthConfig(["CMD", "check"], interval=30.0, timeout=3.0, retries=4)),
        (["--health-interval", "5s"], HealthConfig(["CMD", "check"], interval=5.0, timeout=3.0, retries=4)),
        (
            ["--health-cmd", "true"],
            HealthConfig(["CMD-SHELL", "true"], interval=30.0, timeout=3.0, retries=4),
        ),
        (["--no-healthcheck"], None),
    ],
)
def test_engine_merges_health_settings_over_the_image_s(
    argv: list[str], expected: HealthConfig | None
) -> None:
    """Docker's create merges field by field: what the container leaves unset is the image's."""
    assert effective_health(config(*argv, "alpine"), IMAGE_HEALTH) == expected


def test_engine_health_timing_alone_without_image_healthcheck_checks_nothing() -> None:
    assert effective_health(config("--health-interval", "5s", "alpine"), {}) is None
    assert effective_health(config("--health-cmd", "true", "alpine"), {}) == HealthConfig(
        ["CMD-SHELL", "true"]
    )


# --- stop ------------------------------------------------------------------------------------


def test_stop_signal_and_timeout() -> None:
    c = config("--stop-signal", "SIGINT", "--stop-timeout", "30", "alpine")
    assert (c.stop_signal, c.stop_timeout) == ("SIGINT", 30)
    c = config("alpine")
    assert (c.stop_signal, c.stop_timeout) == (None, None)
    assert config("--stop-signal=9", "alpine").stop_signal == "9"


# --- network ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "bridge"),
        (["--network", "default"], "bridge"),
        (["--network", "bridge"], "bridge"),
        (["--network", "none"], "none"),
        (["--network=host"], "host"),
        (["--net", "none"], "none"),
        (["--net=host"], "host"),
    ],
)
def test_network(argv: list[str], expected: str) -> None:
    assert str(config(*argv, "alpine").network) == expected


def test_other_network_names_are_left_for_the_engine_to_refuse() -> None:
    network = config("--network", "backend", "alpine").network
    assert network == NetworkMode(NetworkKind.NETWORK, "backend") and network.network == "backend"


def test_network_aliases_and_ip() -> None:
    c = config(
        "--network", "backend", "--network-alias", "db", "--network-alias", "pg", "--ip", "10.9.0.5", "alpine"
    )
    assert (c.network_aliases, c.ip) == (["db", "pg"], "10.9.0.5")


# --- security options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ([], False),
        (["no-new-privileges"], True),
        (["no-new-privileges=true"], True),
        (["no-new-privileges:true"], True),  # the old ':' separator
        (["no-new-privileges=false"], False),
        (["no-new-privileges", "no-new-privileges=false"], False),  # the last one wins
    ],
)
def test_no_new_privileges(opts: list[str], expected: bool) -> None:
    argv = [w for opt in opts for w in ("--security-opt", opt)]
    assert config(*argv, "alpine").no_new_privileges is expected


def test_no_new_privileges_bad_value_is_a_cove_error() -> None:
    assert "maybe" in invalid("--security-opt", "no-new-privileges=maybe", "alpine").message


def test_seccomp_unconfined() -> None:
    assert config("--security-opt", "seccomp=unconfined", "alpine").seccomp == "unconfined"
    assert config("--security-opt", "seccomp:unconfined", "alpine").seccomp == "unconfined"


def test_seccomp_profile_file(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    rule = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule]})
    profile.write_text(text)
    assert config("--security-opt", f"seccomp={profile}", "alpine").seccomp == text


def test_seccomp_profile_path_with_a_colon(tmp_path: Path) -> None:
    profile = tmp_path / "a:b.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert config("--security-opt", f"seccomp={profile}", "alpine").seccomp.startswith("{")


def test_seccomp_missing_profile_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    error = invalid("--security-opt", f"seccomp={missing}", "alpine")
    assert str(missing) in error.message


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "is not valid JSON"),
        ("[]", "has no defaultAction"),
        ('{"syscalls": []}', "has no defaultAction"),
    ],
)
def test_seccomp_bad_profile(tmp_path: Path, text: str, why: str) -> None:
    profile = tmp_path / "bad.json"
    profile.write_text(text)
    error = invalid("--security-opt", f"seccomp={profile}", "alpine")
    assert str(profile) in error.message and why in error.message


@pytest.mark.parametrize("opt", ["apparmor=unconfined", "label=disable", "label:disable"])
def test_security_opts_cove_accepts_and_ignores(opt: str) -> None:
    c = config("--security-opt", opt, "alpine")
    assert (c.seccomp, c.no_new_privileges) == ("default", False)


@pytest.mark.parametrize(
    "opt", ["bogus", "apparmor=docker-default", "label=type:svirt_t", "systempaths=unconfined"]
)
def test_unknown_security_opt(opt: str) -> None:
    error = invalid("--security-opt", opt, "alpine")
    assert error.message == f"invalid --security-opt: {opt!r}"
    assert error.hint is not None and "seccomp" in error.hint


# --- logging and platform --------------------------------------------------------------------


def test_log_opts() -> None:
    c = config("--log-opt", "max-size=10m", "--log-opt", "max-file=3", "alpine")
    assert (c.log_max_size, c.log_max_files) == (10 * MIB, 3)
    assert (config("alpine").log_max_size, config("alpine").log_max_files) == (None, None)


def test_log_opt_errors() -> None:
    assert invalid("--log-opt", "max-size=big", "alpine").message == "invalid log max-size: 'big'"
    error = invalid("--log-opt", "compress=true", "alpine")
    assert "unknown log opt 'compress'" in error.message


def test_log_opt_bad_max_file_is_a_cove_error() -> None:
    assert "many" in invalid("--log-opt", "max-file=many", "alpine").message
    assert invalid("--log-opt", "max-file=0", "alpine").message == "invalid log max-file: '0'"


def test_platform_of_this_host() -> None:
    arch = host_platform().architecture
    assert config("--platform", "linux", "alpine").image == "alpine"
    assert config("--platform", f"linux/{arch}", "alpine").image == "alpine"


def test_platform_of_another_host() -> None:
    other = "s390x" if host_platform().architecture != "s390x" else "amd64"
    error = invalid("--platform", f"linux/{other}", "alpine")
    assert f"linux/{other}" in error.message
    assert f"linux/{host_platform().architecture}" in error.message


# --- a whole command line --------------------------------------------------------------------


def test_a_realistic_command_line(tmp_path: Path) -> None:
    env_file = write(tmp_path, "web.env", "MODE=prod\n")
    argv = shlex.split(
        "-d --name web --restart on-failure:5 --init -e PORT=8080 --env-file ENV_FILE"
        " -v static:/srv/static:ro --mount type=tmpfs,dst=/cache,tmpfs-size=32m --read-only"
        " --cap-drop ALL --security-opt no-new-privileges -m 256m --cpus 0.5 --ulimit nofile=4096"
        " -u app -w /srv --health-cmd 'wget -qO- localhost:8080' --stop-signal SIGQUIT"
        " nginx:alpine nginx -g 'daemon off;'"
    )
    c = config(*[env_file if word == "ENV_FILE" else word for word in argv])
    assert c.image == "nginx:alpine"
    assert c.cmd == ["nginx", "-g", "daemon off;"]
    assert c.env == ["MODE=prod", "PORT=8080"]
    assert (c.restart, c.init) == (RestartPolicy(RestartName.ON_FAILURE, 5), True)
    assert c.mounts == [
        MountSpec(VOLUME, "/srv/static", "static", readonly=True),
        MountSpec(TMPFS, "/cache", tmpfs_size=32 * MIB),
    ]
    assert (c.read_only, c.cap_drop, c.no_new_privileges) == (True, ["ALL"], True)
    assert (c.resources.memory, c.resources.cpus) == (256 * MIB, 0.5)
    assert c.ulimits == [Ulimit("nofile", 4096, 4096)]
    assert (c.user, c.workdir, c.stop_signal) == ("app", "/srv", "SIGQUIT")
    assert c.healthcheck is not None and c.healthcheck.test == ["CMD-SHELL", "wget -qO- localhost:8080"]
    assert c.stdin_once is False
    # the config survives the database round trip
    assert ContainerConfig.from_json(json.loads(json.dumps(c.to_json()))) == c
