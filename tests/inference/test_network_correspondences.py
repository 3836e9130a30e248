"""NetworkCorrespondences: letterbox round trip, batched = per-track loop, refinement modes, loading."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.inference.correspondences import (
    CorrEmbedding,
    NetworkCorrespondences,
    from_letterbox,
    letterbox_image,
    letterbox_matrix,
    to_letterbox,
)
from corrtrack.interfaces import CorrespondenceModel
from corrtrack.models.checkpoints import checkpoint_metadata, save_checkpoint, state_dict_sha256
from corrtrack.models.correspondence_net import CorrespondenceNet, correspondence_config
from corrtrack.models.windowed_refinement import window_origins
from reference_propagate import propagate

torch.set_num_threads(1)


def small_net(size: int = 64, seed: int = 0, refiner_affinity: str = "raw") -> CorrespondenceNet:
    torch.manual_seed(seed)
    cfg = dataclasses.replace(
        correspondence_config("tiny"), input_size=size, width=0.0625, refiner_affinity=refiner_affinity
    )
    return CorrespondenceNet(cfg).eval()


def textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def model() -> NetworkCorrespondences:
    return NetworkCorrespondences(small_net())


def queries(n: int, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = np.stack([rng.uniform(0, w - 1, (n, 17)), rng.uniform(0, h - 1, (n, 17))], -1)
    pts[0, 3] = np.nan
    return pts


@pytest.mark.parametrize("shape", [(360, 640), (640, 360), (101, 77), (64, 64)])
def test_letterbox_round_trip_is_exact(shape: tuple[int, int]) -> None:
    h, w = shape
    m = letterbox_matrix(h, w, 512)
    rng = np.random.default_rng(1)
    p = rng.uniform(-5, max(h, w) + 5, (50, 17, 2))
    back = from_letterbox(to_letterbox(p, m), m)
    np.testing.assert_allclose(back, p, rtol=0, atol=1e-9)
    # the pixel (W // 2, H // 2) is the canvas centre; the scale is isotropic and fits the long side
    np.testing.assert_allclose(to_letterbox(np.array([w // 2, h // 2]), m), [256, 256])
    assert m[0, 0] == m[1, 1] == 512 / max(h, w)


def test_letterbox_image_puts_pixels_where_the_matrix_says() -> None:
    img = np.zeros((90, 160, 3), np.uint8)
    img[40:50, 100:110] = 255  # a white square centred on (104.5, 44.5)
    canvas, m = letterbox_image(img, 256)
    assert canvas.shape == (256, 256, 3)
    ys, xs = np.nonzero(canvas[..., 0] > 128)
    centre = to_letterbox(np.array([104.5, 44.5]), m)
    assert abs(xs.mean() - centre[0]) < 1.0 and abs(ys.mean() - centre[1]) < 1.0
    # the padding rows above and below the image stay black
    top = int(m[1, 2]) - 1
    assert canvas[:top].max() == 0 and canvas[256 - top :].max() == 0
    with pytest.raises(CorrtrackError, match="uint8 RGB"):
        letterbox_image(img.astype(np.float32), 256)


def test_is_a_correspondence_model(model: NetworkCorrespondences) -> None:
    assert isinstance(model, CorrespondenceModel)
    h = model.embed(textured(48, 80, 0))
    assert isinstance(h, CorrEmbedding) and h.features.shape == (1, 32, 16, 16)


@pytest.mark.parametrize("refinement", ["full", "windowed", "none", "gated"])
def test_batched_equals_per_track_loop(refinement: str) -> None:
    m = NetworkCorrespondences(small_net(), refinement=refinement, window_margin=2)
    a, b = textured(48, 80, 1), textured(48, 80, 2)
    ea, eb = m.embed(a), m.embed(b)
    pts = queries(4, 48, 80, 3)
    pts[2, :, 0] = pts[2, :, 0] * 0.3  # a track on the left: its window differs from the others'
    pts[3, :, :] = pts[3, :, :] * 0.2  # a small pose: alone it would get a smaller window
    batched = m.propagate(ea, eb, pts)
    assert batched.shape == (4, 17, 3)
    if refinement == "windowed":  # one call: one window side, that of the largest pose; use it for each track too
        assert m.last_window_side is not None
        m = NetworkCorrespondences(m.net, refinement="windowed", window_margin=2, window_min_side=m.last_window_side)
    for i in range(4):
        single = m.propagate(ea, eb, pts[i : i + 1])[0]
        np.testing.assert_allclose(batched[i], single, atol=1e-5, equal_nan=True)
        if refinement == "none":  # per query: any K works without the refiner
            for j in range(17):
                one = m.propagate(ea, eb, pts[i : i + 1, j : j + 1])[0, 0]
                np.testing.assert_allclose(batched[i, j], one, atol=1e-6, equal_nan=True)


def test_full_refinement_equals_a_per_query_loop(model: NetworkCorrespondences) -> None:
    """The authors' loop: one affinity map per joint (its own correlation), then the refiner once per track."""
    a, b = textured(48, 80, 18), textured(48, 80, 19)
    ea, eb = model.embed(a), model.embed(b)
    pts = queries(3, 48, 80, 20)
    grid = model.grid_queries(ea, pts)
    batched = model.propagate_grid(ea, eb, grid)
    net = model.net
    with torch.no_grad():
        for i in range(3):
            maps = []
            for j in range(17):
                q = torch.as_tensor(grid[i : i + 1, j : j + 1])
                maps.append(net.correlate(ea.features, eb.features, q))
            prob = torch.sigmoid(net.refine(ea.features, eb.features, torch.cat(maps, 1)))[0]
            for j in range(17):
                if not np.isfinite(grid[i, j]).all():
                    assert batched[i, j, 2] == 0 and np.isnan(batched[i, j, :2]).all()
                    continue
                y, x = np.unravel_index(int(prob[j].argmax()), prob[j].shape)
                np.testing.assert_allclose(batched[i, j], np.array([x, y, float(prob[j, y, x])]), atol=1e-6)


