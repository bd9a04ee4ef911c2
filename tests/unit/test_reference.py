import pytest

from cove.errors import InvalidReference
from cove.oci.reference import parse_reference, reference_matches

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/team/app:dev", "localhost:5000/team/app:dev", "localhost:5000/team/app:dev"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"),
        ("quay.io/org/sub/app", "quay.io/org/sub/app:latest", "quay.io/org/sub/app:latest"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}", f"busybox:1@{DIGEST}"),
        ("a.b-c/d__e", "a.b-c/d__e:latest", "a.b-c/d__e:latest"),
        ("my_app-2", "docker.io/library/my_app-2:latest", "my_app-2:latest"),
    ],
)
def test_normalises_like_docker(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("Busybox", "lowercase"),
        ("busybox:", "invalid tag"),
        ("busybox:-x", "invalid tag"),
        ("bad__-name", "invalid repository name"),
        ("busybox@sha256:1234", "invalid digest"),
        ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("-lead", "invalid repository name"),
        ("a" * 256, "longer than 255"),
        ("host:5000/", "invalid repository name"),
    ],
)
def test_rejects_bad_references(text: str, why: str) -> None:
    with pytest.raises(InvalidReference, match=why):
        parse_reference(text)


def test_untagged_stays_untagged_when_asked() -> None:
    ref = parse_reference("busybox", default_tag=False)
    assert ref.tag is None
    assert ref.familiar() == "busybox"
    assert str(ref.tagged_or_latest()) == "docker.io/library/busybox:latest"


def test_uppercase_registry_is_a_domain() -> None:
    # Docker treats a first component with uppercase letters as a registry host.
    assert parse_reference("Registry/app").domain == "Registry"


@pytest.mark.parametrize(
    ("ref", "pattern", "matches"),
    [
        ("busybox:latest", "busybox", True),
        ("busybox:latest", "busy*", True),
        ("busybox:latest", "busybox:lat*", True),
        ("busybox:latest", "busybox:1*", False),
        ("user/app:v1", "user/*", True),
        ("user/app:v1", "*", False),  # * does not cross '/', as in Go's path.Match
        ("user/app:v1", "*/*", True),
        ("localhost:5000/app:v1", "localhost:5000/app", True),
        ("busybox:latest", "docker.io/library/busybox", True),
        ("busybox:latest", "b[a-u]sybox", True),
        ("busybox:latest", "b[!u]sybox", False),
    ],
)
def test_reference_filter_globs(ref: str, pattern: str, matches: bool) -> None:
    assert reference_matches(parse_reference(ref), pattern) is matches
