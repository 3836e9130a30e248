"""Peaks of correspondence maps: the reference arg-max, the motion prior and the sub-cell centroid."""

from __future__ import annotations

import torch

from corrtrack.models.correspondence_peaks import gate_by_affinity, map_peaks


def _maps(n: int = 2, k: int = 3, side: int = 16) -> torch.Tensor:
    return torch.rand(n, k, side, side, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_defaults_are_the_plain_arg_max_and_its_value():
    maps = _maps()
    q = torch.full((2, 3, 2), 5.0, dtype=torch.float64)
    valid = torch.ones(2, 3, dtype=torch.bool)
    valid[1, 2] = False
    out = map_peaks(maps, q, valid)
    flat = maps.flatten(2)
    idx = flat.argmax(-1)
    assert torch.equal(out[0, :, 0], (idx[0] % 16).double()) and torch.equal(out[0, :, 1], (idx[0] // 16).double())
    assert torch.equal(out[0, :, 2], flat.max(-1).values[0])
    assert torch.isnan(out[1, 2, :2]).all() and out[1, 2, 2] == 0
    shifted = map_peaks(maps, q, valid, torch.tensor([10, 0]), torch.tensor([20, 0]))
    assert torch.equal(shifted[0, :, 0], out[0, :, 0] + 10) and torch.equal(shifted[0, :, 1], out[0, :, 1] + 20)


def test_motion_prior_prefers_the_peak_near_the_query_and_keeps_its_value():
    maps = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    maps[0, 0, 3, 30] = 0.9  # a look-alike far away scores a little higher
    maps[0, 0, 20, 11] = 0.8  # the right place, 2 cells from the query
    q = torch.tensor([[[10.0, 19.0]]], dtype=torch.float64)
    valid = torch.ones(1, 1, dtype=torch.bool)
    assert map_peaks(maps, q, valid)[0, 0].tolist() == [30, 3, 0.9]
    assert map_peaks(maps, q, valid, prior_sigma=4.0)[0, 0].tolist() == [11, 20, 0.8]
    # the prior is centred in grid coordinates: a window origin moves the cells, not the query
    win = map_peaks(
        maps,
        torch.tensor([[[110.0, 219.0]]], dtype=torch.float64),
        valid,
        torch.tensor([100]),
        torch.tensor([200]),
        prior_sigma=4.0,
    )
    assert win[0, 0].tolist() == [111, 220, 0.8]


def test_subcell_position_is_the_centroid_of_the_3x3_neighbourhood():
    maps = torch.zeros(1, 2, 8, 8, dtype=torch.float64)
    maps[0, 0, 4, 4] = 0.6
    maps[0, 0, 4, 5] = 0.2  # mass to the right and above: the centroid moves by 0.2 / 1.0 each way
    maps[0, 0, 3, 4] = 0.2
    maps[0, 1, 0, 0] = 1.0  # at the corner: the padding counts as zero
    q = torch.zeros(1, 2, 2, dtype=torch.float64)
    out = map_peaks(maps, q, torch.ones(1, 2, dtype=torch.bool), subcell="centroid")
    torch.testing.assert_close(out[0, 0], torch.tensor([4.2, 3.8, 0.6], dtype=torch.float64))
    torch.testing.assert_close(out[0, 1], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))


def test_mass_window_sums_the_map_around_the_peak():
    maps = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    maps[0, 0, 2:5, 2:5] = 0.05
    maps[0, 0, 3, 3] = 0.5
    out = map_peaks(maps, torch.zeros(1, 1, 2, dtype=torch.float64), torch.ones(1, 1, dtype=torch.bool), mass_window=1)
    torch.testing.assert_close(out[0, 0, 2], torch.tensor(0.9, dtype=torch.float64))


def test_an_unknown_subcell_mode_is_refused():
    maps = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    q = torch.zeros(1, 1, 2, dtype=torch.float64)
    try:
        map_peaks(maps, q, torch.ones(1, 1, dtype=torch.bool), subcell="query")  # type: ignore[arg-type]
    except ValueError as e:
        assert "subcell" in str(e)
    else:
        raise AssertionError("an unknown mode must be refused")


def test_gate_scales_each_map_to_peak_one_and_keeps_empty_maps_empty():
    maps = _maps() * 1e-3
    maps[1, 2] = 0.0
    gate = gate_by_affinity(maps)
    assert torch.allclose(gate[0].flatten(1).max(-1).values, torch.ones(3, dtype=torch.float64))
    assert torch.equal(gate[1, 2], torch.zeros(16, 16, dtype=torch.float64))
    assert torch.allclose(gate[0, 1] * maps[0, 1].max(), maps[0, 1])