def test_matches_the_network_on_the_grid(model: NetworkCorrespondences) -> None:
    """propagate = letterbox -> floor(p/4) queries -> network arg-max -> 4x -> inverse letterbox."""
    a, b = textured(60, 40, 4), textured(60, 40, 5)
    ea, eb = model.embed(a), model.embed(b)
    pts = queries(2, 60, 40, 6)
    got = model.propagate(ea, eb, pts)
    ma = letterbox_matrix(60, 40, 64)
    grid = to_letterbox(pts, ma) / 4
    ref = propagate(model.net, ea.features, eb.features, torch.as_tensor(grid)).double().numpy()
    xy = from_letterbox(ref[..., :2] * 4, letterbox_matrix(60, 40, 64))
    inside = (xy[..., 0] >= 0) & (xy[..., 0] <= 39) & (xy[..., 1] >= 0) & (xy[..., 1] <= 59)
    np.testing.assert_allclose(got[..., :2], xy, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got[..., 2], np.where(inside, ref[..., 2], 0), atol=1e-7)
    # the embedding of the handle is the network's embedding of the letter-boxed frame
    canvas, _ = letterbox_image(a, 64)
    t = torch.from_numpy(canvas).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        torch.testing.assert_close(ea.features, model.net.embed(t))


def test_no_query_and_outside_queries_get_zero_confidence(model: NetworkCorrespondences) -> None:
    a = textured(48, 80, 7)
    ea = model.embed(a)
    pts = queries(1, 48, 80, 8)
    pts[0, 0] = [-3.0, 10.0]  # left of the image (inside the canvas padding band? no: outside the image)
    pts[0, 1] = [10.0, 48.5]  # below the last row
    out = model.propagate(ea, ea, pts)
    assert np.isnan(out[0, [0, 1, 3], :2]).all()
    assert (out[0, [0, 1, 3], 2] == 0).all()
    assert np.isfinite(out[0, 4:, :2]).all() and (out[0, :, 2] >= 0).all() and (out[0, :, 2] <= 1).all()
    empty = model.propagate(ea, ea, np.zeros((0, 17, 2)))
    assert empty.shape == (0, 17, 3)
    with pytest.raises(CorrtrackError, match="17 query joints"):
        model.propagate(ea, ea, np.zeros((1, 5, 2)))
    with pytest.raises(CorrtrackError, match=r"\(N, K, 2\)"):
        model.propagate(ea, ea, np.zeros((17, 2)))
    with pytest.raises(TypeError):
        model.propagate(0, ea, pts)  # type: ignore[arg-type]


