from pathlib import Path

import pytest

from cove.config import DEFAULT_ROOT, load_config
from cove.errors import InvalidArgument


def test_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    config = load_config({"COVE_CONFIG": str(empty)})
    assert config.root == DEFAULT_ROOT
    assert config.storage_driver == "auto"


def test_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "cove.toml"
    file.write_text('root = "/srv/cove"\n[storage]\ndriver = "copy"\n[images]\nunpack_workers = 3\n')
    config = load_config({"COVE_CONFIG": str(file)})
    assert (config.root, config.storage_driver, config.unpack_workers) == (Path("/srv/cove"), "copy", 3)
    config = load_config({"COVE_CONFIG": str(file), "COVE_ROOT": "/x", "COVE_STORAGE_DRIVER": "overlayfs"})
    assert (config.root, config.storage_driver) == (Path("/x"), "overlayfs")
    assert config.config_file == file


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("bogus = 1", "unknown setting 'bogus'"),
        ("[storage]\nspeed = 1", "unknown setting 'storage.speed'"),
        ("[images]\nunpack_workers = 'many'", "must be a int"),
        ('root = "relative"', "absolute path"),
        ("root = [", "not valid TOML"),
        ('[storage]\ndriver = "zfs"', "unknown storage driver"),
    ],
)
def test_bad_files_are_explained(tmp_path: Path, text: str, why: str) -> None:
    file = tmp_path / "cove.toml"
    file.write_text(text)
    with pytest.raises(InvalidArgument, match=why):
        load_config({"COVE_CONFIG": str(file)})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_config({"COVE_CONFIG": str(tmp_path / "nope.toml")})
