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
