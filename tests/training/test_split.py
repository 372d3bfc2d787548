import numpy as np
import pytest

from geoseg.errors import ConfigError
from geoseg.training.split import spatial_split


@pytest.mark.parametrize(
    ("height", "width", "block", "gap", "seed"),
    [(947, 930, 256, 32, 0), (500, 700, 128, 16, 1), (300, 300, 100, 0, 2)],
)
@pytest.mark.parametrize("test_fraction", [0.0, 0.2])
def test_no_held_out_pixel_lies_in_or_within_the_gap_of_a_training_tile(
    height: int, width: int, block: int, gap: int, seed: int, test_fraction: float
) -> None:
    split = spatial_split(height, width, block, 0.25, gap, seed, test_fraction)
    assert not set(split.validation) & set(split.test)
    assert bool(split.test) == (test_fraction > 0)
    validation = np.zeros((height, width), bool)
    for v in split.validation + split.test:
        validation[v.row_off : v.row_off + v.height, v.col_off : v.col_off + v.width] = True
    tiles = split.training_tiles(64, 32)
    assert tiles and validation.any()
    near_training = np.zeros_like(validation)
    for t in tiles:
        near_training[
            max(0, t.row_off - gap) : t.row_off + t.height + gap,
            max(0, t.col_off - gap) : t.col_off + t.width + gap,
        ] = True
    assert not (validation & near_training).any()


def test_split_is_seeded_and_holds_out_about_the_fraction() -> None:
    a, b = (
        spatial_split(1000, 1000, 100, 0.2, 10, seed=3),
        spatial_split(1000, 1000, 100, 0.2, 10, seed=3),
    )
    assert a == b and len(a.validation) == 20 and not a.test
    assert spatial_split(1000, 1000, 100, 0.2, 10, seed=4) != a


@pytest.mark.parametrize(("val", "test"), [(1.5, 0.0), (0.5, 0.5), (0.3, -0.1), (0.4, 0.4)])
def test_bad_split_options(val: float, test: float) -> None:
    with pytest.raises(ConfigError):  # (0.4, 0.4) of 4 blocks leaves none to train on
        spatial_split(100, 100, 50, val, 0, test_fraction=test)


def test_class_balanced_weights_favour_tiles_with_the_target_class() -> None:
    from geoseg.training.trainer import tile_weights

    empty, rich = np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)
    rich[:2] = 1
    tiles = [(None, empty), (None, empty), (None, rich)]
    np.testing.assert_allclose(tile_weights(tiles, 1, balanced=False), [1 / 3] * 3)
    balanced = tile_weights(tiles, 1, balanced=True)
    np.testing.assert_allclose(balanced, [1 / 6, 1 / 6, 1 / 6 + 1 / 2])
    assert balanced.sum() == 1.0
