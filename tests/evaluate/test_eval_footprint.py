"""`corrtrack eval` stays light: no torch / cv2 / scipy.optimize / pandas imported, peak memory <= 60 MB (issue 24)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: runs the CLI in this process and prints its peak resident memory (KB) and the heavy modules it imported
PROBE = """
import json, resource, sys
from corrtrack.cli import main
sys.argv = ["corrtrack", "eval", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
names = {m.split(".")[0] for m in sys.modules} | set(sys.modules)
heavy = sorted(names & {"torch", "cv2", "scipy.optimize", "pandas", "matplotlib", "motmetrics"})
print(json.dumps([code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, heavy]))
"""


#: starts argv[1:] from a fresh small process: a process started straight from pytest would report pytest's
#: own peak, as Linux keeps the peak resident set of the process image an exec replaced
LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def _compiled() -> None:
    """Byte-compile the package first, as any normal run leaves it: with PYTHONDONTWRITEBYTECODE set (as on
    CI) every import would compile corrtrack's sources again, which adds ~5 MB of compiler memory to the peak."""
    import compileall

    import corrtrack

    compileall.compile_dir(str(Path(corrtrack.__file__).parent), quiet=1)


def _probe(*args: str) -> tuple[int, float, list[str]]:
    _compiled()
    cmd = [sys.executable, "-c", LAUNCHER, sys.executable, "-c", PROBE, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    code, maxrss_kb, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    return code, maxrss_kb / 1024, heavy


def test_eval_on_the_official_case_imports_nothing_heavy_and_peaks_below_60_mb():
    from conftest import shared_path

    case = shared_path("cases", "poseval_case")
    code, mb, heavy = _probe(str(case / "gt"), str(case / "pred"), "--hota")
    assert code == 0
    assert heavy == []
    assert mb <= 60, f"corrtrack eval peaked at {mb:.1f} MB"


def test_eval_of_a_small_synthetic_case_imports_nothing_heavy(tmp_path):
    from conftest import make_sequence
    from corrtrack.formats import save_sequence

    for side, seed in (("gt", 1), ("pred", 2)):
        save_sequence(
            make_sequence(num_frames=6, persons=3, seed=seed), tmp_path / side / "000001_mpii_test.json", "posetrack18"
        )
    code, mb, heavy = _probe(str(tmp_path / "gt"), str(tmp_path / "pred"))
    assert code == 0 and heavy == []
    assert mb <= 60
