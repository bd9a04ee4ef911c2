"""Build cache keys: what changes a step's key, and what does not."""

from __future__ import annotations

from cove.build.cache import step_key

BASE = "sha256:" + "a" * 64


def test_keys_chain_and_follow_what_decides_a_step() -> None:
    run = step_key(BASE, "RUN", "make", build_args={"V": "1"})
    assert run == step_key(BASE, "RUN", "make", build_args={"V": "1"})  # deterministic
    assert run != step_key(BASE, "RUN", "make all", build_args={"V": "1"})  # the command
    assert run != step_key(BASE, "RUN", "make", build_args={"V": "2"})  # a build arg in scope
    assert run != step_key("sha256:" + "b" * 64, "RUN", "make", build_args={"V": "1"})  # the parent
    assert run != step_key(BASE, "RUN", "make", build_args={"V": "1"}, flags={"network": ["none"]})
    assert run != step_key(BASE, "RUN", "make", build_args={"V": "1"}, platform="linux/arm64")


def test_copy_keys_follow_the_content() -> None:
    first = step_key(BASE, "COPY", "app /app", sources="sha256:" + "1" * 64)
    assert first == step_key(BASE, "COPY", "app /app", sources="sha256:" + "1" * 64)
    assert first != step_key(BASE, "COPY", "app /app", sources="sha256:" + "2" * 64)
    # Build args do not reach COPY: only what it copies does.
    assert step_key(BASE, "COPY", "a /a", build_args={"X": "1"}) == step_key(BASE, "COPY", "a /a")
    # The flags order does not matter, their values do.
    a = step_key(BASE, "COPY", "a /a", flags={"chown": ["1:1"], "chmod": ["644"]})
    assert a == step_key(BASE, "COPY", "a /a", flags={"chmod": ["644"], "chown": ["1:1"]})
    assert a != step_key(BASE, "COPY", "a /a", flags={"chmod": ["600"], "chown": ["1:1"]})
