"""Grid comparison, physical extent and overlap, on real SimpleITK images."""

import numpy as np
import pytest
import SimpleITK as sitk

from hecktor.geometry import Grid, bounding_box_mm, grid_differences, overlap_fraction, overlap_volume_mm3, same_grid


def make_image(size=(10, 20, 30), spacing=(1.0, 2.0, 3.0), origin=(0.0, 0.0, 0.0), direction=None) -> sitk.Image:
    image = sitk.Image(list(size), sitk.sitkUInt8)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image


def test_same_grid_and_float32_rounding_tolerated():
    a = make_image(origin=(-250.123456, 10.0, 5.0))
    b = make_image(origin=(float(np.float32(-250.123456)), 10.0, 5.0))
    assert same_grid(Grid.of(a), Grid.of(b))


def test_every_difference_is_named_with_its_size():
    ref = Grid.of(make_image())
    other = Grid.of(make_image(size=(10, 20, 31), spacing=(1.0, 2.0, 3.5), origin=(0.0, 2.5, 0.0)))
    problems = grid_differences(other, ref)
    assert len(problems) == 3
    assert problems[0].startswith("size (10, 20, 31) != (10, 20, 30)")
    assert "spacing" in problems[1]
    assert "differs by up to 2.5 mm" in problems[2]


def test_flipped_direction_is_a_difference():
    ref = Grid.of(make_image())
    flipped = Grid.of(make_image(direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1)))
    assert any(p.startswith("direction") for p in grid_differences(flipped, ref))


def test_bounding_box_includes_voxel_edges_and_follows_direction():
    grid = Grid.of(make_image(size=(10, 20, 30), spacing=(1.0, 2.0, 3.0), origin=(0.0, 0.0, 0.0)))
    lo, hi = bounding_box_mm(grid)
    np.testing.assert_allclose(lo, [-0.5, -1.0, -1.5])
    np.testing.assert_allclose(hi, [9.5, 39.0, 88.5])
    flipped = Grid.of(make_image(direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1)))
    lo, hi = bounding_box_mm(flipped)
    np.testing.assert_allclose([lo[0], hi[0]], [-9.5, 0.5])


def test_overlap_of_shifted_grids():
    a = Grid.of(make_image(size=(10, 10, 10), spacing=(1.0, 1.0, 1.0)))
    b = Grid.of(make_image(size=(10, 10, 10), spacing=(1.0, 1.0, 1.0), origin=(5.0, 0.0, 0.0)))
    assert overlap_volume_mm3(a, b) == pytest.approx(500.0)
    assert overlap_fraction(a, b) == pytest.approx(0.5)
    far = Grid.of(make_image(size=(10, 10, 10), spacing=(1.0, 1.0, 1.0), origin=(100.0, 0.0, 0.0)))
    assert overlap_fraction(a, far) == 0.0