def test_without_refinement_a_frame_matches_itself() -> None:
    """l2-normalised patches correlate best with themselves: the affinity arg-max of A vs A is the query cell."""
    m = NetworkCorrespondences(small_net(seed=3), refinement="none")
    a = textured(64, 64, 9)
    ea = m.embed(a)
    pts = queries(3, 64, 64, 10)
    out = m.propagate(ea, ea, pts)
    ok = np.isfinite(pts).all(-1)
    cell = np.floor(pts / 4) * 4  # 64x64 image = the 64 canvas: grid cell corner in image pixels
    np.testing.assert_allclose(out[ok][:, :2], cell[ok], atol=1e-9)
    # any number of queries per person works without the refiner
    assert m.propagate(ea, ea, pts[:, :5]).shape == (3, 5, 3)


def test_unrefined_confidence_is_the_softmax_mass_around_the_argmax() -> None:
    """refinement none: confidence = sum of the affinity map over the (2w+1)^2 cells around its arg-max (clipped)."""
    net = small_net(seed=5)
    a, b = textured(48, 80, 14), textured(48, 80, 15)
    pts = queries(3, 48, 80, 16)
    for window in (0, 1, 2):
        m = NetworkCorrespondences(net, refinement="none", unrefined_window=window)
        ea, eb = m.embed(a), m.embed(b)
        out = m.propagate_grid(ea, eb, m.grid_queries(ea, pts))
        maps = m.net.correlate(ea.features, eb.features, torch.as_tensor(m.grid_queries(ea, pts))).numpy()
        for i, j in np.ndindex(*out.shape[:2]):
            if not np.isfinite(pts[i, j]).all():
                assert out[i, j, 2] == 0
                continue
            x, y = int(out[i, j, 0]), int(out[i, j, 1])
            g = maps[i, j]
            assert g[y, x] == g.max()
            expected = g[max(0, y - window) : y + window + 1, max(0, x - window) : x + window + 1].sum()
            assert out[i, j, 2] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    with pytest.raises(ValueError, match="unrefined_window"):
        NetworkCorrespondences(net, refinement="none", unrefined_window=-1)


@pytest.mark.parametrize("refiner_affinity", ["raw", "peak"])
def test_windowed_with_a_whole_grid_window_equals_full(refiner_affinity: str) -> None:
    net = small_net(seed=4, refiner_affinity=refiner_affinity)
    full = NetworkCorrespondences(net, refinement="full")
    wide = NetworkCorrespondences(net, refinement="windowed", window_margin=100)
    a, b = textured(48, 80, 11), textured(48, 80, 12)
    ea, eb = full.embed(a), full.embed(b)
    pts = queries(3, 48, 80, 13)
    np.testing.assert_allclose(wide.propagate(ea, eb, pts), full.propagate(ea, eb, pts), atol=1e-6, equal_nan=True)
    assert wide.last_window_side == 16


def test_peak_normalised_refiner_input() -> None:
    """refiner_affinity='peak': the refiner sees each affinity map divided by its maximum (an all-zero map stays 0)."""
    raw, peak = small_net(seed=6), small_net(seed=6, refiner_affinity="peak")
    peak.load_state_dict(raw.state_dict())
    fA, fB = torch.randn(1, 32, 16, 16), torch.randn(1, 32, 16, 16)
    aff = torch.rand(2, 17, 16, 16) * 1e-3
    aff[1, 3] = 0
    scaled = aff / aff.flatten(2).amax(-1).clamp(min=1e-30)[..., None, None]
    torch.testing.assert_close(peak.refine(fA, fB, aff), raw.refine(fA, fB, scaled))
    assert not torch.allclose(peak.refine(fA, fB, aff), raw.refine(fA, fB, aff))


