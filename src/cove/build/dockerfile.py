"""Dockerfile syntax: the text turned into BuildKit's syntax tree, one ``Node`` per instruction.

The rules are BuildKit's parser's, so that a Dockerfile means in cove what it means there:

- Parser directives (``# syntax=``, ``# escape=``, ``# check=``) only at the very top: the first
  line that is not one (an instruction, an empty line, any other comment) ends them, and a
  directive after it is a plain comment. A UTF-8 byte-order mark before the first line is dropped.
- An instruction goes on while its line ends with the escape character (``\\`` or `````), unless
  that character is itself escaped (``\\\\``). Continuation lines are joined as written, without a
  space and without stripping their indentation (``echo good\\`` + ``bye`` is ``echo goodbye``);
  comment lines inside are skipped, and empty ones too, with a warning.
- The keyword is the first word (any whitespace ends it), then come the ``--flags``, then the
  arguments, which each instruction splits its own way (JSON array or shell form, ``name=value``
  pairs, single string...); what comes out is the ``args`` of the node, the chain BuildKit's
  ``Node.Dump`` prints.
- RUN, COPY and ADD (also as an ONBUILD trigger) in shell form take heredocs: the words of the
  line are lexed as the shell lexer does and each ``<<NAME`` word takes the following lines up to
  ``NAME``, in order.

Meaning (what an instruction does, whether its flags exist, variable expansion) is left to the
layers above: the typed instructions of ``build.instructions``.

Where cove is stricter, on purpose: a file over 16 MiB, a line over 64 KiB (BuildKit's bound too),
text that is not UTF-8 and ONBUILD triggers nested more than 8 deep are refused; flags and the
HEALTHCHECK type are split on characters, where BuildKit looks at bytes (so a byte of a UTF-8
character, such as the 0xA0 in "à", never counts as a blank).

Every error names its line: ``line 7: COPY needs at least two arguments``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from cove.build.expand import ExpansionError, ShellLex
from cove.errors import InvalidArgument

# Bounds on untrusted input: BuildKit refuses lines over 64 KiB too (its line scanner's limit).
MAX_DOCKERFILE_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 65535
MAX_ONBUILD_DEPTH = 8  # ONBUILD ONBUILD ... (the instruction layer refuses any nesting anyway)

INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL "
    "STOPSIGNAL USER VOLUME WORKDIR".split()
)
DIRECTIVES = frozenset({"escape", "syntax", "check"})
HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "RUN": frozenset({"mount", "network", "security"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "exclude", "parents"}),
    "ADD": frozenset({"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
JSON_FORMS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})

# Go's unicode.IsSpace, which BuildKit's trimming and word splitting use (Python's str.isspace
# also takes the \x1c-\x1f separators).
_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
_BLANKS = re.compile(r"[\t\v\f\r ]+")  # what separates the keyword and whitespace-split arguments
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
_HEREDOC_WORD = re.compile(r"(\d*)<<(-?)[\t\n\f\r ]*([^<]*)\Z")
_BOM = "\ufeff"


class DockerfileError(InvalidArgument):
    def __init__(
        self, line: int, message: str, hint: str | None = None, *, end_line: int | None = None
    ) -> None:
        super().__init__(f"line {line}: {message}" if line else message, hint=hint)
        self.line = line
        self.end_line = max(line, end_line or line)
        self.reason = message  # without the line

    def at(self, line: int, end_line: int) -> DockerfileError:
        """This error placed on the lines it is about (the parts of a line do not know them)."""
        return DockerfileError(line, self.reason, self.hint, end_line=end_line)


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str  # the body lines, each ending "\n" (leading tabs removed when chomp)
    expand: bool  # the name was not quoted: "$" is expanded in the content
    chomp: bool = False  # <<-
    fd: int | None = None  # 3<<EOF: the file descriptor, else None


@dataclass(frozen=True)
class Node:
    keyword: str  # upper case: "RUN"
    args: tuple[str, ...]  # BuildKit's Next chain: what its Node.Dump prints after the flags
    flags: tuple[str, ...]  # the flags as written (quotes and escapes resolved), in order
    json: bool  # args came from a JSON array (exec form)
    heredocs: tuple[Heredoc, ...]  # (an ONBUILD trigger's are on the ONBUILD node, as BuildKit has it)
    original: str  # the whole instruction as BuildKit's Original (continuations joined)
    line: int  # first line, 1-based
    end_line: int  # last line (heredoc bodies included)
    trigger: Node | None = None  # ONBUILD: the instruction it holds
    comments: tuple[str, ...] = ()  # comment lines right before it


@dataclass(frozen=True)
class ParseWarning:
    line: int
    message: str


@dataclass(frozen=True)
class Syntax:
    nodes: tuple[Node, ...]
    escape: str  # "\\" or "`"
    directives: Mapping[str, str]  # "syntax", "escape", "check" as given
    warnings: tuple[ParseWarning, ...]
    source: tuple[str, ...]  # the file's lines, without their line endings


# -- the file, line by line --------------------------------------------------------------------


def parse_syntax(source: str | bytes) -> Syntax:
    text = _decode(source).removeprefix(_BOM)
    *ended, last = text.split("\n")
    raw = [line + "\n" for line in ended] + ([last] if last else [])
    for number, line in enumerate(raw, 1):
        content = line.removesuffix("\n")
        if len(content) > MAX_LINE_BYTES // 4 and _size(content) > MAX_LINE_BYTES:
            raise DockerfileError(
                number, f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}"
            )
    return _Parser(raw).run(tuple(_trim_newline(line) for line in raw))


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _decode(source: str | bytes) -> str:
    size = len(source)
    if isinstance(source, str) and size > MAX_DOCKERFILE_BYTES // 4:
        size = _size(source)
    if size > MAX_DOCKERFILE_BYTES:
        raise DockerfileError(
            0, f"the Dockerfile is {size} bytes: more than the {MAX_DOCKERFILE_BYTES} allowed"
        )
    if isinstance(source, str):
        return source
    try:
        return source.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = source.count(b"\n", 0, exc.start) + 1
        raise DockerfileError(line, "the Dockerfile is not valid UTF-8") from None


class _Parser:
    """One pass over the physical lines, as BuildKit's scanner makes it."""

    def __init__(self, raw: list[str]) -> None:
        self.raw = raw  # each line with its line ending, as heredoc bodies keep them
        self.at = 0  # lines consumed so far (= the number of the last one read)
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.directives_done = False
        self.warnings: list[ParseWarning] = []

    def next_line(self) -> str | None:
        if self.at >= len(self.raw):
            return None
        self.at += 1
        return self.raw[self.at - 1]

    def run(self, source: tuple[str, ...]) -> Syntax:
        nodes: list[Node] = []
        comments: list[str] = []
        while (raw := self.next_line()) is not None:
            if _is_comment(raw):
                comment = _go_strip(raw[1:])
                if comment:
                    comments.append(comment)
                else:
                    comments = []
            token = _trim_newline(raw).lstrip(_SPACE)
            if self._directive(token):
                comments.pop()
            start = self.at
            if _is_comment(token):
                token = ""
            part, ends = _trim_continuation(token, self.escape)
            if ends and not part:
                continue
            parts = [part]
            empty_continuation = False
            while not ends and (raw := self.next_line()) is not None:
                if _is_comment(raw):
                    continue
                token = _trim_newline(raw)
                if not token.lstrip(_SPACE):
                    empty_continuation = True
                    continue
                part, ends = _trim_continuation(token, self.escape)
                parts.append(part)
            line = "".join(parts)
            if empty_continuation:
                self.warnings.append(ParseWarning(self.at, f"Empty continuation line found in: {line}"))
            try:
                node = _node_from_line(line, self.escape, 0)
            except DockerfileError as exc:
                raise exc.at(start, self.at) from None
            heredocs = self._heredocs(node, line, start)
            nodes.append(
                replace(
                    node,
                    heredocs=heredocs,
                    line=start,
                    end_line=self.at,
                    trigger=_place(node.trigger, start, self.at),
                    comments=tuple(comments),
                )
            )
            comments = []
        if not nodes:
            raise DockerfileError(0, "file with no instructions", hint="a Dockerfile needs at least a FROM")
        return Syntax(
            nodes=tuple(nodes),
            escape=self.escape,
            directives=dict(self.directives),
            warnings=tuple(self.warnings),
            source=source,
        )

    def _directive(self, token: str) -> bool:
        """Whether this line is a parser directive (taking it if so); they end at the first other line."""
        if self.directives_done:
            return False
        if not token.startswith("#"):
            self.directives_done = True
            return False
        match = _DIRECTIVE.match(token[1:].lstrip(_SPACE))
        name = match.group(1).lower() if match else ""
        if match is None or name not in DIRECTIVES:
            self.directives_done = True
            return False
        if name in self.directives:
            raise DockerfileError(self.at, f"only one {name} parser directive can be used")
        value = match.group(2)
        if name == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(self.at, f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
        self.directives[name] = value
        return True

    def _heredocs(self, node: Node, line: str, start: int) -> tuple[Heredoc, ...]:
        held = node.trigger if node.keyword == "ONBUILD" and node.trigger is not None else node
        if held.keyword not in HEREDOC_KEYWORDS or held.json or "<<" not in line:
            return ()
        try:
            found = heredocs_in_line(line)
        except DockerfileError as exc:
            raise exc.at(start, self.at) from None
        bodies = []
        for doc in found:
            content: list[str] = []
            while True:
                raw = self.next_line()
                if raw is None:
                    raise DockerfileError(
                        start,
                        f"unterminated heredoc {doc.name}: no line with {doc.name} alone",
                        end_line=self.at,
                    )
                ending = _trim_newline(raw)
                if (ending.lstrip("\t") if doc.chomp else ending) == doc.name:
                    break
                content.append(raw.lstrip("\t") if doc.chomp else raw)
            bodies.append(Heredoc(doc.name, "".join(content), doc.expand, doc.chomp, doc.fd))
        return tuple(bodies)


def _place(node: Node | None, line: int, end_line: int) -> Node | None:
    """An ONBUILD trigger spans its instruction's lines."""
    if node is None:
        return None
    return replace(node, line=line, end_line=end_line, trigger=_place(node.trigger, line, end_line))


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _go_strip(text: str) -> str:
    return text.strip(_SPACE)


def _is_comment(line: str) -> bool:
    return line.lstrip(_SPACE).startswith("#")


def _trim_continuation(token: str, escape: str) -> tuple[str, bool]:
    """The line without its continuation mark, and whether the instruction ends on it.

    The mark is the escape character last on the line (spaces and tabs may follow), unless
    the character before it is the escape character too: ``\\\\`` at the end is an escaped
    backslash (BuildKit's rule, which also makes ``\\\\\\`` no continuation).
    """
    body = token.rstrip(" \t")
    if body.endswith(escape) and (len(body) == 1 or body[-2] != escape):
        return body[:-1], False
    return token, True


# -- one instruction: keyword, flags, arguments -----------------------------------------------


def _node_from_line(line: str, escape: str, depth: int) -> Node:
    keyword, flags, rest = split_command(line, escape)
    parse_args = _ARGUMENTS.get(keyword.upper(), _ignored)
    trigger = None
    args: tuple[str, ...] = ()
    is_json = False
    if keyword.upper() == "ONBUILD":
        if rest:
            if depth >= MAX_ONBUILD_DEPTH:
                raise DockerfileError(0, "ONBUILD triggers nested too deeply")
            trigger = _node_from_line(rest, escape, depth + 1)
    else:
        args, is_json = parse_args(rest, escape)
    return Node(
        keyword=keyword.upper(),
        args=args,
        flags=flags,
        json=is_json,
        heredocs=(),
        original=line,
        line=0,
        end_line=0,
        trigger=trigger,
    )


def split_command(line: str, escape: str) -> tuple[str, tuple[str, ...], str]:
    """The keyword as written, its flags, and the arguments' text as written after them."""
    text = _go_strip(line)
    blank = _BLANKS.search(text)
    if blank is None:
        return text, (), ""
    rest, flags = _extract_flags(text[blank.end() :], escape)
    return text[: blank.start()], flags, _go_strip(rest)


def _extract_flags(text: str, escape: str) -> tuple[str, tuple[str, ...]]:
    """The ``--words`` at the start (quotes and escapes taken out) and the text after them.

    A ``--`` alone ends the flags and is dropped.
    """
    flags: list[str] = []
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in _SPACE:
            pos += 1
        if not text.startswith("--", pos):
            return text[pos:], tuple(flags)
        word: list[str] = []
        quote = ""
        quoted = False
        while pos < size:
            ch = text[pos]
            if quote:
                if ch == quote:
                    quote = ""
                    pos += 1
                    continue
            elif ch in _SPACE:
                break
            elif ch in "'\"":
                quote, quoted = ch, True
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == size:
                    quote = ""
                    pos += 1
                    continue
                pos += 1
                ch = text[pos]
            word.append(ch)
            pos += 1
        flag = "".join(word)
        if flag == "--" and pos < size:
            return text[pos:], tuple(flags)
        if flag != "--" and (quoted or flag):
            flags.append(flag)
        if pos >= size:
            return "", tuple(flags)


# The argument parsers, one per instruction: (args, json) from the text after the flags.
_Args = tuple[tuple[str, ...], bool]


def _ignored(rest: str, escape: str) -> _Args:
    return ("",), False  # an unknown instruction: BuildKit's parser keeps an empty argument


def _whitespace_split(rest: str, escape: str) -> _Args:
    return (tuple(_BLANKS.split(rest)) if rest else ()), False


def _single_string(rest: str, escape: str) -> _Args:
    return ((rest,) if rest else ()), False


def _maybe_json(rest: str, escape: str) -> _Args:
    if not rest:
        return (), False
    strings = json_strings(rest)
    return (tuple(strings), True) if strings is not None else ((rest,), False)


def _maybe_json_list(rest: str, escape: str) -> _Args:
    strings = json_strings(rest)
    return (tuple(strings), True) if strings is not None else _whitespace_split(rest, escape)


def _names_or_assignments(rest: str, escape: str) -> _Args:
    return tuple(parse_words(rest, escape)), False


def _assignments(keyword: str) -> Callable[[str, str], _Args]:
    def parse(rest: str, escape: str) -> _Args:
        return name_values(rest, keyword, escape), False

    return parse


def _health(rest: str, escape: str) -> _Args:
    if not rest:
        return (), False
    end = 0
    while end < len(rest) and rest[end] not in _SPACE:
        end += 1
    command, is_json = _maybe_json(rest[end:].lstrip(_SPACE), escape)
    return (rest[:end], *command), is_json


_ARGUMENTS: dict[str, Callable[[str, str], _Args]] = {
    "ADD": _maybe_json_list,
    "ARG": _names_or_assignments,
    "CMD": _maybe_json,
    "COPY": _maybe_json_list,
    "ENTRYPOINT": _maybe_json,
    "ENV": _assignments("ENV"),
    "EXPOSE": _whitespace_split,
    "FROM": _whitespace_split,
    "HEALTHCHECK": _health,
    "LABEL": _assignments("LABEL"),
    "MAINTAINER": _single_string,
    "RUN": _maybe_json,
    "SHELL": _maybe_json,
    "STOPSIGNAL": _single_string,
    "USER": _single_string,
    "VOLUME": _maybe_json_list,
    "WORKDIR": _single_string,
}


class _NotJson(Exception):
    pass


def _no_constant(name: str) -> object:
    raise _NotJson(name)  # NaN, Infinity: not JSON to Go's decoder


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotJson(text)  # out of float64's range: Go's decoder refuses it
    return value


def json_strings(rest: str) -> list[str] | None:
    """The strings of a JSON array (the exec form), or None when the text is no JSON array.

    A JSON array holding anything but strings is an error, as in BuildKit: ``CMD ["a", 42]``
    cannot mean the shell form either.
    """
    text = rest.lstrip(_SPACE)
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_finite)
    except (ValueError, _NotJson):
        return None
    except RecursionError:  # nested deeper than Python's decoder goes: certainly not strings
        value = [[]]
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise DockerfileError(0, "when using JSON array syntax, arrays must be comprised of strings only")
    return [_valid_text(item) for item in value]


