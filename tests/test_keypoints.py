import numpy as np

from corrtrack.keypoints import COCO17, EVAL_GROUPS, POSETRACK17, POSETRACK18, remap_index, remap_keypoints


def test_posetrack18_order_matches_the_official_files():
    assert POSETRACK18.joints[:5] == ("nose", "head_bottom", "head_top", "left_ear", "right_ear")
    assert POSETRACK18.joints[-2:] == ("left_ankle", "right_ankle")
    assert POSETRACK18.num_joints == 17


def test_mapping_to_the_15_evaluation_joints():
    # method.md 7.2: nose->13, head_bottom->12, head_top->14, l_sho->9, r_ank->0 ...
    idx = remap_index(POSETRACK18, POSETRACK17)
    assert idx.tolist() == [16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2]
    assert -1 not in idx


def test_coco_shares_all_slots_but_the_head():
    idx = remap_index(POSETRACK18, COCO17)
    assert idx.tolist() == [0, -1, -1] + list(range(3, 17))


def test_flip_is_an_involution_that_swaps_left_and_right():
    perm = POSETRACK18.flip_permutation
    assert np.array_equal(perm[perm], np.arange(17))
    assert POSETRACK18.joints[perm[POSETRACK18.index("left_wrist")]] == "right_wrist"
    assert perm[0] == 0 and perm[1] == 1 and perm[2] == 2


def test_remap_keypoints_round_trip_keeps_shared_joints():
    kps = np.random.default_rng(0).uniform(1, 9, size=(3, 17, 3))
    back = remap_keypoints(remap_keypoints(kps, POSETRACK18, POSETRACK17), POSETRACK17, POSETRACK18)
    keep = remap_index(POSETRACK18, POSETRACK17)
    assert np.array_equal(back[:, keep], kps[:, keep])
    assert np.all(back[:, [3, 4]] == 0)


def test_eval_groups_cover_the_15_joints_once():
    names = [n for group in EVAL_GROUPS.values() for n in group]
    assert sorted(names) == sorted(POSETRACK17.joints)


def test_skeleton_refers_to_real_joints():
    for lay in (POSETRACK18, COCO17, POSETRACK17):
        assert lay.skeleton_index.max() < lay.num_joints
