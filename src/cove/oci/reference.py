"""Image references, normalised the way Docker does it.

``busybox`` becomes ``docker.io/library/busybox:latest``; ``host:5000/team/app@sha256:…``
keeps its registry and digest; a reference may carry a tag and a digest together. The
grammar is the one of the distribution project's reference package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cove.errors import InvalidReference
from cove.oci.digest import Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAINS = frozenset({"index.docker.io", "registry-1.docker.io"})
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """The repository name with its registry: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def familiar_name(self) -> str:
        """The short name Docker shows: ``busybox``, ``user/app``, ``host:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_PREFIX) and path.count("/") == 1:
                path = path[len(OFFICIAL_PREFIX) :]
            return path
        return self.name

    def familiar(self) -> str:
        out = self.familiar_name()
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def tagged_or_latest(self) -> Reference:
        """This reference with ``:latest`` when it names neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, name
    if domain in LEGACY_DOMAINS:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; add ``:latest`` when ``default_tag`` and untagged."""
    original = text
    if not text:
        raise InvalidReference(original, "empty name")
    digest: Digest | None = None
    if "@" in text:
        text, _, digest_text = text.partition("@")
        try:
            digest = Digest(digest_text)
        except Exception as exc:
            raise InvalidReference(original, str(exc)) from None
    tag: str | None = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InvalidReference(original, f"invalid tag {tag!r}")
    if not text:
        raise InvalidReference(original, "empty repository name")
    domain, path = _split_domain(text)
    if not _DOMAIN_RE.match(domain):
        raise InvalidReference(original, f"invalid registry {domain!r}")
    for component in path.split("/"):
        if not _PATH_COMPONENT_RE.match(component):
            if component.lower() != component and _PATH_COMPONENT_RE.match(component.lower()):
                raise InvalidReference(original, "repository name must be lowercase")
            raise InvalidReference(original, f"invalid repository name component {component!r}")
    if len(f"{domain}/{path}") > NAME_MAX:
        raise InvalidReference(original, f"repository name longer than {NAME_MAX} characters")
    ref = Reference(domain, path, tag, digest)
    return ref.tagged_or_latest() if default_tag else ref


def looks_like_reference(text: str) -> bool:
    try:
        parse_reference(text)
    except InvalidReference:
        return False
    return True


def _path_match(pattern: str, text: str) -> bool:
    """Go's path.Match: ``*`` and ``?`` do not cross ``/``; ``[...]`` classes work."""
    regex = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            regex.append("[^/]*")
        elif c == "?":
            regex.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                return False
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            inner = (body[1:] if negate else body).replace("\\", "\\\\")
            regex.append("[" + ("^" if negate else "") + inner + "]")
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            regex.append(re.escape(pattern[i]))
        else:
            regex.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(regex), text) is not None


def reference_matches(ref: Reference, pattern: str) -> bool:
    """Docker's ``--filter reference=PATTERN``: a glob on the familiar name (and tag)."""
    if ":" in pattern.rsplit("/", 1)[-1]:
        candidates = (f"{ref.familiar_name()}:{ref.tag or ''}", f"{ref.name}:{ref.tag or ''}")
    else:
        candidates = (ref.familiar_name(), ref.name)
    return any(_path_match(pattern, c) for c in candidates)
