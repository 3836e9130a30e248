import numpy as np

from conftest import make_sequence
from corrtrack.poses import Poses


def test_absent_joints_are_exactly_zero_zero_zero():
    kps = np.array([[[0, 0, 0], [5, 0, 0], [0, 0, 1], [1, 2, 0]]], dtype=float)
    p = Poses.create(kps)
    assert p.present.tolist() == [[False, True, True, True]]


def test_slicing_and_concat_keep_all_fields():
    seq = make_sequence(num_frames=3, persons=4)
    p = seq[1].poses
    sub = p[[3, 1]]
    assert len(sub) == 2 and sub.track_ids.tolist() == [3, 1]
    assert np.array_equal(sub.keypoints[0], p.keypoints[3])
    both = Poses.concat([p, sub])
    assert len(both) == 6 and both.head_boxes.shape == (6, 4)
    assert p[np.array([True, False, True, False])].track_ids.tolist() == [0, 2]


def test_confidences_fall_back_to_presence():
    p = Poses.create(np.array([[[1, 1, 1], [0, 0, 0]]], float), keypoint_scores=np.array([[np.nan, np.nan]]))
    assert p.confidences.tolist() == [[1.0, 0.0]]


def test_tracks_group_by_id_in_frame_order():
    seq = make_sequence(num_frames=5, persons=3)
    seq[2].poses = seq[2].poses[[2, 0]]  # person 1 missing in frame 2
    tracks = seq.tracks()
    assert sorted(tracks) == [0, 1, 2]
    assert tracks[1].frame_indices.tolist() == [0, 1, 3, 4]
    assert tracks[2].person_indices.tolist() == [2, 2, 0, 2, 2]
    assert np.array_equal(tracks[0].keypoints[2], seq[2].poses.keypoints[1])


def test_empty_frames_and_sequences_are_normal():
    seq = make_sequence(num_frames=2, persons=0)
    idx, flat = seq.flatten()
    assert len(flat) == 0 and idx.shape == (0,)
    assert seq.tracks() == {}
    assert np.isnan(Poses.empty().keypoint_boxes()).shape == (0, 4)


def test_keypoint_boxes():
    kps = np.array([[[10, 20, 1], [30, 60, 1], [0, 0, 0]]], float)
    assert Poses.create(kps).keypoint_boxes().tolist() == [[10, 20, 20, 40]]


def test_scored_keypoints_put_confidence_in_the_third_channel():
    kps = np.array([[[1, 2, 1], [3, 4, 2], [0, 0, 0]]], float)
    scored = Poses.create(kps, keypoint_scores=np.array([[0.9, 0.2, 0.0]])).scored_keypoints
    assert scored.tolist() == [[[1, 2, 0.9], [3, 4, 0.2], [0, 0, 0.0]]]
    assert Poses.create(kps).scored_keypoints[0, :, 2].tolist() == [1.0, 1.0, 0.0]
