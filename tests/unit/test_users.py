"""``--user`` against a container's /etc/passwd and /etc/group (as runc's GetExecUser), read
inside the image's root and parsed defensively (a hostile image gets an error, not a hang)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cove.containers.users import MAX_FILE, MAX_ID, ResolvedUser, resolve_user
from cove.errors import InvalidArgument
from cove.host.inroot import Root

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


def resolve(spec: str | None, rootfs: Path) -> ResolvedUser:
    with Root(rootfs) as root:
        return resolve_user(spec, root)


# --- resolve_user ----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, "", "  ", "root", "0", "0:0", "root:root"])
def test_root_by_default_and_by_name_or_number(tmp_path: Path, spec: str | None) -> None:
    assert resolve(spec, make_root(tmp_path)) == ResolvedUser(0, 0, (0,), "/root")


def test_user_by_name_takes_gid_home_and_supplementary_groups(tmp_path: Path) -> None:
    user = resolve("alice", make_root(tmp_path))
    assert user.uid == 1000
    assert user.gid == 1000
    assert user.home == "/home/alice"
    # the primary group first (as Docker), then every group that lists alice, in file order
    assert user.additional_gids == (1000, 100, 10, 999)


def test_user_by_uid_in_passwd_is_the_same_user(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    assert resolve("1000", root) == resolve("alice", root)


def test_primary_group_is_not_repeated(tmp_path: Path) -> None:
    user = resolve("bob", make_root(tmp_path))
    assert (user.uid, user.gid, user.home) == (1001, 100, "/home/bob")
    assert user.additional_gids == (100, 10, 999)


def test_user_with_group_name(tmp_path: Path) -> None:
    user = resolve("alice:wheel", make_root(tmp_path))
    assert (user.uid, user.gid, user.home) == (1000, 10, "/home/alice")
    # an explicit group replaces the supplementary groups from /etc/group (runc)
    assert user.additional_gids == (10,)


def test_user_with_numeric_gid(tmp_path: Path) -> None:
    user = resolve("alice:4242", make_root(tmp_path))
    assert (user.uid, user.gid, user.additional_gids) == (1000, 4242, (4242,))


def test_uid_and_gid_numbers(tmp_path: Path) -> None:
    user = resolve("1000:1000", make_root(tmp_path))
    assert (user.uid, user.gid, user.home) == (1000, 1000, "/home/alice")


def test_uid_not_in_passwd_is_allowed_with_gid_0(tmp_path: Path) -> None:
    """As Docker: ``--user 12345`` runs as uid 12345, gid 0, HOME=/."""
    assert resolve("12345", make_root(tmp_path)) == ResolvedUser(12345, 0, (0,), "/")


def test_uid_gid_not_in_files(tmp_path: Path) -> None:
    assert resolve("12345:54321", make_root(tmp_path)) == ResolvedUser(12345, 54321, (54321,), "/")


def test_numeric_ids_need_no_files(tmp_path: Path) -> None:
    root = make_root(tmp_path, passwd=None, group=None)
    assert resolve("1000:1000", root) == ResolvedUser(1000, 1000, (1000,), "/")
    assert resolve("", root).uid == 0


def test_missing_user_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve("mallory", make_root(tmp_path))
    assert caught.value.message == "unable to find user mallory: no matching entries in passwd file"


def test_user_name_without_passwd_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unable to find user alice"):
        resolve("alice", make_root(tmp_path, passwd=None))


def test_user_name_without_etc_at_all(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(InvalidArgument, match="unable to find user www-data"):
        resolve("www-data", root)
    assert resolve("33", root) == ResolvedUser(33, 0, (0,), "/")


def test_missing_group_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve("alice:staff", make_root(tmp_path))
    assert caught.value.message == "unable to find group staff: no matching entries in group file"


def test_group_name_without_group_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unable to find group wheel"):
        resolve("alice:wheel", make_root(tmp_path, group=None))


def test_group_name_with_unknown_numeric_uid(tmp_path: Path) -> None:
    user = resolve("5000:wheel", make_root(tmp_path))
    assert (user.uid, user.gid, user.additional_gids, user.home) == (5000, 10, (10,), "/")


def test_names_are_matched_exactly(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    with pytest.raises(InvalidArgument):
        resolve("Alice", root)
    with pytest.raises(InvalidArgument):
        resolve("alic", root)


def test_commented_and_short_lines_are_ignored(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    with pytest.raises(InvalidArgument):
        resolve("broken", root)  # fewer than 7 fields
    with pytest.raises(InvalidArgument):
        resolve("# a comment line", root)
    with pytest.raises(InvalidArgument, match="unable to find group # comment"):
        resolve("alice:# comment", root)


def test_group_comment_lines_do_not_add_groups(tmp_path: Path) -> None:
    assert 5 not in resolve("alice", make_root(tmp_path)).additional_gids


def test_id_limits(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    assert resolve(str(MAX_ID), root).uid == MAX_ID
    with pytest.raises(InvalidArgument, match="out of range"):
        resolve(str(MAX_ID + 1), root)
    with pytest.raises(InvalidArgument, match="out of range"):
        resolve(f"0:{2**40}", root)


def test_passwd_through_an_absolute_symlink_stays_in_the_root(tmp_path: Path) -> None:
    """An image whose /etc/passwd links to /usr/lib/passwd: read the image's, not the host's."""
    root = make_root(tmp_path, passwd=None)
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "passwd").write_text("app:x:4321:4321::/srv/app:/bin/sh\n")
    (root / "etc" / "passwd").symlink_to("/usr/lib/passwd")
    assert resolve("app", root) == ResolvedUser(4321, 4321, (4321,), "/srv/app")


def test_passwd_linked_to_the_hosts_file_is_not_read(tmp_path: Path) -> None:
    root = make_root(tmp_path, passwd=None)
    (root / "etc" / "passwd").symlink_to("/etc/passwd")  # inside the root this is itself: a loop
    with pytest.raises(InvalidArgument):
        resolve("root", root)


def test_passwd_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    root = make_root(tmp_path, passwd=None)
    os.mkfifo(root / "etc" / "passwd")
    with pytest.raises(InvalidArgument) as caught:
        resolve("alice", root)  # (a read would block for ever: there is no writer)
    assert (
        caught.value.message
        == "cannot read the image's /etc/passwd: /etc/passwd is a FIFO, not a regular file"
    )


@pytest.mark.parametrize("kind", ["directory", "device", "huge"])
def test_other_unusable_group_files_are_refused(tmp_path: Path, kind: str) -> None:
    root = make_root(tmp_path, group=None)
    group = root / "etc" / "group"
    if kind == "directory":
        group.mkdir()
    elif kind == "device":
        os.symlink("/dev/zero", group)  # inside the root: the image's /dev/zero, which is not there
        (root / "dev").mkdir()
        os.mknod(root / "dev" / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    else:
        with open(group, "wb") as f:
            f.truncate(MAX_FILE + 1)
    with pytest.raises(InvalidArgument, match="cannot read the image's /etc/group"):
        resolve("alice", root)


def test_a_bad_id_field_names_the_file_and_the_line(tmp_path: Path) -> None:
    root = make_root(tmp_path, passwd=PASSWD + "mallory:x:abc:1000::/home/m:/bin/sh\n")
    with pytest.raises(InvalidArgument) as caught:
        resolve("mallory", root)
    assert caught.value.message == "the image's /etc/passwd line 8: the user ID 'abc' is not a number"
    # Lines the lookup does not use may be as broken as they like.
    assert resolve("alice", root).uid == 1000
    other = make_root(tmp_path / "2", passwd="eve:x:1:x1::/:/bin/sh\n")
    with pytest.raises(InvalidArgument, match="line 1: the group ID 'x1' is not a number"):
        resolve("eve", other)


def test_unicode_digits_are_not_numbers(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unable to find user"):
        resolve("\u0663", make_root(tmp_path))  # ARABIC-INDIC DIGIT THREE
