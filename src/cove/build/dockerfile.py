"""Dockerfile syntax: directives, comments, line continuations, flags, exec/shell forms, heredocs.

The parser turns the text into instructions with their line numbers and leaves meaning
(variable expansion, stages, what each instruction does) to the build. Its rules are
BuildKit's: parser directives (``# escape=``, ``# syntax=``) only before anything else;
comment and empty lines dropped, also inside a continuation; an instruction continues while
its line ends with the escape character; ``[...]`` that is a JSON array of strings is the
exec form, anything else the shell form; ``<<EOF`` (``<<-EOF`` strips leading tabs,
``<<"EOF"`` does not expand variables) takes the lines up to ``EOF`` for RUN, COPY and ADD.

Every error names its line: ``line 7: COPY needs at least two arguments``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from cove.errors import InvalidArgument

INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL "
    "STOPSIGNAL USER VOLUME WORKDIR".split()
)
FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "RUN": frozenset({"mount", "network", "security"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "exclude", "parents"}),
    "ADD": frozenset({"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
JSON_FORMS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
HEREDOCS = frozenset({"RUN", "COPY", "ADD"})
DIRECTIVES = frozenset({"escape", "syntax", "check"})
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(?:\"([^\"\s]+)\"|'([^'\s]+)'|([A-Za-z_][A-Za-z0-9_]*))")


class DockerfileError(InvalidArgument):
    def __init__(self, line: int, message: str, hint: str | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message, hint=hint)
        self.line = line


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str  # the lines, each ending with a newline
    expand: bool  # variables are expanded in it (the name was not quoted)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: RUN
    rest: str  # the arguments as written after the flags, continuation lines joined
    line: int  # where it starts (1-based)
    end_line: int
    flags: dict[str, list[str]] = field(default_factory=dict)  # --name=value, by name, in order
    json_args: list[str] | None = None  # the exec form's strings
    heredocs: list[Heredoc] = field(default_factory=list)
    original: str = ""  # the instruction as written (continuations joined)

    @property
    def exec_form(self) -> bool:
        return self.json_args is not None


@dataclass(frozen=True)
class Dockerfile:
    instructions: list[Instruction]
    escape: str = "\\"
    syntax: str | None = None
    warnings: list[str] = field(default_factory=list)


def _directives(lines: list[str]) -> tuple[dict[str, str], int]:
    """The parser directives at the top, and the index of the first line after them."""
    found: dict[str, str] = {}
    index = 0
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line.strip()) if line.strip().startswith("#") else None
        if match is None or match.group(1).lower() not in DIRECTIVES:
            return found, index
        name = match.group(1).lower()
        if name in found:
            raise DockerfileError(index + 1, f"only one {name} parser directive can be used")
        found[name] = match.group(2)
    return found, len(lines)


def _split_flags(keyword: str, rest: str, line: int) -> tuple[dict[str, list[str]], str]:
    flags: dict[str, list[str]] = {}
    allowed = FLAGS.get(keyword, frozenset())
    while rest.startswith("--"):
        token, _, remainder = rest.partition(" ")
        if token == "--":
            break
        name, eq, value = token[2:].partition("=")
        if name not in allowed:
            known = ", ".join(f"--{f}" for f in sorted(allowed)) or "none"
            raise DockerfileError(
                line, f"unknown flag for {keyword}: --{name}", hint=f"{keyword} takes: {known}"
            )
        flags.setdefault(name, []).append(value if eq else "true")
        rest = remainder.lstrip()
    return flags, rest


def _json_args(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def parse(text: str) -> Dockerfile:
    lines = text.replace("\r\n", "\n").split("\n")
    directives, start = _directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(1, f"invalid escape token {escape!r}: it must be \\ or `")
    warnings: list[str] = []
    instructions: list[Instruction] = []
    i = start
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        first = i + 1
        parts = [lines[i]]
        # A line ending with the escape character goes on, past comment and empty lines.
        while parts[-1].rstrip().endswith(escape):
            parts[-1] = parts[-1].rstrip()[: -len(escape)]
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                if not lines[i].strip():
                    warnings.append(f"line {i + 1}: empty continuation line")
                i += 1
            if i >= len(lines):
                break
            parts.append(lines[i])
        logical = " ".join(p.strip() for p in parts if p.strip()) if len(parts) > 1 else parts[0].strip()
        i += 1
        word, _, rest = logical.partition(" ")
        keyword = word.upper()
        if keyword not in INSTRUCTIONS:
            raise DockerfileError(first, f"unknown instruction: {word}")
        flags, rest = _split_flags(keyword, rest.strip(), first)
        heredocs: list[Heredoc] = []
        if keyword in HEREDOCS:
            for match in _HEREDOC.finditer(rest):
                chomp = match.group(1) == "-"
                name = match.group(2) or match.group(3) or match.group(4)
                content = []
                while True:
                    if i >= len(lines):
                        raise DockerfileError(
                            first, f"unterminated heredoc {name}: no line with {name} alone"
                        )
                    line = lines[i]
                    i += 1
                    if (line.lstrip("\t") if chomp else line) == name:
                        break
                    content.append((line.lstrip("\t") if chomp else line) + "\n")
                heredocs.append(Heredoc(name, "".join(content), expand=match.group(4) is not None))
        json_args = _json_args(rest) if keyword in JSON_FORMS and not heredocs else None
        instruction = Instruction(
            keyword=keyword,
            rest=rest,
            line=first,
            end_line=i,
            flags=flags,
            json_args=json_args,
            heredocs=heredocs,
            original=logical,
        )
        _check(instruction)
        instructions.append(instruction)
    if not instructions:
        raise DockerfileError(0, "the Dockerfile has no instructions", hint="it needs at least a FROM")
    first_real = next((x for x in instructions if x.keyword != "ARG"), None)
    if first_real is None or first_real.keyword != "FROM":
        where = first_real.line if first_real else instructions[-1].line
        raise DockerfileError(where, "the first instruction must be FROM (only ARG may come before it)")
    return Dockerfile(instructions, escape, directives.get("syntax"), warnings)


def _check(x: Instruction) -> None:
    """The argument counts and forms each instruction needs (Docker's rules)."""
    words = x.rest.split()
    k, n = x.keyword, x.line
    if k in ("COPY", "ADD"):
        inline = [w for w in words if _HEREDOC.fullmatch(w)]
        count = len(x.json_args) if x.json_args is not None else len(words) - len(inline) + len(x.heredocs)
        if count < 2:
            raise DockerfileError(n, f"{k} needs at least two arguments: sources and a destination")
        return
    if not words and not x.heredocs and k not in ("CMD", "ENTRYPOINT"):
        raise DockerfileError(n, f"{k} needs an argument")
    if k == "FROM":
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            raise DockerfileError(
                n, "FROM takes an image and optionally a stage name: FROM image[:tag] [AS name]"
            )
    elif k in ("USER", "STOPSIGNAL", "ARG") and len(words) != 1:
        what = "NAME or NAME=default" if k == "ARG" else "exactly one argument"
        raise DockerfileError(n, f"{k} takes {what}")
    elif k == "SHELL" and x.json_args is None:
        raise DockerfileError(n, 'SHELL needs the JSON form: SHELL ["executable", "parameters"]')
    elif k == "ONBUILD":
        inner = words[0].upper()
        if inner in ("ONBUILD", "FROM", "MAINTAINER"):
            raise DockerfileError(n, f"{inner} is not allowed as an ONBUILD trigger")
        if inner not in INSTRUCTIONS:
            raise DockerfileError(n, f"unknown instruction in ONBUILD: {words[0]}")
    elif k == "HEALTHCHECK":
        kind = words[0].upper()
        if kind not in ("NONE", "CMD"):
            raise DockerfileError(n, "HEALTHCHECK takes CMD COMMAND or NONE")
        if kind == "NONE" and len(words) > 1:
            raise DockerfileError(n, "HEALTHCHECK NONE takes no other arguments")
        if kind == "CMD" and len(words) == 1:
            raise DockerfileError(n, "HEALTHCHECK CMD needs a command")
    elif k == "LABEL" and "=" not in words[0]:
        raise DockerfileError(n, "LABEL needs KEY=VALUE")
    elif k == "ENV" and "=" not in words[0] and len(words) < 2:
        raise DockerfileError(n, "ENV needs KEY=VALUE (or KEY VALUE)")
