"""A Dockerfile error's excerpt, as BuildKit prints it (solver/errdefs Source.Print)."""

from __future__ import annotations

from cove.build.excerpt import excerpt, excerpt_of

LINES = [f"line{n}" for n in range(1, 10)]


def test_one_line_gets_two_lines_around() -> None:
    assert excerpt(LINES, 5) == (
        "Dockerfile:5\n--------------------\n"
        "   3 |     line3\n   4 |     line4\n   5 | >>> line5\n   6 |     line6\n   7 |     line7\n"
        "--------------------\n"
    )


def test_a_range_gets_one_line_around_and_every_line_marked() -> None:
    assert excerpt(LINES, 4, 6, name="build.Dockerfile") == (
        "build.Dockerfile:4\n--------------------\n"
        "   3 |     line3\n   4 | >>> line4\n   5 | >>> line5\n   6 | >>> line6\n   7 |     line7\n"
        "--------------------\n"
    )


def test_the_file_edges_clip_the_context() -> None:
    assert excerpt(LINES, 1).splitlines()[2:5] == ["   1 | >>> line1", "   2 |     line2", "   3 |     line3"]
    assert excerpt(LINES, 9).splitlines()[2:5] == ["   7 |     line7", "   8 |     line8", "   9 | >>> line9"]
    assert (
        excerpt(["only"], 1, 5)
        == "Dockerfile:1\n--------------------\n   1 | >>> only\n--------------------\n"
    )


def test_no_excerpt_for_the_file_as_a_whole() -> None:
    assert excerpt(LINES, 0) == "" and excerpt(LINES, 10) == ""
    assert excerpt_of("FROM a\r\nRUN x\r\n", 2).splitlines()[3] == "   2 | >>> RUN x"
