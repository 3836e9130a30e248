"""DIS optical-flow correspondences: known shifts recovered, bad queries at confidence 0, usable by the tracker."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from corrtrack.config import ConfigError, override
from corrtrack.inference.flow_correspondences import FlowConfig, FlowCorrespondences, sample_bilinear
from corrtrack.interfaces import CorrespondenceModel
from corrtrack.poses import Poses
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker


def textured(h: int = 180, w: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (h // 4, w // 4, 3), dtype=np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)


def shifted(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return np.roll(np.roll(img, dy, axis=0), dx, axis=1)


def test_sample_bilinear_interpolates_and_clamps():
    field = np.arange(12, dtype=float).reshape(3, 4, 1)
    pts = np.array([[0.5, 0.0], [1.0, 1.5], [10.0, 10.0], [-3.0, 0.0]])
    np.testing.assert_allclose(sample_bilinear(field, pts)[:, 0], [0.5, 7.0, 11.0, 0.0])


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_a_known_shift_is_recovered(scale):
    model = FlowCorrespondences(FlowConfig(scale=scale))
    assert isinstance(model, CorrespondenceModel)
    a = textured()
    b = shifted(a, 5, -3)
    ha, hb = model.embed(a), model.embed(b)
    pts = np.array([[[100.0, 90.0], [160.0, 60.0], [np.nan, np.nan]], [[200.0, 120.0], [500.0, 10.0], [80, 50]]])
    out = model.propagate(ha, hb, pts)
    assert out.shape == (2, 3, 3)
    good = [(0, 0), (0, 1), (1, 0), (1, 2)]
    for n, k in good:
        np.testing.assert_allclose(out[n, k, :2], pts[n, k] + [5, -3], atol=1.0)
        assert out[n, k, 2] > 0.5
    assert out[0, 2, 2] == 0 and np.isnan(out[0, 2, :2]).all()  # no query
    assert out[1, 1, 2] == 0  # outside the source image
    np.testing.assert_allclose(out[1, 1, :2], [500, 10])


def test_confidence_drops_where_the_flow_is_inconsistent():
    a = textured(seed=1)
    b = textured(seed=2)  # unrelated content: forward and backward flows disagree
    model = FlowCorrespondences()
    ha, hb = model.embed(a), model.embed(b)
    rng = np.random.default_rng(0)
    pts = rng.uniform([20, 20], [300, 160], (1, 40, 2))
    unrelated = model.propagate(ha, hb, pts)[0, :, 2]
    same = model.propagate(ha, model.embed(shifted(a, 2, 2)), pts)[0, :, 2]
    assert np.median(same) > 0.8 and np.median(unrelated) < np.median(same) - 0.3
    plain = FlowCorrespondences(FlowConfig(forward_backward=False))
    assert (plain.propagate(plain.embed(a), plain.embed(b), pts)[0, :, 2] == 1).all()


def test_bad_handles_and_config():
    model = FlowCorrespondences()
    with pytest.raises(TypeError, match="own embed"):
        model.propagate(0, 1, np.zeros((1, 1, 2)))
    with pytest.raises(ValueError, match="RGB"):
        model.embed(np.zeros((4, 4, 4), np.uint8))
    a, b = model.embed(textured()), model.embed(textured(90, 160))
    with pytest.raises(ValueError, match="differ in size"):
        model.propagate(a, b, np.zeros((1, 1, 2)))
    with pytest.raises(ConfigError, match="scale"):
        override(FlowConfig(), ["scale=2"])
    assert override(FlowConfig(), ["preset=ultrafast"]).preset == "ultrafast"


def test_tracker_follows_a_moving_textured_patch():
    base = textured(180, 320, seed=3)
    kps = np.zeros((1, 17, 3))
    kps[0, :, 0] = np.linspace(60, 100, 17)
    kps[0, :, 1] = np.linspace(40, 140, 17)
    kps[0, :, 2] = 1
    tracker = CorrTrackTracker(FlowCorrespondences(), None, CorrTrackConfig(min_track_length=1))
    for t in range(6):
        img = shifted(base, 4 * t, 0)
        moved = kps.copy()
        moved[..., 0] += 4 * t
        out = tracker.step(t, img, Poses.create(moved, keypoint_scores=np.full((1, 17), 0.9)))
        assert out.track_ids.tolist() == [0]
