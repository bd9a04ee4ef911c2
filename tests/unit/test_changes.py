import pytest

from cove.build.changes import apply_changes
from cove.errors import InvalidArgument


def test_each_change_edits_the_config() -> None:
    config = apply_changes(
        {"Env": ["A=1", "B=2"]},
        [
            'CMD ["sh", "-c", "echo hi"]',
            "ENTRYPOINT /init --flag",
            "ENV A=3 C=4",
            "ENV D has spaces",
            'LABEL org.example="a b" other=x',
            "EXPOSE 80 53/udp 8000-8002",
            "USER nobody:nogroup",
            "WORKDIR /srv",
            "VOLUME /data /cache",
            'VOLUME ["/other"]',
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN true",
        ],
    )
    assert config["Cmd"] == ["sh", "-c", "echo hi"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/init --flag"]
    assert config["Env"] == ["B=2", "A=3", "C=4", "D=has spaces"]
    assert config["Labels"] == {"org.example": "a b", "other": "x"}
    assert set(config["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"}
    assert config["User"] == "nobody:nogroup"
    assert config["WorkingDir"] == "/srv"
    assert set(config["Volumes"]) == {"/data", "/cache", "/other"}
    assert config["StopSignal"] == "SIGINT"
    assert config["OnBuild"] == ["RUN true"]


def test_original_config_is_not_modified() -> None:
    original = {"Env": ["A=1"]}
    apply_changes(original, ["ENV A=2"])
    assert original == {"Env": ["A=1"]}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("RUN echo", "RUN is not a change"),
        ("FROM busybox", "FROM is not a change"),
        ("", "empty is not a change"),
        ("EXPOSE http", "invalid port"),
        ("EXPOSE 70000", "invalid port range"),
        ("LABEL novalue", "KEY=VALUE"),
        ("CMD", "needs a command"),
        ("USER", "needs a value"),
        ('LABEL a="unterminated', "No closing quotation"),
        ("HEALTHCHECK echo hi", "CMD command or NONE"),
        ("HEALTHCHECK --interval CMD true", "needs a value"),
        ("HEALTHCHECK --interval=soon CMD true", "soon"),
        ("HEALTHCHECK --retries=-1 CMD true", "invalid HEALTHCHECK option"),
        ("HEALTHCHECK --bogus=1 CMD true", "invalid HEALTHCHECK option"),
        ("HEALTHCHECK NONE extra", "CMD command or NONE"),
    ],
)
def test_bad_changes_name_the_problem(change: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        apply_changes({}, [change])


def test_healthcheck_as_docker_records_it() -> None:
    shell = apply_changes({}, ["HEALTHCHECK --interval=1s --timeout=500ms --retries=2 CMD test -f /tmp/ok"])
    assert shell["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -f /tmp/ok"],
        "Interval": 1_000_000_000,
        "Timeout": 500_000_000,
        "Retries": 2,
    }
    exec_form = apply_changes(
        {}, ['HEALTHCHECK --start-period=1m --start-interval=2s CMD ["curl", "-f", "x"]']
    )
    assert exec_form["Healthcheck"] == {
        "Test": ["CMD", "curl", "-f", "x"],
        "StartPeriod": 60_000_000_000,
        "StartInterval": 2_000_000_000,
    }
    assert apply_changes({"Healthcheck": {"Test": ["CMD", "x"]}}, ["healthcheck none"])["Healthcheck"] == {
        "Test": ["NONE"]
    }
