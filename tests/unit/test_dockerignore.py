""".dockerignore cases from Docker's documentation and its pattern matcher."""

from __future__ import annotations

import pytest

from cove.build.dockerignore import Matcher
from cove.errors import InvalidArgument

DOCS_EXAMPLE = """\
# comment
*/temp*
*/*/temp*
temp?
"""


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (DOCS_EXAMPLE, "somedir/temporary.txt", True),
        (DOCS_EXAMPLE, "somedir/temp", True),
        (DOCS_EXAMPLE, "somedir/subdir/temporary.txt", True),
        (DOCS_EXAMPLE, "tempa", True),
        (DOCS_EXAMPLE, "tempab", False),
        (DOCS_EXAMPLE, "temporary.txt", False),
        (DOCS_EXAMPLE, "a/b/c/temp.txt", False),  # three levels: neither pattern
        ("**/*.go", "main.go", True),
        ("**/*.go", "cmd/tool/main.go", True),
        ("**/*.go", "main.goo", False),
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "CHANGES.md", True),
        ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
        ("*.md\n!README*.md\nREADME-secret.md", "README-public.md", False),
        ("node_modules", "node_modules/pkg/index.js", True),  # a directory takes its contents
        ("/build/", "build/out.o", True),
        ("./build/../dist", "dist/app", True),
        ("docs/**", "docs/a/b.txt", True),
        ("docs/**", "docs", False),  # its contents, not the directory itself (as moby's matcher)
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("file[0-9].txt", "file7.txt", True),
        ("file[!0-9].txt", "filex.txt", True),
        ("file[!0-9].txt", "file7.txt", False),
        ("\\*.txt", "*.txt", True),
        ("\\*.txt", "a.txt", False),
        ("*", "Dockerfile", True),
        ("*\n!Dockerfile", "Dockerfile", False),
        ("", "anything", False),
    ],
)
def test_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert Matcher.from_text(patterns).excluded(path) is excluded


def test_walk_hints_and_errors() -> None:
    matcher = Matcher.from_text("vendor\n!vendor/keep")
    assert matcher.excluded("vendor/other") and not matcher.excluded("vendor/keep")
    assert matcher.may_hold_included("vendor")  # its walk must go on, for vendor/keep
    assert not Matcher.from_text("vendor").may_hold_included("vendor")
    with pytest.raises(InvalidArgument, match="unclosed"):
        Matcher.from_text("file[0-9")
