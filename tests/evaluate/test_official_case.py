"""corrtrack's evaluator equals the official PoseTrack evaluator on the shared case, to 1e-9."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corrtrack.evaluate import evaluate_dirs
from corrtrack.evaluate.api import JOINT_NAMES
from corrtrack.evaluate.report import format_tables


@pytest.fixture(scope="module")
def case_result(request):
    from conftest import shared_path

    case = shared_path("cases", "poseval_case")
    return case, evaluate_dirs(case / "gt", case / "pred")


def _expected(case, name):
    return json.loads((case / "expected_json" / name).read_text())


def test_ap_equals_official(case_result):
    case, r = case_result
    exp = _expected(case, "total_AP_metrics.json")
    assert [exp["names"][str(i)] for i in range(15)] == list(JOINT_NAMES)
    for key, ours in (("ap", r.ap.ap), ("pre", r.ap.pre), ("rec", r.ap.rec)):
        np.testing.assert_allclose(ours, exp[key], rtol=0, atol=1e-9)


def test_mot_equals_official_in_both_motp_accountings(case_result):
    case, r = case_result
    exp = _expected(case, "total_MOT_metrics.json")
    m = r.mot.metrics("motmetrics")
    for key in ("mota", "motp", "pre", "rec"):
        np.testing.assert_allclose(m[key], exp[key], rtol=0, atol=1e-9)
    legacy = _expected(case, "legacy_motmetrics-1.0.1_total_MOT_metrics.json")
    classic = r.mot.metrics("classic")
    for key in ("mota", "motp", "pre", "rec"):
        np.testing.assert_allclose(classic[key], legacy[key], rtol=0, atol=1e-9)


def test_per_sequence_values_equal_official(case_result):
    case, r = case_result
    for seq in r.sequences:
        ap = _expected(case, f"{seq.name}_AP_metrics.json")
        np.testing.assert_allclose(seq.ap.ap, ap["ap"], rtol=0, atol=1e-9)
        mot = _expected(case, f"{seq.name}_MOT_metrics.json")
        m = seq.mot.metrics("motmetrics")
        for key in ("mota", "motp", "pre", "rec"):
            np.testing.assert_allclose(m[key], mot[key], rtol=0, atol=1e-9)


def test_counts_equal_expected_mot_counts(case_result):
    case, r = case_result
    rows = [line.split() for line in (case / "expected_mot_counts.txt").read_text().splitlines()]
    rows = [row for row in rows if len(row) == 9 and row[2].isdigit()]
    assert len(rows) == 30
    by_seq = {s.name: s.mot for s in r.sequences}
    for seq, joint, gt, miss, fp, idsw, match, sum_ev, sum_mt in rows:
        c, j = by_seq[seq], JOINT_NAMES.index(joint)
        assert (c.num_gt[j], c.misses[j], c.false_positives[j], c.switches[j], c.matches[j]) == tuple(
            map(int, (gt, miss, fp, idsw, match))
        ), (seq, joint)
        assert abs(c.sum_d_events[j] - float(sum_ev)) < 5e-5 and abs(c.sum_d_matches[j] - float(sum_mt)) < 5e-5


def test_ap_denominators_equal_official(case_result):
    case, r = case_result
    line = next(x for x in (case / "expected_mot_counts.txt").read_text().splitlines() if x.startswith("AP denom"))
    expected = eval(line.split(":", 1)[1])  # a dict literal written by the official run
    assert {n: int(v) for n, v in zip(JOINT_NAMES, r.ap.num_gt)} == expected


def test_printed_tables_equal_official_print(case_result):
    case, r = case_result
    official = (case / "expected_output.txt").read_text().splitlines()
    ours = format_tables(r).splitlines()
    # every line we print (headers and both value rows) appears verbatim in the official output
    assert len(ours) == 7
    for line in ours:
        if line.startswith("&"):
            assert line in official, line


def test_rows_are_formatted_like_the_official_print():
    from corrtrack.evaluate.report import _row

    # cells are "%1.1f" right-aligned to five characters: wide values lose the leading space
    assert _row([86.5, 100.0, -12.34, 5.0]) == "& 86.5 &100.0 &-12.3 &  5.0 \\\\"