def _valid_text(text: str) -> str:
    """A lone surrogate (``"\\ud800"``) becomes U+FFFD, as Go's decoder makes it."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


def parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept as written (ARG, ENV, LABEL).

    Quotes group (``'a b'`` is one word); the escape character keeps the next one in the word,
    and is dropped when it is last.
    """
    words: list[str] = []
    word: list[str] = []
    pos, size = 0, len(rest)
    quote = ""
    started = quoted = False
    while pos < size:
        ch = rest[pos]
        if not started:
            if ch in _SPACE:
                pos += 1
                continue
            started = True
        if not quote:
            if ch in _SPACE:
                if quoted or word:
                    words.append("".join(word))
                word, started, quoted = [], False, False
                pos += 1
                continue
            if ch in "'\"":
                quote, quoted = ch, True
            elif ch == escape:
                if pos + 1 == size:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
        elif ch == quote:
            quote = ""
        elif ch == escape and quote != "'":
            if pos + 1 == size:
                quote = ""
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    if started and (quoted or word):
        words.append("".join(word))
    return words


def name_values(rest: str, keyword: str, escape: str) -> tuple[str, ...]:
    """ENV and LABEL: (name, value, "=") per ``name=value``; the old ``KEY value`` form is
    (name, value, "") with the value the rest of the line as written."""
    words = parse_words(rest, escape)
    if not words:
        return ()
    if "=" not in words[0]:
        parts = _BLANKS.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(0, f"{keyword} must have two arguments")
        return (parts[0], parts[1], "")
    out: list[str] = []
    for word in words:
        name, eq, value = word.partition("=")
        if not eq:
            raise DockerfileError(
                0, f"Syntax error - can't find = in {_go_quote(word)}. Must be of the form: name=value"
            )
        out += [name, value, "="]
    return tuple(out)


