"""``--user`` against a container's /etc/passwd and /etc/group (as runc's GetExecUser), and
resolving paths inside a root filesystem without leaving it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cove.containers.paths import read_in_root, resolve_in_root
from cove.containers.users import MAX_ID, ResolvedUser, resolve_user
from cove.errors import InvalidArgument

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment line
alice:x:1000:1000:Alice:/home/alice:/bin/bash
bob:x:1001:100::/home/bob:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken:x:2000
"""

GROUP = """\
root:x:0:
daemon:x:1:
users:x:100:alice
alice:x:1000:
wheel:x:10:alice,bob
docker:x:999:bob,alice
# comment:x:5:alice
nogroup:x:65534:
"""


def make_root(tmp_path: Path, passwd: str | None = PASSWD, group: str | None = GROUP) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    if passwd is not None:
        (root / "etc" / "passwd").write_text(passwd)
    if group is not None:
        (root / "etc" / "group").write_text(group)
    return root


# --- resolve_user ----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, "", "  ", "root", "0", "0:0", "root:root"])
def test_root_by_default_and_by_name_or_number(tmp_path: Path, spec: str | None) -> None:
    assert resolve_user(spec, make_root(tmp_path)) == ResolvedUser(0, 0, (0,), "/root")


def test_user_by_name_takes_gid_home_and_supplementary_groups(tmp_path: Path) -> None:
    user = resolve_user("alice", make_root(tmp_path))
    assert user.uid == 1000
    assert user.gid == 1000
    assert user.home == "/home/alice"
    # the primary group first (as Docker), then every group that lists alice, in file order
    assert user.additional_gids == (1000, 100, 10, 999)


