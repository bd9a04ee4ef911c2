"""The loader: discovery, names, merge, extends, include, profiles, anchors, errors and bounds."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from cove.cli.app import Cli
from cove.cli.main import main
from cove.compose.errors import ComposeError
from cove.compose.interpolation import InterpolationError
from cove.compose.loader import load_tree
from cove.compose.options import ProjectOptions, normalize_project_name
from cove.compose.yamlfile import load_yaml

PROJECTS = Path(__file__).parent / "projects"


def load(tmp_path: Path, contents: dict[str, str], **kw: object) -> dict:
    for name, text in contents.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    kw.setdefault("environ", {})
    return load_tree(ProjectOptions(working_dir=str(tmp_path), **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("case", sorted(p.name for p in PROJECTS.iterdir() if p.is_dir()))
def test_golden_projects_match_docker_compose_config(case: str) -> None:
    # projects/README.md says where expected.yaml comes from. The trees must be equal (sequences
    # in order) and so must the lines once sorted: cove writes a service's keys in compose-go's
    # field order, where Docker Compose v5's order follows its own processing passes.
    import yaml  # noqa: PLC0415 - as the loader does

    directory = PROJECTS / case
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        args = (directory / "args").read_text().split()
        code = main(["compose", *args, "config"], cli=Cli(stdout=out, stderr=err, env={}))
    finally:
        os.chdir(cwd)
    assert (code, err.getvalue()) == (0, "")
    expected = (directory / "expected.yaml").read_text().replace("@DIR@", str(directory))
    assert yaml.safe_load(out.getvalue()) == yaml.safe_load(expected)
    assert sorted(out.getvalue().splitlines()) == sorted(expected.splitlines())


@pytest.mark.parametrize(
    ("name", "normalised"),
    [("My App", "myapp"), ("_x.y-z", "xy-z"), ("Web_1", "web_1")],
)
def test_project_name_normalised_from_directory(name: str, normalised: str) -> None:
    assert normalize_project_name(name) == normalised


def test_discovery_walks_up_and_takes_the_override(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: a\n")
    (tmp_path / "compose.override.yaml").write_text("services:\n  web:\n    image: b\n")
    tree = load_tree(ProjectOptions(working_dir=str(tmp_path / "a" / "b"), environ={}))
    assert tree["services"]["web"]["image"] == "b"
    assert tree["name"] == normalize_project_name(tmp_path.name)


def test_project_name_precedence(tmp_path: Path) -> None:
    files = {"compose.yaml": "name: fromfile\nservices:\n  web:\n    image: a\n"}
    assert load(tmp_path, files)["name"] == "fromfile"
    assert load(tmp_path, files, environ={"COMPOSE_PROJECT_NAME": "fromenv"})["name"] == "fromenv"
    assert load(tmp_path, files, project_name="flag", environ={"COMPOSE_PROJECT_NAME": "x"})["name"] == "flag"


def test_merge_rules(tmp_path: Path) -> None:
    tree = load(
        tmp_path,
        {
            "a.yaml": "services:\n  web:\n    image: a\n    command: [x, y]\n"
            "    ports: ['80:80']\n"
            "    environment: [A=1, B=2]\n    volumes: ['d:/data']\n    dns: [1.1.1.1]\n"
            "volumes: {d: {}, e: {}}\n",
            "b.yaml": "services:\n  web:\n    command: z\n    ports: ['80:80', '81:81']\n"
            "    environment: {B: 3}\n    volumes: ['e:/data']\n    dns: [1.1.1.1, 8.8.8.8]\n"
            "    labels: !reset {}\n",
        },
        files=("a.yaml", "b.yaml"),
    )
    web = tree["services"]["web"]
    assert web["command"] == ["z"]
    assert [p["target"] for p in web["ports"]] == [80, 81]
    assert web["environment"] == {"A": "1", "B": "3"}
    assert [(v["source"], v["target"]) for v in web["volumes"]] == [("e", "/data")]
    assert web["dns"] == ["1.1.1.1", "8.8.8.8"]


def test_override_tag_replaces(tmp_path: Path) -> None:
    tree = load(
        tmp_path,
        {
            "a.yaml": "services:\n  web:\n    image: a\n    ports: ['80:80']\n",
            "b.yaml": "services:\n  web:\n    ports: !override ['81:81']\n",
        },
        files=("a.yaml", "b.yaml"),
    )
    assert [p["target"] for p in tree["services"]["web"]["ports"]] == [81]


def test_extends_same_file_and_other_file(tmp_path: Path) -> None:
    tree = load(
        tmp_path,
        {
            "compose.yaml": "services:\n  base:\n    image: a\n    environment: {A: '1'}\n"
            "  web:\n    extends: base\n    environment: {B: '2'}\n"
            "  other:\n    extends: {file: common.yaml, service: c}\n",
            "common.yaml": "services:\n  c:\n    image: c\n",
        },
    )
    assert tree["services"]["web"]["image"] == "a"
    assert tree["services"]["web"]["environment"] == {"A": "1", "B": "2"}
    assert tree["services"]["other"]["image"] == "c"


def test_extends_cycle_is_named(tmp_path: Path) -> None:
    files = {"compose.yaml": "services:\n  a:\n    extends: b\n  b:\n    extends: a\n"}
    with pytest.raises(
        ComposeError, match=r"extends cycle: compose.yaml:a -> compose.yaml:b -> compose.yaml:a"
    ):
        load(tmp_path, files)


def test_include(tmp_path: Path) -> None:
    tree = load(
        tmp_path,
        {
            "compose.yaml": "include: [sub/compose.yaml]\n"
            "services:\n  web:\n    image: a\n    depends_on: [db]\n",
            "sub/compose.yaml": "services:\n  db:\n    image: db\n    volumes: ['./data:/data']\n",
        },
    )
    assert tree["services"]["db"]["volumes"][0]["source"] == str(tmp_path / "sub" / "data")


def test_include_cycle_is_refused(tmp_path: Path) -> None:
    files = {"compose.yaml": "include: [b.yaml]\n", "b.yaml": "include: [compose.yaml]\n"}
    with pytest.raises(ComposeError, match="include cycle"):
        load(tmp_path, files)


def test_profiles_and_named_services(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services:\n  web:\n    image: a\n  dbg:\n    image: b\n    profiles: [debug]\n"
        "  tool:\n    image: c\n    profiles: [tools]\n    depends_on: [helper]\n"
        "  helper:\n    image: d\n    profiles: [tools]\n"
    }
    assert list(load(tmp_path, files)["services"]) == ["web"]
    assert list(load(tmp_path, files, profiles=("debug",))["services"]) == ["dbg", "web"]
    assert list(load(tmp_path, files, environ={"COMPOSE_PROFILES": "debug,tools"})["services"]) == [
        "dbg", "helper", "tool", "web",
    ]  # fmt: skip
    assert list(load(tmp_path, files, services=("tool",))["services"]) == ["helper", "tool", "web"]


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "x-base: &b\n  image: a\n  restart: always\n"
        "services:\n  web:\n    <<: *b\n    image: z\n"
    }
    web = load(tmp_path, files)["services"]["web"]
    assert (web["image"], web["restart"]) == ("z", "always")


def test_dotenv_feeds_interpolation_and_environment_wins(tmp_path: Path) -> None:
    files = {"compose.yaml": "services:\n  web:\n    image: ${IMG}:${TAG}\n", ".env": "IMG=a\nTAG=1\n"}
    assert load(tmp_path, files, environ={"TAG": "2"})["services"]["web"]["image"] == "a:2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services:\n  web:\n    image: a\n    ports: ['80', '80:80:80']\n",
         'compose.yaml: services.web.ports[1]: invalid port "80:80:80"'),
        ("services:\n  web:\n    image: a\n    depends_on: [db]\n",
         'compose.yaml: services.web.depends_on: undefined service "db"'),
        ("services:\n  web:\n    image: a\n    volumes: ['data:/d']\n",
         'compose.yaml: services.web.volumes[0]: undefined volume "data"'),
        ("services:\n  web:\n    image: a\n    networks: [back]\n",
         'compose.yaml: services.web.networks: undefined network "back"'),
        ("services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n    depends_on: [a]\n",
         "compose.yaml: dependency cycle: a -> b -> a"),
        ("services:\n  web:\n    image: a\n    bogus: 1\n",
         "compose.yaml: services.web: additional properties 'bogus' not allowed"),
        ("services:\n  web:\n    image: [a]\n", "compose.yaml: services.web.image: must be a string"),
        ("services:\n  web:\n    image: a\n    environment: 5\n",
         "compose.yaml: services.web.environment: must be a mapping or a list"),
        ("services:\n  web:\n    image: a\n    depends_on:\n      db: {condition: bogus}\n",
         "compose.yaml: services.web.depends_on.db.condition: value must be one of "
         "'service_started', 'service_healthy', 'service_completed_successfully'"),
        ("services:\n  web:\n    image: a\n    volumes: ['a:b:c:d']\n",
         'compose.yaml: services.web.volumes[0]: invalid volume "a:b:c:d"'),
        ("services:\n  web:\n    image: a\n    mem_limit: lots\n",
         'compose.yaml: services.web.mem_limit: invalid size "lots"'),
        ("services:\n  web:\n    image: a\n    healthcheck:\n      interval: 1y\n",
         'compose.yaml: services.web.healthcheck.interval: invalid duration "1y"'),
        ("services:\n  web:\n    image: a\n    ports: ['1.2.3.4:80']\n",
         'compose.yaml: services.web.ports[0]: invalid port "1.2.3.4:80"'),
        ("services:\n  web:\n    image: a\n    ports: ['70000:80']\n",
         'compose.yaml: services.web.ports[0]: invalid port "70000:80"'),
        ("services:\n  web:\n    image: a\n    ports: ['${P:-x}']\n",
         'compose.yaml: services.web.ports[0]: invalid port "x"'),
        ("services:\n  web:\n    image: a\n    secrets: [s]\n",
         'compose.yaml: services.web.secrets[0]: undefined secret "s"'),
        ("services:\n  web:\n    image: a\n    network_mode: service:nope\n",
         'compose.yaml: services.web.network_mode: undefined service "nope"'),
        ("services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n    depends_on: [c]\n"
         "  c:\n    image: c\n    depends_on: [a]\n",
         "compose.yaml: dependency cycle: a -> b -> c -> a"),
        ("services: [a\n",
         "compose.yaml: invalid YAML at line 2, column 1: did not find expected ',' or ']'"),
        ("a: 1\na: 2\n", "compose.yaml: invalid YAML at line 2, column 1: mapping key 'a' already defined"),
        ("a: !!python/object/apply:os.system [x]\n",
         "compose.yaml: invalid YAML at line 1, column 4: the tag "
         "'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"),
    ],
)  # fmt: skip
def test_errors_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        load(tmp_path, {"compose.yaml": text})
    assert str(info.value) == message


def test_billion_laughs_is_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]")
    with pytest.raises(ComposeError, match="expand to more than"):
        load_yaml("\n".join(lines), "compose.yaml")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ComposeError, match="refers to the node that contains it"):
        load_yaml("a: &a [*a]", "compose.yaml")


def test_yaml_1_2_scalars() -> None:
    assert load_yaml("a: yes\np: 8080:80\nm: 0440\nd: 2024-01-01\n", "f") == {
        "a": "yes", "p": "8080:80", "m": 0o440, "d": "2024-01-01",
    }  # fmt: skip


def test_a_missing_required_variable_names_the_file_and_key(tmp_path: Path) -> None:
    files = {"compose.yaml": "services:\n  web:\n    image: ${TAG:?set TAG}\n"}
    with pytest.raises(InterpolationError) as info:
        load(tmp_path, files)
    assert (
        str(info.value)
        == "compose.yaml: services.web.image: required variable TAG is missing a value: set TAG"
    )


def test_override_values_are_interpolated(tmp_path: Path) -> None:
    tree = load(
        tmp_path,
        {
            "a.yaml": "services:\n  web:\n    image: a\n    ports: ['80:80']\n",
            "b.yaml": "services:\n  web:\n    ports: !override ['${P}:81']\n",
        },
        files=("a.yaml", "b.yaml"),
        environ={"P": "9"},
    )
    assert tree["services"]["web"]["ports"][0]["published"] == "9"


def test_project_name_given_must_be_valid_but_the_files_is_normalised(tmp_path: Path) -> None:
    files = {"compose.yaml": "name: My_App\nservices:\n  web:\n    image: a\n"}
    assert load(tmp_path, files)["name"] == "my_app"
    with pytest.raises(ComposeError, match=r'^invalid project name "My_App": must consist only of'):
        load(tmp_path, files, project_name="My_App")


def test_network_mode_service_counts_in_a_cycle(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services:\n  a:\n    image: a\n    network_mode: service:b\n"
        "  b:\n    image: b\n    depends_on: [a]\n"
    }
    with pytest.raises(ComposeError, match="dependency cycle: a -> b -> a"):
        load(tmp_path, files)


def test_interpolated_strings_at_typed_keys_are_cast_before_the_schema(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services:\n  web:\n    image: a\n    deploy:\n      replicas: ${N}\n    init: ${I}\n"
    }
    web = load(tmp_path, files, environ={"N": "3", "I": "true"})["services"]["web"]
    assert (web["deploy"]["replicas"], web["init"]) == (3, True)


def test_extends_from_another_directory_rebases_its_paths(tmp_path: Path) -> None:
    tree = load(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    extends: {file: lib/base.yaml, service: b}\n",
            "lib/base.yaml": "services:\n  b:\n    build: ./ctx\n    volumes: ['./conf:/conf']\n",
        },
    )
    web = tree["services"]["web"]
    assert web["build"]["context"] == str(tmp_path / "lib" / "ctx")
    assert web["volumes"][0]["source"] == str(tmp_path / "lib" / "conf")


def test_stdin_and_compose_file_with_separator(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("services:\n  web:\n    image: a\n")
    (tmp_path / "b.yaml").write_text("services:\n  web:\n    image: b\n")
    stdin = "services:\n  web:\n    image: c\n"
    read = lambda limit: stdin[:limit]  # noqa: E731
    assert load(tmp_path, {}, files=("a.yaml", "-"), read_stdin=read)["services"]["web"]["image"] == "c"
    with pytest.raises(ComposeError, match=r"^-: no standard input"):
        load(tmp_path, {}, files=("-",))
    env = {"COMPOSE_FILE": "a.yaml;b.yaml", "COMPOSE_PATH_SEPARATOR": ";"}
    assert load(tmp_path, {}, environ=env)["services"]["web"]["image"] == "b"
    with pytest.raises(ComposeError, match=r"^open .*missing.yaml: no such file or directory$"):
        load(tmp_path, {}, files=("missing.yaml",))


def test_env_files_replace_dotenv_and_project_directory_moves_it(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services:\n  web:\n    image: ${IMG:-none}\n",
        ".env": "IMG=dot\n",
        "other.env": "IMG=other\n",
        "elsewhere/.env": "IMG=elsewhere\n",
    }
    assert load(tmp_path, files)["services"]["web"]["image"] == "dot"
    assert load(tmp_path, files, env_files=("other.env",))["services"]["web"]["image"] == "other"
    tree = load(tmp_path, files, project_directory="elsewhere")
    assert (tree["name"], tree["services"]["web"]["image"]) == ("elsewhere", "elsewhere")


def test_no_configuration_file() -> None:
    with pytest.raises(ComposeError, match=r"^no configuration file provided: not found$"):
        load_tree(ProjectOptions(working_dir="/", environ={}))


def test_a_file_past_the_size_bound_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"^compose.yaml: the file is larger than 1000 bytes$"):
        load(tmp_path, {"compose.yaml": "services: {}\n" + "#" * 2000}, max_file_bytes=1000)


def test_include_depth_is_bounded(tmp_path: Path) -> None:
    files = {f"f{i}.yaml": f"include: [f{i + 1}.yaml]\n" for i in range(40)}
    files["f40.yaml"] = "services:\n  a:\n    image: a\n"
    with pytest.raises(ComposeError, match="include nested deeper than 16"):
        load(tmp_path, files, files=("f0.yaml",))


def test_aliases_are_copies() -> None:
    tree = load_yaml("a: &x {b: [1]}\nc: *x\n", "f")
    tree["c"]["b"].append(2)
    assert tree["a"] == {"b": [1]}


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(ComposeError, match="nests deeper than 100 levels"):
        load_yaml("a: " + "[" * 500 + "]" * 500, "compose.yaml")


def test_env_file_as_one_string_and_merged_with_a_list(tmp_path: Path) -> None:
    tree = load(
        tmp_path,
        {
            "a.yaml": "services:\n  web:\n    image: a\n    env_file: a.env\n",
            "b.yaml": "services:\n  web:\n    env_file: [b.env]\n    dns: 1.1.1.1\n",
            "a.env": "A=1\nB=1\n",
            "b.env": "B=2\n",
        },
        files=("a.yaml", "b.yaml"),
    )
    assert tree["services"]["web"]["environment"] == {"A": "1", "B": "2"}
    assert tree["services"]["web"]["dns"] == ["1.1.1.1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services:\n  web:\n    image: a\n    ports: [{published: 80}]\n",
         "compose.yaml: services.web.ports[0]: the port is missing a target"),
        ("services:\n  web:\n    image: a\n    volumes: [{type: bind, source: /x}]\n",
         "compose.yaml: services.web.volumes[0]: the volume is missing a mount target"),
        ("services:\n  web:\n    image: a\n    secrets: [{source: s, mode: abc}]\nsecrets:\n  s: {file: x}\n",
         'compose.yaml: services.web.secrets[0].mode: invalid mode "abc"'),
        ("services:\n  web:\n    extends: nope\n",
         'compose.yaml: services.web.extends: cannot find service "nope" in compose.yaml'),
    ],
)  # fmt: skip
def test_incomplete_entries_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        load(tmp_path, {"compose.yaml": text})
    assert str(info.value) == message


def test_a_missing_env_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"^env file .*/nope.env not found"):
        load(tmp_path, {"compose.yaml": "services:\n  web:\n    image: a\n    env_file: nope.env\n"})


def test_compose_file_from_dotenv(tmp_path: Path) -> None:
    files = {
        ".env": "COMPOSE_FILE=one.yaml:two.yaml\n",
        "one.yaml": "services:\n  web:\n    image: a\n",
        "two.yaml": "services:\n  web:\n    image: b\n",
    }
    assert load(tmp_path, files)["services"]["web"]["image"] == "b"
    assert load(tmp_path, files, environ={"COMPOSE_FILE": "one.yaml"})["services"]["web"]["image"] == "a"


def test_project_directory_is_where_the_files_are_found_when_none_are_named(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "compose.yaml").write_text("services:\n  web:\n    image: a\n")
    tree = load(tmp_path, {}, project_directory="app")
    assert (tree["name"], tree["services"]["web"]["image"]) == ("app", "a")
