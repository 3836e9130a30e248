import os
import stat

from corrtrack.fileio import atomic_path, write_json


def test_outputs_get_the_users_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644


def test_a_long_legal_name_can_be_written(tmp_path):
    name = "n" * 245 + ".json"
    write_json(tmp_path / name, [1])
    assert (tmp_path / name).read_text() == "[1]"


def test_a_failed_write_leaves_nothing(tmp_path):
    try:
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_unusable_outputs_are_one_clear_error(tmp_path):
    import pytest

    from corrtrack.errors import OutputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="a part of its folder is a file") as err:
        write_json(tmp_path / "file" / "a.json", [1])
    assert err.value.exit_code == 2
    with pytest.raises(OutputError, match="existing folder"):
        write_json(tmp_path, [1])
    with pytest.raises(OutputError, match="JSON cannot express"):
        write_json(tmp_path / "nan.json", {"x": float("nan")})
    assert not (tmp_path / "nan.json").exists()
