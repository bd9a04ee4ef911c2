"""`cove compose up` and friends refuse bad flags before touching the engine, in Docker
Compose's words."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cove.cli.app import Cli
from cove.cli.main import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["up", "-d", "--abort-on-container-exit"],
            "--detach cannot be combined with --abort-on-container-exit",
        ),
        (
            ["up", "-d", "--exit-code-from", "web"],
            "--detach cannot be combined with --abort-on-container-exit",
        ),
        (
            ["up", "--abort-on-container-exit", "--abort-on-container-failure"],
            "--abort-on-container-failure cannot be combined with --abort-on-container-exit",
        ),
        (["up", "--wait", "--attach", "web"], "--wait cannot be combined with"),
        (["up", "--force-recreate", "--no-recreate"], "--force-recreate and --no-recreate are incompatible"),
        (["up", "--build", "--no-build"], "--build and --no-build are incompatible"),
        (["up", "-V", "--no-recreate"], "--no-recreate and --renew-anon-volumes are incompatible"),
        (["up", "-d", "--scale", "web"], "invalid --scale 'web': expected SERVICE=NUM"),
        (["up", "-d", "nope"], "no such service: nope"),
        (["up", "--exit-code-from", "nope"], "no such service: nope"),
        (["create", "--scale", "nope=2"], "no such service: nope"),
    ],
)
def test_bad_flags_are_one_line_and_exit_1(tmp_path: Path, argv: list[str], message: str) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n")
    err = io.StringIO()
    cli = Cli(stdout=io.StringIO(), stderr=err, env={"COVE_ROOT": str(tmp_path / "no-store")})
    code = main(["compose", "-f", str(tmp_path / "compose.yaml"), *argv], cli=cli)
    assert code == 1
    assert message in err.getvalue()
    assert len(err.getvalue().strip().splitlines()) == 1
    assert not (tmp_path / "no-store").exists()
