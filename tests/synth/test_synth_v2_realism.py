"""SynthTrack v2: plausible motion, every visible person accounted for, look-alikes that are not clones."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely

from corrtrack.synth.config import SynthConfig, parse_knobs, preset
from corrtrack.synth.scene import OCCLUDER_ID, SyntheticScene, silhouette_polygons

#: fastest plausible joint speed: a sprinting foot reaches about 13 m/s, 7.5 body heights per second
MAX_JOINT_SPEED = 7.5  # body heights per second


def _frames(name: str, seed: int, n: int, **knobs):
    cfg = preset(name, width=320, height=180, **knobs)
    return cfg, list(SyntheticScene(cfg, seed).frames(n))


@pytest.fixture(scope="module")
def busy_hard():
    # more actions, gestures and turns than the preset, so blends and turns really happen
    return _frames("hard", 0, 50, action_rate=0.6, gesture_rate=0.6, turn_rate=0.6)


def test_joint_motion_stays_within_a_real_gait(busy_hard):
    cfg, frames = busy_hard
    worst, pairs = 0.0, 0
    for prev, fr in itertools.pairwise(frames):
        # undo the camera (x_img = zoom * x_world + offset): what the person did, not the camera
        def world(f):
            return (f.poses.xy - f.camera[:2]) / f.camera[2], f.body_heights / f.camera[2]

        (w1, _), (w2, h2) = world(prev), world(fr)
        _common, a, b = np.intersect1d(fr.poses.track_ids, prev.poses.track_ids, return_indices=True)
        both = fr.poses.present[a] & prev.poses.present[b]
        d = np.linalg.norm(w2[a] - w1[b], axis=-1) / h2[a, None]
        pairs += int(both.sum())
        if both.any():
            worst = max(worst, float(d[both].max()))
    assert pairs > 1000
    assert worst <= MAX_JOINT_SPEED / cfg.fps, worst


def test_camera_moves_smoothly(busy_hard):
    _, frames = busy_hard
    offsets = np.array([f.camera[:2] for f in frames])
    step = np.diff(offsets, axis=0)
    assert np.abs(step).max() > 1.0  # it does move (pan and shake)
    # smooth: small accelerations, and the direction rarely flips (fresh random shake flips half the time)
    assert np.abs(np.diff(step, axis=0)).max() < 1.5
    assert (np.sign(step[1:, 0]) != np.sign(step[:-1, 0])).mean() < 0.15


def test_people_enter_only_across_an_edge_or_from_behind_something():
    entries = 0
    for seed in range(2):
        _, frames = _frames("hard", seed, 40)
        seen: set[int] = set(frames[0].poses.track_ids.tolist())
        for fr in frames[1:]:
            for i, tid in enumerate(fr.poses.track_ids.tolist()):
                if tid in seen:
                    continue
                seen.add(tid)
                entries += 1
                body = np.r_[0:3, 5:17]
                truncated = not fr.in_frame[i, body].all()
                assert truncated or fr.occluded[i].any(), f"track {tid} appeared fully visible inside the frame"
    assert entries > 0


def test_every_visible_person_is_annotated_or_ignored():
    # a person is accounted for when annotated or when its visible pixels lie under ignore regions; the
    # regions give up a one-pixel channel where they would otherwise enclose an annotated joint
    unaccounted, ignored_people, pixels, covered_pixels = 0, 0, 0, 0
    for name, seed in (("hard", 1), ("medium", 2), ("hard", 3)):
        _, frames = _frames(name, seed, 12)
        for fr in frames:
            buf = fr.id_buffer
            annotated = set(fr.buffer_ids.tolist())
            xy = fr.poses.xy[fr.poses.present]
            polys = [shapely.Polygon(p) for p in fr.ignore_regions]
            for pid in np.unique(buf).tolist():
                if pid in (0, OCCLUDER_ID) or pid in annotated:
                    continue
                ys, xs = np.nonzero(buf == pid)
                covered = np.zeros(len(xs), bool)
                for poly in polys:
                    covered |= shapely.contains_xy(poly, xs.astype(float), ys.astype(float))
                ignored_people += 1
                unaccounted += covered.mean() < 0.8
                pixels += len(covered)
                covered_pixels += int(covered.sum())
            for poly in polys:  # never over an annotated person's visible joint
                assert not shapely.contains_xy(poly, xy[:, 0], xy[:, 1]).any()
    assert ignored_people > 20
    assert unaccounted == 0
    assert covered_pixels / pixels > 0.98


def test_silhouette_polygons_cut_out_points_in_holes():
    mask = np.zeros((30, 30), bool)
    mask[5:25, 5:25] = True
    mask[12:18, 12:18] = False  # a hole with an annotated joint in it
    avoid = np.array([[15.0 + 100, 15.0 + 50]])
    polys = silhouette_polygons(mask, (100, 50), avoid)
    assert polys
    ys, xs = np.nonzero(mask)
    inside = np.zeros(len(xs), bool)
    for p in polys:
        poly = shapely.Polygon(p)
        assert not shapely.contains_xy(poly, avoid[:, 0], avoid[:, 1]).any()
        inside |= shapely.contains_xy(poly, xs + 100.0, ys + 50.0)
    assert inside.mean() > 0.9


def test_lookalikes_are_similar_but_not_clones():
    cfg = preset("hard", width=320, height=180, lookalike_fraction=0.9, people=(8, 8))
    scene = SyntheticScene(cfg, 4)
    groups: dict[int, list] = {}
    for a in scene.agents:
        groups.setdefault(a.look_group, []).append(a)
    pairs = [(g[0], b) for g in groups.values() for b in g[1:]]
    assert pairs
    for a, b in pairs:
        assert not np.array_equal(a.app.shirt, b.app.shirt)
        assert a.app.shirt_style.pattern in ("solid", "noise") or a.app.shirt_style.pattern == b.app.shirt_style.pattern
        # same palette: mean colours close (relative to the spread between unrelated people)
        assert np.abs(a.app.shirt.mean((0, 1)) - b.app.shirt.mean((0, 1))).max() < 70
    clones = SyntheticScene(preset("hard", width=320, height=180, lookalike_fraction=0.9, clone_lookalikes=True), 4)
    same = [a.app is b.app for g in _groups(clones).values() for a, b in itertools.pairwise(g)]
    assert same and all(same)


def _groups(scene: SyntheticScene) -> dict[int, list]:
    out: dict[int, list] = {}
    for a in scene.agents:
        out.setdefault(a.look_group, []).append(a)
    return out


def test_knobs_parse_through_the_config_module():
    assert parse_knobs(["people=4,7", "clone_lookalikes=true", "shake=2"]) == {
        "people": (4, 7),
        "clone_lookalikes": True,
        "shake": 2.0,
    }
    with pytest.raises(ValueError, match="bad knob 'wings=2'"):
        parse_knobs(["wings=2"])
    with pytest.raises(ValueError, match="bad value for knob 'people'"):
        parse_knobs(["people=3"])
    with pytest.raises(ValueError, match="bad value for knob 'crossing_rate'"):
        parse_knobs(["crossing_rate=2"])
    from corrtrack.config import source_of

    assert all(source_of(SynthConfig(), f) for f in SynthConfig.__dataclass_fields__)


def test_actions_keep_feet_or_seat_on_the_ground_and_lower_the_body():
    from corrtrack.synth.agents import ACTIONS, Agent
    from corrtrack.synth.appearance import Appearance
    from corrtrack.synth.body import BodyShape, body_points

    rng = np.random.default_rng(0)
    agent = Agent(0, BodyShape(), Appearance.random(rng), 1.0, 0.0, 0.0, 0.0, 0.02, False)
    standing = body_points(agent.shape, agent._action("stop"))
    assert standing[:, 1].min() == pytest.approx(0.0)
    hips = {}
    for name in ACTIONS:
        agent.timer, agent.duration = 5, 10  # the middle of a jump
        pts = body_points(agent.shape, agent._action(name))
        assert pts[:, 1].min() >= -1e-9  # nothing below the floor
        hips[name] = pts[11, 1]
        if name != "jump":
            assert pts[:, 1].min() == pytest.approx(0.0)  # something touches it
    assert hips["sit"] < 0.25 and hips["crouch"] < 0.6 * standing[11, 1] and hips["bend"] < standing[11, 1]
    assert hips["jump"] > standing[11, 1]  # airborne in the middle of the jump
