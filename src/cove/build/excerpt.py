"""A Dockerfile error shown as BuildKit shows it: the file and line, the lines around the
failing range with that range marked, then the message.

    Dockerfile:3
    --------------------
       1 |     FROM busybox
       2 |     WORKDIR /app
       3 | >>> COPY --form=build /out /out
       4 |     RUN make
    --------------------

Context: two lines either side of a one-line range, one either side of a longer one.
"""

from __future__ import annotations

from collections.abc import Sequence

RULE = "--------------------"


def excerpt(lines: Sequence[str], line: int, end_line: int | None = None, *, name: str = "Dockerfile") -> str:
    """The excerpt for lines ``line``..``end_line`` (1-based) of ``lines``; "" when the range
    is not in the file (an error about the file as a whole)."""
    if line < 1 or line > len(lines):
        return ""
    last = min(max(end_line or line, line), len(lines))
    context = 2 if last == line else 1
    first_shown, last_shown = max(1, line - context), min(len(lines), last + context)
    body = "".join(
        f" {n:3d} | {'>>>' if line <= n <= last else '   '} {lines[n - 1]}\n"
        for n in range(first_shown, last_shown + 1)
    )
    return f"{name}:{line}\n{RULE}\n{body}{RULE}\n"


def excerpt_of(text: str, line: int, end_line: int | None = None, *, name: str = "Dockerfile") -> str:
    """``excerpt`` over a Dockerfile's text (split as BuildKit splits it, on newlines)."""
    return excerpt(text.replace("\r\n", "\n").split("\n"), line, end_line, name=name)