def test_window_origins_cover_the_queries() -> None:
    q = torch.tensor([[[10.0, 12.0], [14.0, 20.0]], [[50.0, 3.0], [60.0, 7.0]]])
    x0, y0, side = window_origins(q, 64, margin=4)
    assert side == 24  # extent 11 (+1) + 8, rounded up to 8
    for i in range(2):
        lo = q[i].min(0).values
        hi = q[i].max(0).values
        assert x0[i] <= lo[0] and x0[i] + side > hi[0] and y0[i] <= lo[1] and y0[i] + side > hi[1]
        assert 0 <= x0[i] <= 64 - side and 0 <= y0[i] <= 64 - side


def test_windowed_finds_the_same_points_on_a_shifted_frame() -> None:
    """A SynthTrack frame and a copy shifted 16 px (1.6 grid cells): the bundled network's windowed refinement
    finds the shifted visible joints as full refinement does, and both beat zero motion."""
    from corrtrack.synth.dataset import SequenceSpec, render_sequence_frames

    shift = 16
    full = NetworkCorrespondences.from_bundled(refinement="full")
    win = NetworkCorrespondences.from_bundled(refinement="windowed")
    errors_full, errors_win, apart = [], [], []
    for seed in (7, 8):
        frames, seq, _, _ = render_sequence_frames(SequenceSpec("val", 0, "easy", 1, seed))
        image = frames[0]
        a, b = image[:, shift:], image[:, :-shift]  # b shows a's content `shift` px further right
        kps = seq.frames[0].poses.keypoints
        pts = kps[..., :2].astype(float) - [shift, 0]
        usable = (kps[..., 2] > 0) & (pts[..., 0] > 20) & (pts[..., 0] < a.shape[1] - 2 * shift)
        pts[~usable] = np.nan
        ea, eb = full.embed(a), full.embed(b)
        out_full, out_win = full.propagate(ea, eb, pts), win.propagate(ea, eb, pts)
        assert win.last_window_side is not None and win.last_window_side < 64  # a real window, not the grid
        target = pts[usable] + [shift, 0]
        errors_full.append(np.linalg.norm(out_full[usable][:, :2] - target, axis=-1))
        errors_win.append(np.linalg.norm(out_win[usable][:, :2] - target, axis=-1))
        apart.append(np.linalg.norm(out_win[usable][:, :2] - out_full[usable][:, :2], axis=-1))
    ef, ew, d = np.concatenate(errors_full), np.concatenate(errors_win), np.concatenate(apart)
    assert len(ef) >= 40
    assert np.median(ef) < shift and np.median(ew) < shift  # zero motion is `shift` px off everywhere
    assert np.mean(ew < 15) >= np.mean(ef < 15) - 0.1
    assert np.mean(d < 20) >= 0.8


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    net = small_net(seed=6)
    meta = checkpoint_metadata(net.cfg, joint_layout="posetrack18", training_data="none (test)", command="test")
    save_checkpoint(tmp_path / "c.pt", net, meta)
    loaded = NetworkCorrespondences.from_checkpoint(tmp_path / "c.pt")
    ref = NetworkCorrespondences(net)
    a, b = textured(48, 80, 15), textured(48, 80, 16)
    pts = queries(2, 48, 80, 17)
    np.testing.assert_allclose(
        loaded.propagate(loaded.embed(a), loaded.embed(b), pts),
        ref.propagate(ref.embed(a), ref.embed(b), pts),
        atol=1e-6,
        equal_nan=True,
    )
    with pytest.raises(CorrtrackError):
        NetworkCorrespondences.from_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CorrtrackError, match="cuda"):
        if torch.cuda.is_available():
            raise CorrtrackError("cuda is available here; nothing to test")
        NetworkCorrespondences(net, device="cuda")


