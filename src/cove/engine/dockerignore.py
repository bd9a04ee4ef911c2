"""The build's ``.dockerignore`` rules, for the front ends that match paths the way a build
does (compose watch ignores what the build context's .dockerignore leaves out)."""

from __future__ import annotations

from cove.build.dockerignore import Matcher, parse

__all__ = ["Matcher", "parse"]
