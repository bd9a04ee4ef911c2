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

from cove.build.changes import apply_changes
from cove.build.dockerfile import DockerfileError
from cove.build.expand import ExpansionError, expand
from cove.build.instructions import (
    Arg,
    Cmd,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    OnBuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from cove.build.instructions.flags import written_by_name
from cove.errors import InvalidArgument

DEFAULT_SHELL = ("/bin/sh", "-c")


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
        raise DockerfileError(x.line, exc.message, end_line=x.end_line) from None
    except DockerfileError:
        raise
    except InvalidArgument as exc:  # from the --change helpers, worded for --change
        raise DockerfileError(x.line, exc.message.replace("--change ", ""), end_line=x.end_line) from None
    flags = " ".join(f"--{k}={v}" for k, values in written_by_name(x.flags).items() for v in values)
    return f"{x.keyword} {flags + ' ' if flags else ''}{x.written_arguments()}".rstrip()


def _apply(
    state: StageState,
    x: Instruction,
    escape: str,
    build_args: Mapping[str, str],
    global_args: Mapping[str, str],
) -> None:
    cfg = state.config
    scope = state.scope()

    def word(text: str) -> str:
        return expand(text, scope, escape)

    if isinstance(x, Env):
        env = list(cfg.get("Env") or [])
        # Every pair is expanded against the environment before this ENV (Docker's rule).
        for pair in x.pairs:
            key, value = word(pair.key), word(pair.value)
            env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        cfg["Env"] = env
    elif isinstance(x, Label):
        labels = dict(cfg.get("Labels") or {})
        labels.update((word(pair.key), word(pair.value)) for pair in x.pairs)
        cfg["Labels"] = labels
    elif isinstance(x, Arg):
        for arg in x.args:  # each sees the ones before it
            if arg.name in build_args:
                state.args[arg.name] = build_args[arg.name]
            elif arg.name in global_args and arg.default is None:
                state.args[arg.name] = global_args[arg.name]
            elif arg.default is not None:
                state.args[arg.name] = expand(arg.default, state.scope(), escape)
    elif isinstance(x, (Cmd, Entrypoint)):
        command = state.shell_form(" ".join(x.command)) if x.shell else list(x.command)
        if isinstance(x, Cmd):
            cfg["Cmd"] = command
            state.cmd_set = True
        else:
            cfg["Entrypoint"] = command if x.command or x.shell else None
            if not state.cmd_set:
                cfg["Cmd"] = None  # an inherited CMD does not outlive a new ENTRYPOINT
    elif isinstance(x, Workdir):
        path = word(x.path)
        cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))
    elif isinstance(x, User):
        cfg["User"] = word(x.user)
    elif isinstance(x, StopSignal):
        cfg["StopSignal"] = word(x.signal)
    elif isinstance(x, Expose):
        state.config = apply_changes(cfg, ["EXPOSE " + " ".join(word(port) for port in x.ports)])
    elif isinstance(x, Volume):
        paths = [word(path) for path in x.paths]
        if any(not p for p in paths):
            raise DockerfileError(x.line, "VOLUME specified can not be an empty string", end_line=x.end_line)
        volumes = dict(cfg.get("Volumes") or {})
        volumes.update({p: {} for p in paths})
        cfg["Volumes"] = volumes
    elif isinstance(x, Healthcheck):
        cfg["Healthcheck"] = health_config(x)
    elif isinstance(x, Shell):
        state.shell = list(x.shell)
    elif isinstance(x, OnBuild):
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), x.expression]
    elif isinstance(x, Maintainer):
        state.author = x.maintainer
    else:
        raise DockerfileError(x.line, f"{x.keyword} is not a metadata instruction", end_line=x.end_line)


def health_config(x: Healthcheck) -> dict[str, Any]:
    """The image config's Healthcheck (durations in ns; those not set left out, as Docker's
    JSON omits zeros)."""
    out: dict[str, Any] = {"Test": list(x.test)}
    if x.test == ("NONE",):
        return out
    for key, value in (
        ("Interval", x.interval),
        ("Timeout", x.timeout),
        ("StartPeriod", x.start_period),
        ("StartInterval", x.start_interval),
        ("Retries", x.retries),
    ):
        if value:
            out[key] = value
    return out