def test_confidence_maps_peak_where_propagate_says(model: NetworkCorrespondences) -> None:
    a, b = textured(48, 80, 21), textured(48, 80, 22)
    ea, eb = model.embed(a), model.embed(b)
    pts = queries(2, 48, 80, 23)
    maps = model.confidence_maps(ea, eb, pts)
    grid = model.propagate_grid(ea, eb, model.grid_queries(ea, pts))
    assert maps.shape == (2, 17, 16, 16)
    flat = maps.reshape(2, 17, -1)
    np.testing.assert_allclose(flat.max(-1), grid[..., 2], atol=1e-6)
    assert (maps[0, 3] == 0).all()  # the NaN query


def test_show_corr_picture(tmp_path: Path, model: NetworkCorrespondences) -> None:
    from corrtrack.render_correspondences import render_correspondences

    a, b = textured(48, 80, 24), textured(48, 80, 25)
    pts = queries(2, 48, 80, 26)
    res = render_correspondences(a, b, pts, model, tmp_path / "c.png", joints=(0, 5, 9), title="test")
    png = (tmp_path / "c.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 500_000
    assert res["correspondences"].shape == (2, 17, 3)
    with pytest.raises(CorrtrackError, match=r"0\.\.16"):
        render_correspondences(a, b, pts, model, tmp_path / "d.png", joints=(17,))


def test_bundled_weights_match_their_metadata() -> None:
    from importlib import resources

    root = resources.files("corrtrack") / "data"
    weights = Path(str(root / "corr_tiny.pt"))
    doc = json.loads(Path(str(root / "corr_tiny.json")).read_text())
    assert weights.stat().st_size <= 10 * 2**20
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == doc["sha256_file"]
    m = NetworkCorrespondences.from_bundled()
    assert m.net_config.name == doc["config"]["values"]["name"] == "tiny"
    assert m.size == doc["input_size"]["width"]
    sd = {k: v.half() if v.is_floating_point() else v for k, v in m.net.state_dict().items()}
    assert state_dict_sha256(sd) == doc["sha256_tensors"]
    for key in ("training_data", "command"):
        assert doc[key]


@pytest.mark.parametrize("refinement", ["full", "windowed", "none"])
def test_peak_options_pass_through_every_refinement(refinement: str) -> None:
    """subcell moves each peak by less than a cell; a very wide prior changes nothing; a narrow one pulls peaks in."""
    net = small_net(seed=5)
    plain = NetworkCorrespondences(net, refinement=refinement)
    a, b = textured(48, 80, 21), textured(48, 80, 22)
    ea, eb = plain.embed(a), plain.embed(b)
    pts = queries(3, 48, 80, 23)
    base = plain.propagate(ea, eb, pts)
    cell = 80 / plain.grid  # image pixels per grid cell (the long side fills the canvas)
    sub = NetworkCorrespondences(net, refinement=refinement, subcell="centroid").propagate(ea, eb, pts)
    ok = np.isfinite(base[..., 0])
    assert (np.abs(sub[..., :2] - base[..., :2])[ok] <= cell + 1e-6).all()
    np.testing.assert_array_equal(sub[..., 2], base[..., 2])
    wide = NetworkCorrespondences(net, refinement=refinement, prior_sigma=1e6).propagate(ea, eb, pts)
    np.testing.assert_allclose(wide, base, equal_nan=True)
    narrow = NetworkCorrespondences(net, refinement=refinement, prior_sigma=0.3).propagate(ea, eb, pts)
    d_base = np.linalg.norm(base[..., :2] - pts, axis=-1)[ok]
    d_narrow = np.linalg.norm(narrow[..., :2] - pts, axis=-1)[ok]
    assert d_narrow.mean() < d_base.mean() and (d_narrow <= 2 * cell).all()
    with pytest.raises(ValueError, match="prior_sigma"):
        NetworkCorrespondences(net, prior_sigma=-1.0)


@pytest.mark.parametrize("refinement", ["none", "full"])
def test_cycle_confidence_is_the_peak_when_the_match_returns(refinement: str) -> None:
    """'cycle' (issue #23) on a frame matched with itself: every query returns to its cell (unrefined arg-max),
    so the confidence is the map's own; the positions are always the peak's."""
    net = small_net(seed=3)
    peak = NetworkCorrespondences(net, refinement=refinement)
    cycle = NetworkCorrespondences(net, refinement=refinement, confidence="cycle")
    ea = peak.embed(textured(64, 64, 9))
    pts = queries(3, 64, 64, 10)
    ok = np.isfinite(pts).all(-1)
    out, ref = cycle.propagate(ea, ea, pts), peak.propagate(ea, ea, pts)
    np.testing.assert_allclose(out[..., :2][ok], ref[..., :2][ok])
    if refinement == "none":
        np.testing.assert_allclose(out[..., 2], ref[..., 2], atol=1e-12)
    assert (out[..., 2] <= ref[..., 2] + 1e-12).all()
    with pytest.raises(ValueError, match="confidence"):
        NetworkCorrespondences(net, confidence="sometimes")
    with pytest.raises(ValueError, match="cycle_sigma"):
        NetworkCorrespondences(net, confidence="cycle", cycle_sigma=0)


def test_cycle_confidence_drops_when_the_way_back_leads_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every affinity map peaks at cell (0, 0) (as a joint hidden under an occluder matches the occluder): the way
    back from (0, 0) leads to (0, 0), so only a query in that cell keeps its confidence; the others fall by the
    Gaussian of their distance in cells."""
    net = small_net(seed=3)
    cycle = NetworkCorrespondences(net, refinement="none", confidence="cycle", cycle_sigma=1.0)

    def corner(fA: torch.Tensor, fB: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        maps = torch.zeros(*q.shape[:2], *fB.shape[2:], dtype=fB.dtype)
        maps[..., 0, 0] = 1.0
        return maps

    monkeypatch.setattr(cycle.runner, "correlate", corner)
    ea = cycle.embed(textured(64, 64, 9))
    grid = np.array([[[0.5, 0.5], [3.2, 0.1], [6.9, 8.0]]])  # cells (0, 0), (3, 0), (6, 8)
    out = cycle.propagate(ea, ea, grid * 4)
    # the unrefined confidence is 1 (all of the map's mass lies at the arg-max), times exp(-d^2 / 2)
    np.testing.assert_allclose(out[0, :, 2], np.exp(-np.array([0.0, 9.0, 100.0]) / 2), rtol=1e-6)


def test_gated_refinement_is_the_refined_map_times_the_peak_scaled_affinity(model: NetworkCorrespondences) -> None:
    """gated: the arg-max and value of sigmoid(refined) x affinity / max(affinity), per query (issue #23)."""
    gated = NetworkCorrespondences(model.net, refinement="gated")
    a, b = textured(48, 80, 31), textured(48, 80, 32)
    ea, eb = gated.embed(a), gated.embed(b)
    pts = queries(2, 48, 80, 33)
    grid = gated.grid_queries(ea, pts)
    got = gated.propagate_grid(ea, eb, grid)
    with torch.no_grad():
        q = torch.as_tensor(grid)
        affinity = model.net.correlate(ea.features, eb.features, q)
        prob = torch.sigmoid(model.net.refine(ea.features, eb.features, affinity))
    for i in range(2):
        for j in range(17):
            if not np.isfinite(grid[i, j]).all():
                assert got[i, j, 2] == 0
                continue
            product = (prob[i, j] * affinity[i, j] / affinity[i, j].max()).numpy()
            y, x = np.unravel_index(int(product.argmax()), product.shape)
            np.testing.assert_allclose(got[i, j], [x, y, product[y, x]], atol=1e-6)
    maps = gated.confidence_maps(ea, eb, pts)
    np.testing.assert_allclose(maps.reshape(2, 17, -1).max(-1), got[..., 2], atol=1e-6)
    assert (got[..., 2] <= model.propagate_grid(ea, eb, grid)[..., 2] + 1e-9).all()  # never above the refined peak


def test_similarity_confidence_is_the_peak_times_the_embedding_cosine(model: NetworkCorrespondences) -> None:
    """similarity: the peak times max(0, cos) of the embedding at the query's cell and at the found cell (#23)."""
    sim = NetworkCorrespondences(model.net, refinement="none", confidence="similarity")
    plain = NetworkCorrespondences(model.net, refinement="none")
    a, b = textured(48, 80, 41), textured(48, 80, 42)
    ea, eb = sim.embed(a), sim.embed(b)
    pts = queries(2, 48, 80, 43)
    grid = sim.grid_queries(ea, pts)
    got, ref = sim.propagate_grid(ea, eb, grid), plain.propagate_grid(ea, eb, grid)
    np.testing.assert_array_equal(got[..., :2], ref[..., :2])
    fa = torch.nn.functional.normalize(ea.features[0], dim=0).numpy()
    fb = torch.nn.functional.normalize(eb.features[0], dim=0).numpy()
    for i in range(2):
        for j in range(17):
            if not np.isfinite(grid[i, j]).all():
                assert got[i, j, 2] == 0
                continue
            qx, qy = np.floor(grid[i, j]).astype(int)
            fx, fy = np.floor(ref[i, j, :2]).astype(int)
            cos = max(float(fa[:, qy, qx] @ fb[:, fy, fx]), 0.0)
            np.testing.assert_allclose(got[i, j, 2], ref[i, j, 2] * cos, atol=1e-6)
    same = sim.propagate_grid(ea, ea, grid)  # a frame against itself: each query finds its own cell, cosine 1
    own = plain.propagate_grid(ea, ea, grid)
    np.testing.assert_allclose(same[..., 2], own[..., 2], atol=1e-6)
    with pytest.raises(ValueError, match="confidence"):
        NetworkCorrespondences(model.net, confidence="bogus")  # type: ignore[arg-type]


def test_visibility_confidence_is_the_heads_probability_at_the_found_cell(model: NetworkCorrespondences) -> None:
    """visibility (#23): positions as the refinement says, confidence = sigmoid of the head on the features
    read at the found cell, computed here per joint by hand; 0 for a query outside the source."""
    from corrtrack.models.visibility_head import visibility_features

    with pytest.raises(CorrtrackError, match="visibility head"):
        NetworkCorrespondences(model.net, confidence="visibility")
    torch.manual_seed(5)
    net = CorrespondenceNet(dataclasses.replace(model.net.cfg, visibility_head=True)).eval()
    net.load_state_dict(model.net.state_dict(), strict=False)
    for refinement in ("full", "gated"):
        vis = NetworkCorrespondences(net, refinement=refinement, confidence="visibility")
        plain = NetworkCorrespondences(net, refinement=refinement)
        a, b = textured(48, 80, 51), textured(48, 80, 52)
        ea, eb = vis.embed(a), vis.embed(b)
        pts = queries(2, 48, 80, 53)
        grid = vis.grid_queries(ea, pts)
        got, ref = vis.propagate_grid(ea, eb, grid), plain.propagate_grid(ea, eb, grid)
        np.testing.assert_array_equal(got[..., :2], ref[..., :2])
        q = torch.as_tensor(grid)
        with torch.no_grad():
            affinity = net.correlate(ea.features, eb.features, q)
            prob = torch.sigmoid(net.refine(ea.features, eb.features, affinity))
            for i in range(2):
                for j in range(17):
                    if not np.isfinite(grid[i, j]).all():
                        assert got[i, j, 2] == 0
                        continue
                    fx, fy = np.floor(ref[i, j, :2]).astype(int)
                    found = torch.as_tensor(ref[None, :, :, :2][:, i])
                    feats = visibility_features(
                        ea.features, eb.features, q[i : i + 1], found, prob[i : i + 1, :, fy, fx], affinity[i : i + 1]
                    )
                    want = torch.sigmoid(net.visibility(feats))[0, j]
                    np.testing.assert_allclose(got[i, j, 2], float(want), atol=1e-5)
    with pytest.raises(ValueError, match="refinement full or gated"):
        NetworkCorrespondences(net, refinement="none", confidence="visibility")