# -- heredocs ----------------------------------------------------------------------------------


def heredocs_in_line(line: str) -> list[Heredoc]:
    """The heredocs a line names, in order (their bodies still empty).

    The line is split into words as the shell lexer does, quotes and escapes kept, so that
    ``'<<EOF'`` or ``"<<EOF"`` is no heredoc; a line the lexer cannot split (an open quote)
    names none, as in BuildKit.
    """
    try:
        words = _shell_words(line, raw_quotes=True, raw_escapes=True)
    except DockerfileError:
        return []
    found = []
    for word in words:
        doc = heredoc_from_word(word)
        if doc is not None:
            found.append(doc)
    return found


def heredoc_from_word(word: str) -> Heredoc | None:
    """``<<EOF``, ``<<-EOF``, ``3<<'EOF'``, ``<< EOF`` as one word: its heredoc, else None.

    Quoting any part of the name (``<<"EOF"``, ``<<EO'F'``) turns expansion of the body off.
    """
    match = _HEREDOC_WORD.match(word)
    if match is None or not match.group(3):
        return None
    digits, chomp, rest = match.groups()
    names = _shell_words(rest, raw_quotes=False, raw_escapes=False)
    if len(names) != 1:
        return None
    raw_names = _shell_words(rest, raw_quotes=True, raw_escapes=False)
    if len(raw_names) != 1:
        raise DockerfileError(0, f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = names[0]
    expand = _quotes(name) == _quotes(raw_names[0])
    fd = None
    if digits:
        fd = int(digits) if len(digits) <= 20 else 2**64 - 1
        fd = min(fd, 2**64 - 1)
    return Heredoc(name=name, content="", expand=expand, chomp=chomp == "-", fd=fd)


def _quotes(text: str) -> int:
    return text.count("'") + text.count('"')


def _shell_words(text: str, *, raw_quotes: bool, raw_escapes: bool) -> list[str]:
    """The words of ``text`` as the shell lexer splits them, no variable set and the unset
    ones left as written (``<<`` keeps the blanks after it in its word)."""
    lex = ShellLex("\\", raw_quotes=raw_quotes, raw_escapes=raw_escapes, skip_unset_env=True)
    try:
        return lex.process_words(text, {})
    except ExpansionError as exc:
        raise DockerfileError(0, exc.message) from None


# -- BuildKit's dump -------------------------------------------------------------------------


def dump(node: Node) -> str:
    """The node as BuildKit's ``Node.Dump`` prints it: ``(copy ["--from=a"] "x" "/y")``."""
    text = node.keyword.lower()
    if node.flags:
        text += " [" + " ".join(_go_quote(flag) for flag in node.flags) + "]"
    for arg in node.args:
        text += " " + _go_quote(arg)
    if node.trigger is not None:
        text += " " + dump(node.trigger)
    return "(" + _go_strip(text) + ")"


def dump_all(syntax: Syntax) -> str:
    """The whole file as BuildKit's dump of its root node prints it (one line per instruction)."""
    return "\n".join(dump(node) for node in syntax.nodes)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quote(text: str) -> str:
    """Go's strconv.Quote."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif "\ud800" <= ch <= "\udfff":
            out.append("\\ufffd")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)
