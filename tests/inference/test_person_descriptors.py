"""Person descriptors for re-identification: YOLO feature maps at the joints, colour histograms, the wrapper."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from corrtrack.errors import CorrtrackError
from corrtrack.inference.person_descriptors import (
    ColourConfig,
    ColourDescriber,
    DescribedCorrespondences,
    YoloFeatureDescriber,
    colour_descriptors,
    person_descriptors,
    sample_level,
)
from corrtrack.inference.yolo import YoloFeatures
from corrtrack.interfaces import CorrespondenceModel
from corrtrack.testing import ZeroMotionCorrespondences


def test_bilinear_samples_hit_cell_values_and_interpolate_between() -> None:
    fmap = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    grid = np.array([[1.0, 2.0], [1.5, 0.0], [1.5, 0.5], [np.nan, 1.0], [-5.0, 9.0]])
    out = sample_level(fmap, grid)
    np.testing.assert_allclose(out[0], fmap[:, 2, 1])
    np.testing.assert_allclose(out[1], (fmap[:, 0, 1] + fmap[:, 0, 2]) / 2)
    np.testing.assert_allclose(out[2], fmap[:, :2, 1:3].mean((1, 2)))
    np.testing.assert_array_equal(out[3], [0.0, 0.0])  # no point, no sample
    np.testing.assert_allclose(out[4], fmap[:, 2, 0])  # clamped to the corner cell


def _features() -> YoloFeatures:
    """Three levels where cell (x, y) holds a one-hot of its column: people in other columns are orthogonal."""
    maps = []
    for stride in (8, 16, 32):
        w = 64 // stride
        maps.append(np.tile(np.eye(w)[:, None, :], (1, 4, 1)))  # (C=w, h=4, w)
    return YoloFeatures(tuple(maps), 1.0, (0.0, 0.0))


def test_person_descriptors_average_the_joints_and_tell_columns_apart() -> None:
    f = _features()
    # person 0's joints at the centres of stride-16 column 0, person 1's at column 2, person 2 has none
    pts = np.full((3, 4, 2), np.nan)
    pts[0, :2] = [[8.0, 8.0], [8.0, 40.0]]
    pts[1, :3] = [[40.0, 8.0], [40.0, 24.0], [40.0, 56.0]]
    d = person_descriptors(f, pts, ("p4",))
    np.testing.assert_allclose(d[:2], np.eye(4)[[0, 2]])
    np.testing.assert_array_equal(d[2], np.zeros(4))
    both = person_descriptors(f, pts, ("p3", "p4"))
    np.testing.assert_allclose(np.linalg.norm(both[:2], axis=1), 1.0)
    assert abs(both[0] @ both[1]) < 1e-9 and np.isclose(both[0] @ person_descriptors(f, pts[[0]], ("p3", "p4"))[0], 1)
    # a joint outside the letterboxed input does not count
    far = pts[[0]].copy()
    far[0, 2] = [500.0, 8.0]
    np.testing.assert_allclose(person_descriptors(f, far, ("p4",)), d[[0]])
    with pytest.raises(CorrtrackError, match="feature levels"):
        person_descriptors(f, pts, ("p6",))
    with pytest.raises(CorrtrackError, match="points must be"):
        person_descriptors(f, pts[0], ("p4",))


def _two_people() -> tuple[np.ndarray, np.ndarray]:
    image = np.full((120, 160, 3), 255, np.uint8)
    image[10:60, 10:50] = (200, 30, 30)  # red shirt
    image[60:110, 10:50] = (30, 30, 200)  # blue trousers
    image[10:60, 100:140] = (30, 160, 30)  # green shirt
    image[60:110, 100:140] = (30, 30, 200)  # blue trousers
    xs = np.array([[15.0, 45.0], [105.0, 135.0]])
    pts = np.stack([np.stack([np.repeat(x, 3), np.tile([12.0, 60.0, 108.0], 2)], -1) for x in xs])
    return image, pts


def test_colour_descriptors_match_the_same_clothes_and_not_others() -> None:
    image, pts = _two_people()
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    d = colour_descriptors(hsv, pts)
    assert d.shape == (2, 2 * 8 * 8)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    shifted = colour_descriptors(hsv, pts[[0]] + [2.0, 1.0])  # the same person a little off
    assert shifted[0] @ d[0] > 0.95
    assert d[0] @ d[1] < 0.75  # the trousers agree, the shirts do not
    # fewer than two joints, or a box outside the frame: zeros
    one = np.full((2, 6, 2), np.nan)
    one[0, 0] = [20.0, 20.0]
    one[1, :2] = [[300.0, 300.0], [310.0, 340.0]]
    np.testing.assert_array_equal(colour_descriptors(hsv, one), np.zeros((2, 128)))
    with pytest.raises(ValueError, match="min_aspect"):
        ColourConfig(min_aspect=0)


def test_described_correspondences_propagate_as_the_base_and_describe_with_the_describer() -> None:
    image, pts = _two_people()
    model = DescribedCorrespondences(ZeroMotionCorrespondences(), ColourDescriber())
    assert isinstance(model, CorrespondenceModel)
    a, b = model.embed(image), model.embed(image)
    np.testing.assert_array_equal(model.propagate(a, b, pts)[..., :2], pts)
    np.testing.assert_allclose(model.describe(b, pts), colour_descriptors(cv2.cvtColor(image, cv2.COLOR_RGB2HSV), pts))
    seen = []
    yolo = DescribedCorrespondences(
        ZeroMotionCorrespondences(), YoloFeatureDescriber(lambda im: seen.append(im) or _features())
    )
    h = yolo.embed(image)
    assert seen == [image] and yolo.describe(h, pts).shape == (2, 4)
    with pytest.raises(CorrtrackError, match="feature levels"):
        YoloFeatureDescriber(lambda im: _features(), ())
