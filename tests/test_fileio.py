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


def test_stale_temporaries_of_a_killed_process_are_removed(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".out.json.corrtrack-{dead.pid}-abcd.json"
    stale.write_text("half")
    foreign = tmp_path / ".out.json.other"
    foreign.write_text("keep")
    write_json(tmp_path / "out.json", [1])
    assert not stale.exists() and foreign.exists()


def test_sigterm_removes_the_temporary_and_says_so(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys, time\n"
        "from corrtrack.fileio import atomic_path\n"
        "from corrtrack.cli import app, main\n"
        "@app.command('slow-write')\n"
        "def slow(out: str) -> None:\n"
        "    with atomic_path(out) as tmp:\n"
        "        tmp.write_text('x')\n"
        "        print('ready', flush=True)\n"
        "        time.sleep(30)\n"
        "sys.argv = ['corrtrack', 'slow-write', sys.argv[1]]\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "o.txt")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line == "ready", proc.stderr.read()
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143 and err.strip() == "error: terminated"
    assert list(tmp_path.iterdir()) == []
