"""The instructions that only change an image's config, with Dockerfile semantics.

ENV, LABEL, ARG, CMD, ENTRYPOINT, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK,
SHELL, ONBUILD and MAINTAINER act on a stage's state; RUN, COPY and ADD (which make layers)
are the executor's. Docker's rules kept here:

- arguments the builder reads are expanded with the stage's build args and ENV (ENV wins
  over an ARG of the same name); CMD, ENTRYPOINT and RUN in the shell form are not: the
  shell expands them at run time, and they are wrapped in the stage's SHELL;
- ENTRYPOINT resets a CMD inherited from the base image (not one set in this stage);
- a relative WORKDIR is relative to the previous one;
- an ARG is visible from its declaration on; a global ARG needs re-declaring in a stage.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cove.build.changes import apply_changes, healthcheck
from cove.build.dockerfile import DockerfileError, Instruction
from cove.build.expand import ExpansionError, expand, key_values, split_words
from cove.errors import InvalidArgument

DEFAULT_SHELL = ("/bin/sh", "-c")
METADATA = frozenset(
    "ENV LABEL ARG CMD ENTRYPOINT WORKDIR USER EXPOSE VOLUME STOPSIGNAL HEALTHCHECK SHELL ONBUILD "
    "MAINTAINER".split()
)


@dataclass
class StageState:
    config: dict[str, Any]  # the image config's "config" object
    shell: list[str] = field(default_factory=lambda: list(DEFAULT_SHELL))
    args: dict[str, str] = field(default_factory=dict)  # build args declared in this stage
    cmd_set: bool = False  # a CMD in this stage (an ENTRYPOINT then keeps it)
    author: str | None = None

    @classmethod
    def from_base(cls, config: Mapping[str, Any]) -> StageState:
        return cls(copy.deepcopy(dict(config)))

    def scope(self) -> dict[str, str]:
        """What ``$NAME`` means in this stage: its build args, overridden by its ENV."""
        env = dict(e.split("=", 1) for e in self.config.get("Env") or [] if "=" in e)
        return {**self.args, **env}

    def shell_form(self, text: str) -> list[str]:
        return [*self.shell, text]


def apply(
    state: StageState,
    x: Instruction,
    *,
    escape: str = "\\",
    build_args: Mapping[str, str] | None = None,
    global_args: Mapping[str, str] | None = None,
) -> str:
    """Apply one metadata instruction; returns its history text (``created_by``)."""
    try:
        _apply(state, x, escape, build_args or {}, global_args or {})
    except ExpansionError as exc:
        raise DockerfileError(x.line, exc.message) from None
    except DockerfileError:
        raise
    except InvalidArgument as exc:  # from the --change helpers, worded for --change
        raise DockerfileError(x.line, exc.message.replace("--change ", "")) from None
    flags = " ".join(f"--{k}={v}" for k, values in x.flags.items() for v in values)
    return f"{x.keyword} {flags + ' ' if flags else ''}{x.rest}".rstrip()


def _apply(
    state: StageState,
    x: Instruction,
    escape: str,
    build_args: Mapping[str, str],
    global_args: Mapping[str, str],
) -> None:
    k, cfg = x.keyword, state.config
    scope = state.scope()

    def words() -> list[str]:
        return split_words(x.rest, scope, escape)

    if k == "ENV":
        env = list(cfg.get("Env") or [])
        # Every pair is expanded against the environment before this ENV (Docker's rule).
        for key, value in key_values(x.rest, scope, escape, legacy=True):
            env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        cfg["Env"] = env
    elif k == "LABEL":
        labels = dict(cfg.get("Labels") or {})
        labels.update(key_values(x.rest, scope, escape, legacy=False))
        cfg["Labels"] = labels
    elif k == "ARG":
        name, eq, default = x.rest.partition("=")
        if name in build_args:
            state.args[name] = build_args[name]
        elif name in global_args and not eq:
            state.args[name] = global_args[name]
        elif eq:
            state.args[name] = expand(default, scope, escape)
    elif k in ("CMD", "ENTRYPOINT"):
        command = x.json_args if x.json_args is not None else state.shell_form(x.rest)
        if k == "CMD":
            cfg["Cmd"] = command
            state.cmd_set = True
        else:
            cfg["Entrypoint"] = command if command else None
            if not state.cmd_set:
                cfg["Cmd"] = None  # an inherited CMD does not outlive a new ENTRYPOINT
    elif k == "WORKDIR":
        path = expand(x.rest, scope, escape)
        cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))
    elif k in ("USER", "STOPSIGNAL"):
        cfg["User" if k == "USER" else "StopSignal"] = expand(x.rest, scope, escape)
    elif k == "EXPOSE":
        state.config = apply_changes(cfg, ["EXPOSE " + " ".join(words())])
    elif k == "VOLUME":
        paths = x.json_args if x.json_args is not None else words()
        if not paths or any(not p for p in paths):
            raise DockerfileError(x.line, "VOLUME needs at least one path")
        volumes = dict(cfg.get("Volumes") or {})
        volumes.update({p: {} for p in paths})
        cfg["Volumes"] = volumes
    elif k == "HEALTHCHECK":
        flags = " ".join(f"--{name}={values[-1]}" for name, values in x.flags.items())
        cfg["Healthcheck"] = healthcheck(f"{flags} {x.rest}".strip(), "HEALTHCHECK")
    elif k == "SHELL":
        assert x.json_args is not None  # the parser insists on the JSON form
        if not x.json_args:
            raise DockerfileError(x.line, "SHELL needs at least the shell's program")
        state.shell = list(x.json_args)
    elif k == "ONBUILD":
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), x.rest]
    elif k == "MAINTAINER":
        state.author = x.rest
    else:
        raise DockerfileError(x.line, f"{k} is not a metadata instruction")
