"""hecktor.metrics.surface: HD95 in mm, hand-computed on cubes; cropping changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from grand_challenge_metrics.stats import percentile_hausdorff_distance
from scipy import ndimage

from hecktor.metrics.surface import hd95_mm

SPACING_ZYX = (3.0, 1.0, 0.5)


def _cube(shape: tuple[int, int, int], corner: tuple[int, int, int], size: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    z, y, x = corner
    mask[z : z + size, y : y + size, x : x + size] = True
    return mask


def test_two_disjoint_cubes_offset_along_each_axis() -> None:
    # 3x3x3 cubes 10 voxels apart: the surface layers are 8, 9 and 10 voxels from the other cube's near face
    # (9, 8 and 9 voxels); floor(25 * 0.95) = 23 -> the last layer: 10 voxels.
    shape = (20, 20, 20)
    truth = _cube(shape, (2, 2, 2), 3)
    assert hd95_mm(_cube(shape, (2, 2, 12), 3), truth, SPACING_ZYX) == 10 * 0.5  # along x
    assert hd95_mm(_cube(shape, (2, 12, 2), 3), truth, SPACING_ZYX) == 10 * 1.0  # along y
    assert hd95_mm(_cube(shape, (12, 2, 2), 3), truth, SPACING_ZYX) == 10 * 3.0  # along z


def test_overlapping_cubes_shifted_by_one_voxel() -> None:
    # 5^3 cubes shifted by one voxel along x: of the 98 surface voxels, 64 lie on the other surface (0) and 34 are
    # one voxel away (the far face, 25, and the 9 inner voxels of the near face); index floor(97 * 0.95) = 92 -> 1.
    shape = (9, 9, 10)
    truth = _cube(shape, (2, 2, 2), 5)
    pred = _cube(shape, (2, 2, 3), 5)
    assert hd95_mm(pred, truth, SPACING_ZYX) == 0.5
    assert hd95_mm(pred, truth, (1.0, 1.0, 2.5)) == 2.5


def test_a_far_outlier_voxel_does_not_move_hd95() -> None:
    shape = (9, 9, 30)
    truth = _cube(shape, (2, 2, 2), 5)
    pred = truth.copy()
    pred[4, 4, 25] = True  # 19 voxels from the cube's face: 1 of 99 predicted surface voxels
    assert hd95_mm(pred, truth, SPACING_ZYX) == 0.0
    assert hd95_mm(truth, truth, SPACING_ZYX) == 0.0


def test_empty_masks_give_none_and_checks() -> None:
    empty = np.zeros((4, 4, 4), bool)
    cube = _cube((4, 4, 4), (1, 1, 1), 2)
    assert hd95_mm(empty, cube, (1, 1, 1)) is None
    assert hd95_mm(cube, empty, (1, 1, 1)) is None
    assert hd95_mm(empty, empty, (1, 1, 1)) is None
    with pytest.raises(ValueError, match="shape"):
        hd95_mm(cube, cube[:-1], (1, 1, 1))
    with pytest.raises(ValueError, match="spacing"):
        hd95_mm(cube, cube, (1, 1))
    with pytest.raises(ValueError, match="spacing"):
        hd95_mm(cube, cube, (1, 0, 1))


@pytest.mark.parametrize("seed", range(4))
def test_cropping_gives_the_uncropped_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (12, 24, 20)
    smooth = ndimage.uniform_filter(rng.random(shape), size=3)
    truth = smooth > np.quantile(smooth, 0.9)
    pred = np.roll(smooth, 2, axis=1) > np.quantile(smooth, 0.88)
    pred[0, 0, :] = True  # touches the array edge (no margin available there)
    expected = percentile_hausdorff_distance(pred, truth, percentile=0.95, voxelspacing=(2.0, 0.9, 1.1))
    assert hd95_mm(pred, truth, (2.0, 0.9, 1.1)) == float(expected)
    assert hd95_mm(pred.astype(np.uint8) * 2, truth.astype(np.uint8), (2.0, 0.9, 1.1)) == float(expected)


def test_metrics_package_imports_neither_torch_nor_monai() -> None:
    code = (
        "import sys\n"
        "import hecktor.metrics.overlap, hecktor.metrics.lesions, hecktor.metrics.surface\n"
        "import hecktor.metrics.concordance, hecktor.metrics.classification, hecktor.metrics.bootstrap\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'monai')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