def test_user_by_uid_in_passwd_is_the_same_user(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    assert resolve_user("1000", root) == resolve_user("alice", root)


def test_primary_group_is_not_repeated(tmp_path: Path) -> None:
    user = resolve_user("bob", make_root(tmp_path))
    assert (user.uid, user.gid, user.home) == (1001, 100, "/home/bob")
    assert user.additional_gids == (100, 10, 999)


def test_user_with_group_name(tmp_path: Path) -> None:
    user = resolve_user("alice:wheel", make_root(tmp_path))
    assert (user.uid, user.gid, user.home) == (1000, 10, "/home/alice")
    # an explicit group replaces the supplementary groups from /etc/group (runc)
    assert user.additional_gids == (10,)


def test_user_with_numeric_gid(tmp_path: Path) -> None:
    user = resolve_user("alice:4242", make_root(tmp_path))
    assert (user.uid, user.gid, user.additional_gids) == (1000, 4242, (4242,))


def test_uid_and_gid_numbers(tmp_path: Path) -> None:
    user = resolve_user("1000:1000", make_root(tmp_path))
    assert (user.uid, user.gid, user.home) == (1000, 1000, "/home/alice")


def test_uid_not_in_passwd_is_allowed_with_gid_0(tmp_path: Path) -> None:
    """As Docker: ``--user 12345`` runs as uid 12345, gid 0, HOME=/."""
    assert resolve_user("12345", make_root(tmp_path)) == ResolvedUser(12345, 0, (0,), "/")


def test_uid_gid_not_in_files(tmp_path: Path) -> None:
    assert resolve_user("12345:54321", make_root(tmp_path)) == ResolvedUser(12345, 54321, (54321,), "/")


def test_numeric_ids_need_no_files(tmp_path: Path) -> None:
    root = make_root(tmp_path, passwd=None, group=None)
    assert resolve_user("1000:1000", root) == ResolvedUser(1000, 1000, (1000,), "/")
    assert resolve_user("", root).uid == 0


def test_missing_user_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_user("mallory", make_root(tmp_path))
    assert caught.value.message == "unable to find user mallory: no matching entries in passwd file"


def test_user_name_without_passwd_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unable to find user alice"):
        resolve_user("alice", make_root(tmp_path, passwd=None))


def test_user_name_without_etc_at_all(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(InvalidArgument, match="unable to find user www-data"):
        resolve_user("www-data", root)
    assert resolve_user("33", root) == ResolvedUser(33, 0, (0,), "/")


def test_missing_group_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_user("alice:staff", make_root(tmp_path))
    assert caught.value.message == "unable to find group staff: no matching entries in group file"


def test_group_name_without_group_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unable to find group wheel"):
        resolve_user("alice:wheel", make_root(tmp_path, group=None))


def test_group_name_with_unknown_numeric_uid(tmp_path: Path) -> None:
    user = resolve_user("5000:wheel", make_root(tmp_path))
    assert (user.uid, user.gid, user.additional_gids, user.home) == (5000, 10, (10,), "/")


def test_names_are_matched_exactly(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    with pytest.raises(InvalidArgument):
        resolve_user("Alice", root)
    with pytest.raises(InvalidArgument):
        resolve_user("alic", root)


def test_commented_and_short_lines_are_ignored(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    with pytest.raises(InvalidArgument):
        resolve_user("broken", root)  # fewer than 7 fields
    with pytest.raises(InvalidArgument):
        resolve_user("# a comment line", root)
    with pytest.raises(InvalidArgument, match="unable to find group # comment"):
        resolve_user("alice:# comment", root)


def test_group_comment_lines_do_not_add_groups(tmp_path: Path) -> None:
    assert 5 not in resolve_user("alice", make_root(tmp_path)).additional_gids


def test_id_limits(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    assert resolve_user(str(MAX_ID), root).uid == MAX_ID
    with pytest.raises(InvalidArgument, match="out of range"):
        resolve_user(str(MAX_ID + 1), root)
    with pytest.raises(InvalidArgument, match="out of range"):
        resolve_user(f"0:{2**40}", root)


def test_passwd_through_an_absolute_symlink_stays_in_the_root(tmp_path: Path) -> None:
    """An image whose /etc/passwd links to /usr/lib/passwd: read the image's, not the host's."""
    root = make_root(tmp_path, passwd=None)
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "passwd").write_text("app:x:4321:4321::/srv/app:/bin/sh\n")
    (root / "etc" / "passwd").symlink_to("/usr/lib/passwd")
    assert resolve_user("app", root) == ResolvedUser(4321, 4321, (4321,), "/srv/app")


def test_passwd_linked_to_the_hosts_file_is_not_read(tmp_path: Path) -> None:
    root = make_root(tmp_path, passwd=None)
    (root / "etc" / "passwd").symlink_to("/etc/passwd")  # inside the root this is itself: a loop
    with pytest.raises(InvalidArgument):
        resolve_user("root", root)


# --- resolve_in_root -------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "os-release").write_text("ID=test\n")
    (root / "etc").mkdir()
    (root / "etc" / "os-release").symlink_to("../usr/lib/os-release")
    (root / "etc" / "abs").symlink_to("/usr/lib/os-release")
    (root / "etc" / "escape").symlink_to("../../../../../etc/hostname")
    (root / "etc" / "host").symlink_to("/etc/hostname")
    (root / "lib").symlink_to("usr/lib")
    (root / "loop-a").symlink_to("loop-b")
    (root / "loop-b").symlink_to("loop-a")
    (root / "dir-link").symlink_to("/usr")
    return root


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ""),
        ("", ""),
        ("/usr/lib/os-release", "usr/lib/os-release"),
        ("usr/lib/os-release", "usr/lib/os-release"),
        ("//usr///lib/./os-release", "usr/lib/os-release"),
        ("/etc/os-release", "usr/lib/os-release"),  # relative link
        ("/etc/abs", "usr/lib/os-release"),  # absolute link: from the container's root
        ("/lib/os-release", "usr/lib/os-release"),  # a linked directory
        ("/dir-link/lib", "usr/lib"),
        ("/dir-link/../etc", "etc"),  # .. after a link goes up from where the link led
        ("/lib/../bin", "usr/bin"),
        ("/../../../etc/passwd", "etc/passwd"),  # .. at the root stays at the root
        ("/usr/../../..", ""),
        ("/etc/escape", "etc/hostname"),  # a relative link cannot climb out
        ("/etc/host", "etc/hostname"),  # an absolute link cannot point at the host
        ("/missing/dir/file", "missing/dir/file"),
        ("/usr/lib/os-release/x", "usr/lib/os-release/x"),  # through a file: left as is
    ],
)
def test_resolve_in_root(tree: Path, path: str, expected: str) -> None:
    resolved = resolve_in_root(tree, path)
    assert resolved == tree.joinpath(*[p for p in expected.split("/") if p])
    assert resolved == tree or tree in resolved.parents


def test_resolve_in_root_can_keep_the_last_link(tree: Path) -> None:
    assert resolve_in_root(tree, "/etc/abs", follow_last=False) == tree / "etc" / "abs"
    assert resolve_in_root(tree, "/lib", follow_last=False) == tree / "lib"
    # links before the last component are still followed
    assert resolve_in_root(tree, "/lib/os-release", follow_last=False) == tree / "usr/lib/os-release"


def test_resolve_in_root_link_loop_is_an_error(tree: Path) -> None:
    with pytest.raises(InvalidArgument, match="too many levels of symbolic links in /loop-a"):
        resolve_in_root(tree, "/loop-a")


def test_resolve_in_root_self_link_is_an_error(tree: Path) -> None:
    (tree / "self").symlink_to("/self")
    with pytest.raises(InvalidArgument, match="too many levels"):
        resolve_in_root(tree, "/self/x")


def test_resolve_in_root_follows_a_long_chain(tree: Path) -> None:
    previous = "usr/lib/os-release"
    for i in range(30):
        (tree / f"chain{i}").symlink_to(previous)
        previous = f"chain{i}"
    assert resolve_in_root(tree, f"/{previous}") == tree / "usr/lib/os-release"


def test_resolve_in_root_root_need_not_exist(tmp_path: Path) -> None:
    root = tmp_path / "nothing-here"
    assert resolve_in_root(root, "/a/../b/c") == root / "b" / "c"


def test_read_in_root(tree: Path) -> None:
    assert read_in_root(tree, "/etc/os-release") == "ID=test\n"
    assert read_in_root(tree, "/etc/abs") == "ID=test\n"
    assert read_in_root(tree, "/etc/missing") is None
    assert read_in_root(tree, "/usr") is None  # a directory
    assert read_in_root(tree, "/usr/lib/os-release/x") is None  # through a file


def test_read_in_root_never_reads_the_host(tree: Path) -> None:
    assert os.path.exists("/etc/hostname") or os.path.exists("/etc/passwd")
    assert read_in_root(tree, "/etc/host") is None
    assert read_in_root(tree, "/etc/escape") is None
    (tree / "etc" / "pw").symlink_to("../../../../../../../../etc/passwd")
    assert read_in_root(tree, "/etc/pw") is None
