import pytest
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from geoseg import ProcessConfig
from geoseg.errors import ConfigError
from geoseg.grid import Grid
from geoseg.plan import tile_for
from geoseg.tiling import TileGrid, tile_starts


@pytest.mark.parametrize(
    ("n", "size", "stride", "expected"),
    [
        (100, 100, 80, [0]),
        (50, 100, 80, [0]),
        (256, 64, 48, [0, 48, 96, 144, 192]),  # divides exactly
        (250, 64, 48, [0, 48, 96, 144, 186]),  # last tile moved back to n - size
        (947, 256, 192, [0, 192, 384, 576, 691]),
    ],
)
def test_tile_starts(n: int, size: int, stride: int, expected: list[int]) -> None:
    assert tile_starts(n, size, stride) == expected


@pytest.mark.parametrize(
    ("h", "w", "tile", "overlap"),
    [(947, 930, 256, 64), (100, 100, 32, 16), (40, 300, 64, 8), (17, 19, 64, 0)],
)
def test_tiles_cover_scene_and_stay_inside(h: int, w: int, tile: int, overlap: int) -> None:
    grid = TileGrid(h, w, tile, overlap, block_size=64)
    covered = [[0] * w for _ in range(h)]
    for t in grid.tiles():
        win = t.window
        assert win.col_off >= 0 and win.row_off >= 0
        assert win.col_off + win.width <= w and win.row_off + win.height <= h
        assert (win.height, win.width) == (min(tile, h), min(tile, w))
        for r in range(int(win.row_off), int(win.row_off + win.height)):
            for c in range(int(win.col_off), int(win.col_off + win.width)):
                covered[r][c] += 1
    assert all(all(v > 0 for v in row) for row in covered)


@pytest.mark.parametrize(
    ("n", "size", "stride", "align", "expected"),
    [
        (947, 512, 384, 8, [0, 384, 440]),  # n - size = 435, rounded up to a multiple of 8
        (250, 64, 48, 16, [0, 48, 96, 144, 192]),  # 186 → 192: the last tile reaches 6 px past
        (256, 64, 64, 32, [0, 64, 128, 192]),  # divides exactly: nothing moves
    ],
)
def test_aligned_tile_starts(
    n: int, size: int, stride: int, align: int, expected: list[int]
) -> None:
    assert tile_starts(n, size, stride, align) == expected


@pytest.mark.parametrize(
    ("h", "w", "tile", "overlap", "align"),
    [(947, 930, 512, 128, 8), (947, 930, 256, 64, 32), (250, 300, 64, 16, 16)],
)
def test_aligned_tiles_start_on_the_stride_and_cover_the_scene(
    h: int, w: int, tile: int, overlap: int, align: int
) -> None:
    grid = TileGrid(h, w, tile, overlap, block_size=64, align=align)
    covered = [[0] * w for _ in range(h)]
    for t in grid.tiles():
        win = t.window
        assert win.row_off % align == 0 and win.col_off % align == 0
        # clipped to the scene; a tile may only have lost less than one stride at the far edge
        assert win.row_off + win.height <= h and win.col_off + win.width <= w
        assert tile - align < win.height <= tile and tile - align < win.width <= tile
        assert t.edges[1] == (win.row_off + win.height == h)
        for r in range(int(win.row_off), int(win.row_off + win.height)):
            for c in range(int(win.col_off), int(win.col_off + win.width)):
                covered[r][c] += 1
    assert all(all(v > 0 for v in row) for row in covered)


def test_tile_edges_flag_scene_borders() -> None:
    grid = TileGrid(100, 100, 64, 16)
    first, last = grid.tiles()[0], grid.tiles()[-1]
    assert first.edges == (True, False, True, False)
    assert last.edges == (False, True, False, True)


@pytest.mark.parametrize("align", [1, 16])
def test_tiles_touching_matches_brute_force(align: int) -> None:
    grid = TileGrid(300, 250, 64, 16, block_size=96, align=align)
    for block in grid.blocks():
        b = block.window
        brute = [
            t.index
            for t in grid.tiles()
            if t.window.col_off < b.col_off + b.width
            and b.col_off < t.window.col_off + t.window.width
            and t.window.row_off < b.row_off + b.height
            and b.row_off < t.window.row_off + t.window.height
        ]
        assert [t.index for t in grid.tiles_touching(b)] == brute


def test_blocks_partition_scene() -> None:
    grid = TileGrid(300, 250, 64, 16, block_size=128)
    blocks = grid.blocks()
    assert sum(int(b.window.width * b.window.height) for b in blocks) == 300 * 250
    assert blocks[-1].window == Window(128, 256, 122, 44)


def test_batches_are_row_runs_and_batch_of_finds_them() -> None:
    grid = TileGrid(300, 250, 64, 16)
    batches = grid.batches(3)
    flat = [t.index for b in batches for t in b]
    assert flat == list(range(grid.n_tiles))  # row-major order, every tile once
    assert all(len({t.row for t in b}) == 1 and len(b) <= 3 for b in batches)
    for i, batch in enumerate(batches):
        assert all(grid.batch_of(t, 3) == i for t in batch)


def test_tile_border_offsets() -> None:
    grid = TileGrid(100, 100, 64, 16)  # starts 0, 36
    rows, cols = grid.tile_border_offsets()
    assert rows == cols == [36, 64]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tile_size": 8, "overlap": 0},
        {"tile_size": 64, "overlap": 40},
        {"tile_size": 64, "overlap": -1},
        {"tile_size": 64, "overlap": 0, "block_size": 100},
        {"tile_size": 64, "overlap": 8, "align": 32},
        {"tile_size": 72, "overlap": 8, "align": 32},
    ],
)
def test_invalid_tiling_is_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        TileGrid(100, 100, **kwargs)


@pytest.mark.parametrize(
    ("tile", "overlap", "shape", "stride", "expected"),
    [
        (256, 32, (1000, 800), 1, (256, 32)),  # fits: as asked
        (16384, 64, (213, 167), 1, (213, 64)),  # cut to the scene's larger side
        (4096, 512, (100, 40), 32, (128, 64)),  # rounded up to the stride, overlap halved
        (512, 0, (5, 3), 1, (16, 0)),  # never below 16 pixels
    ],
)
def test_a_tile_larger_than_the_scene_is_cut_to_it(
    tile: int, overlap: int, shape: tuple[int, int], stride: int, expected: tuple[int, int]
) -> None:
    grid = Grid(CRS.from_epsg(32720), Affine(10, 0, 0, 0, -10, 0), shape[1], shape[0])
    assert tile_for(tile, overlap, grid, stride) == expected


def test_tile_size_is_bounded_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match="tile_size: Input should be less than or equal to 4096"):
        ProcessConfig(tile_size=16384)
