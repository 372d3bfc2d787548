import numpy as np
import pytest
from rasterio.windows import Window

from geoseg.stitching import axis_weights, blend_block, blend_weights, edge_ramp
from geoseg.tiling import TileGrid


@pytest.mark.parametrize(
    ("overlap", "margin"), [(64, 0), (64, 16), (6, 3), (16, 3), (7, 2), (1, 0)]
)
def test_neighbour_ramps_sum_to_one(overlap: int, margin: int) -> None:
    ramp = edge_ramp(overlap, margin)
    np.testing.assert_allclose(ramp + ramp[::-1], 1.0, atol=1e-12)


def test_ramp_is_zero_in_the_margin_and_rises_after() -> None:
    ramp = edge_ramp(32, 5)
    assert np.all(ramp[:5] == 0)
    assert np.all(ramp[5:27] > 0) and np.all(np.diff(ramp) >= 0)
    assert np.all(ramp[27:] == 1)


def test_margin_is_capped_at_half_the_overlap() -> None:
    np.testing.assert_array_equal(edge_ramp(6, 10), [0, 0, 0, 1, 1, 1])


def test_axis_weights_keep_scene_edges_at_one() -> None:
    w = axis_weights(64, 16, 4, lo_edge=True, hi_edge=False)
    assert np.all(w[:48] == 1)
    assert np.all(w[-4:] == 0)


def test_mean_mode_is_flat() -> None:
    assert np.all(blend_weights(32, 32, 8, 2, (False,) * 4, "mean") == 1)


def _tiles_with(grid: TileGrid, value_of_tile) -> list:
    return [
        (t, np.full((2, int(t.window.height), int(t.window.width)), value_of_tile(t), np.float32))
        for t in grid.tiles()
    ]


def test_constant_tiles_blend_to_the_constant_everywhere() -> None:
    grid = TileGrid(200, 170, 64, 16, block_size=64)
    tiles = _tiles_with(grid, lambda t: 0.25)
    for block in grid.blocks():
        out = blend_block(block.window, tiles, 2, 16, 4)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, 0.25, atol=1e-7)


def test_edge_margin_pixels_never_reach_the_output() -> None:
    """Poison each tile's outer margin at inner borders: the blend must not see it."""
    grid = TileGrid(150, 150, 64, 16, block_size=160)
    margin = 4
    tiles = []
    for t in grid.tiles():
        p = np.full((1, 64, 64), 0.5, np.float32)
        top, bottom, left, right = t.edges
        if not top:
            p[:, :margin] = 99
        if not bottom:
            p[:, -margin:] = 99
        if not left:
            p[:, :, :margin] = 99
        if not right:
            p[:, :, -margin:] = 99
        tiles.append((t, p))
    out = blend_block(Window(0, 0, 150, 150), tiles, 1, 16, margin)
    np.testing.assert_allclose(out, 0.5, atol=1e-6)


def test_nodata_stays_nan_and_uncovered_pixels_are_nan() -> None:
    grid = TileGrid(100, 100, 64, 16)
    tiles = _tiles_with(grid, lambda t: 0.5)
    tiles[0][1][:, 0, 0] = np.nan
    out = blend_block(Window(0, 0, 100, 100), tiles[:1], 2, 16, 0)
    assert np.isnan(out[:, 0, 0]).all()
    assert np.isnan(out[:, 99, 99]).all()  # only tile 0 given: the far corner is uncovered
    assert out[0, 10, 10] == pytest.approx(0.5)


def test_blend_is_a_smooth_transition_between_disagreeing_tiles() -> None:
    grid = TileGrid(64, 112, 64, 16)  # two tiles side by side, overlap 16
    tiles = _tiles_with(grid, lambda t: float(t.col))
    out = blend_block(Window(0, 0, 112, 64), tiles, 2, 16, 0)[0, 0]
    assert np.all(np.diff(out) >= 0)
    assert out[47] == 0 and out[64] == 1
    assert np.max(np.diff(out)) < 0.15  # no jump: spread over the overlap
