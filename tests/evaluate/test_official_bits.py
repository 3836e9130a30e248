"""The MOT numbers equal the official tool's to the last bit, not only to 1e-9.

The official MOTP sums motmetrics' distance column with pandas (numpy's pairwise
summation, whose grouping depends on each row's position), and Prec / Rec are
``100 * (det / n)``; both are reproduced exactly.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from corrtrack.evaluate import evaluate_dirs
from corrtrack.evaluate.clearmot import mot_counts
from corrtrack.evaluate.posetrack import MOTCounts
from corrtrack.evaluate.prepare import prepare_sequence

mm = pytest.importorskip("motmetrics")


def _oracle(seq):
    from test_clearmot_oracle import oracle_accumulators

    return oracle_accumulators(seq)


@pytest.mark.parametrize("seed", range(12))
def test_motp_distance_sums_equal_pandas_sum_of_the_event_column(seed):
    from test_clearmot_oracle import random_pair

    rng = np.random.default_rng(seed)
    gt, pred = random_pair(seed, int(rng.integers(12, 40)), float(rng.random()), (0.0, 0.15, 0.5)[seed % 3])
    seq = prepare_sequence(gt, pred, "gt", "pred")
    accs = _oracle(seq)
    theirs = np.array([acc.events["D"].sum() for acc in accs])
    assert max(len(acc.events) for acc in accs) >= 16  # long enough for the pairwise grouping to matter
    np.testing.assert_array_equal(mot_counts(seq).sum_d_events, theirs)


def test_precision_and_recall_use_the_official_operation_order():
    # 100 * 51 / 80 = 63.75 exactly, 100 * (51 / 80) = 63.74999999999999: the official value
    c = MOTCounts()
    c.matches[:] = 51
    c.num_gt[:] = 80
    c.false_positives[:] = 29
    m = c.metrics()
    assert m["pre"][0] == 100 * (51 / 80) != 100 * 51 / 80
    assert m["rec"][0] == 100 * (51 / 80)


def _leaves(doc, path=""):
    if isinstance(doc, dict):
        return {k: v for key, value in doc.items() for k, v in _leaves(value, f"{path}/{key}").items()}
    if isinstance(doc, list):
        return {k: v for i, value in enumerate(doc) for k, v in _leaves(value, f"{path}[{i}]").items()}
    return {path: doc}


def test_official_files_equal_the_official_output_bit_for_bit():
    from conftest import shared_path

    case = shared_path("cases", "poseval_case")
    result = evaluate_dirs(case / "gt", case / "pred")
    files = result.official_files()
    assert len(files) == 6
    for name, doc in files.items():
        ours = _leaves(json.loads(json.dumps(doc)))
        theirs = _leaves(json.loads((case / "expected_json" / name).read_text()))
        assert ours.keys() == theirs.keys(), name
        for key, value in ours.items():
            other = theirs[key]
            if isinstance(value, float) and math.isnan(value):
                assert isinstance(other, float) and math.isnan(other), (name, key)
            else:
                assert value == other, (name, key, value, other)
