"""RUN --mount values: BuildKit's keys, defaults and refusals; variables checked once expanded."""

from __future__ import annotations

import pytest

from cove.build.instructions.flags import FlagError
from cove.build.instructions.mounts import parse_mount


def test_defaults_by_type() -> None:
    assert parse_mount("target=/x").type == "bind" and parse_mount("target=/x").readonly
    assert not parse_mount("type=cache,target=/x").readonly
    assert not parse_mount("type=tmpfs,target=/x").readonly
    assert parse_mount("type=secret,id=a").readonly
    assert not parse_mount("type=bind,target=/x,rw").readonly
    assert not parse_mount("type=bind,target=/x,readonly=false").readonly
    assert parse_mount("type=tmpfs,target=/t,size=64m").size == 64 << 20
    cache = parse_mount("type=cache,target=/c,id=pip,sharing=LOCKED,mode=0700,uid=1000,gid=1000")
    assert (cache.id, cache.sharing, cache.mode, cache.uid, cache.gid) == ("pip", "locked", 0o700, 1000, 1000)
    assert parse_mount('type=bind,"source=a,b",target=/x').source == "a,b"  # CSV quoting


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("type=nfs,target=/x", "unsupported mount type 'nfs'"),
        ("type=cache,target=/x,colour=blue", "unexpected key 'colour' in 'colour=blue'"),
        ("type=cache,target=/x,sharing=all", "unsupported sharing value 'all'"),
        ("type=bind,target=/x,required", "unexpected key 'required' for mount type 'bind'"),
        ("type=bind,target=/x,size=1m", "unexpected key 'size' for mount type 'bind'"),
        ("type=tmpfs,target=/x,size=lots", "invalid value for size: lots"),
        ("type=bind,target=/x,mode=0700", "mode not allowed for 'bind' type mounts"),
        ("type=cache,target=/x,uid=-1", "invalid value -1 for uid"),
        ("type=bind,target=/x,readonly=maybe", "invalid value for readonly: maybe"),
        ("type=secret,from=build,id=a", "secret mount should not have a from"),
        ("type=secret", "invalid secret mount. one of source, target required"),
        ("type=secret,source=a,id=b", "both source and id can't be set"),
        ("type=bind,target=/x,sharing=shared", "invalid cache sharing set for bind mount"),
        ("type=bind,target", "invalid field 'target' must be a key=value pair"),
        ("from=$STAGE,target=/x", "'from' doesn't support variable expansion"),
        ('type=bind,"target=/x', "failed to parse csv mounts"),
    ],
)
def test_refused(spec: str, error: str) -> None:
    with pytest.raises(FlagError, match=error.replace("(", r"\(").replace(".", r"\.")):
        parse_mount(spec)


def test_values_with_variables_wait_for_their_expansion() -> None:
    mount = parse_mount("type=$KIND,target=$DIR")
    assert mount.deferred and mount.target == "$DIR"  # not checked yet: $KIND may be anything
    env = {"KIND": "cache", "DIR": "/root/.cache"}
    expanded = mount.expanded(lambda text: text.replace("$KIND", env["KIND"]).replace("$DIR", env["DIR"]))
    assert (expanded.type, expanded.target, expanded.readonly, expanded.deferred) == (
        "cache",
        "/root/.cache",
        False,
        False,
    )
    with pytest.raises(FlagError, match="unsupported mount type 'nfs'"):
        mount.expanded(lambda text: "nfs" if text == "$KIND" else text)
