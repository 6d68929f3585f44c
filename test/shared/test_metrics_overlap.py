"""hecktor.metrics.overlap: per-case Dice conventions, mm^3 volumes, aggregated Dice; SimpleITK cross-check."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from grand_challenge_metrics.stats import calculate_confusion_matrix, dice_from_confusion_matrix

from hecktor.metrics.overlap import Overlap, aggregated_dice, dice_with_convention, label_overlaps


def _maps(shape: tuple[int, int, int] = (4, 5, 6)) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)


def test_both_empty_under_each_convention() -> None:
    pred, truth = _maps()
    o = label_overlaps(pred, truth, 1.0)[1]
    assert o == Overlap(0.0, 0.0, 0.0)
    assert o.both_empty
    assert o.dice is None
    assert dice_with_convention(o, "one") == 1.0
    assert dice_with_convention(o) == 1.0  # default [our choice]
    assert dice_with_convention(o, "zero") == 0.0
    assert dice_with_convention(o, "exclude") is None
    with pytest.raises(ValueError, match="both_empty"):
        dice_with_convention(o, "nan")


def test_false_positive_on_empty_truth_is_zero_under_every_convention() -> None:
    pred, truth = _maps()
    pred[0, 0, :5] = 1
    o = label_overlaps(pred, truth, 2.0)[1]
    assert o == Overlap(0.0, 10.0, 0.0)
    assert o.dice == 0.0
    for convention in ("one", "zero", "exclude"):
        assert dice_with_convention(o, convention) == 0.0
    missed = label_overlaps(truth, pred, 2.0)[1]  # empty prediction, non-empty truth
    assert missed.dice == 0.0


def test_perfect_match_is_exactly_one() -> None:
    _, truth = _maps()
    truth[1:3, 1:4, 2:5] = 1
    truth[0, 0, 0] = 2
    o = label_overlaps(truth.copy(), truth, 0.98 * 0.98 * 3.0)
    assert o[1].dice == 1.0
    assert o[2].dice == 1.0


def test_partial_overlap_hand_counted_in_mm3() -> None:
    pred, truth = _maps((3, 3, 4))
    truth[0:2, 0:2, 0:2] = 1  # 8 voxels
    pred[0:2, 0:2, 1:3] = 1  # 8 voxels, 4 shared (x = 1)
    truth[2, 2, 0:4] = 2  # 4 voxels
    pred[2, 2, 2:4] = 2  # 2 voxels, both shared
    pred[2, 0, 0] = 2  # 1 more GTVn voxel where the truth is background
    o = label_overlaps(pred, truth, 2.0)
    assert o[1] == Overlap(intersection_mm3=8.0, prediction_mm3=16.0, truth_mm3=16.0)
    assert o[1].dice == 0.5  # 2*4 / (8 + 8)
    assert o[2] == Overlap(intersection_mm3=4.0, prediction_mm3=6.0, truth_mm3=8.0)
    assert o[2].dice == pytest.approx(2 * 2 / (3 + 4))


def test_labels_do_not_mix() -> None:
    pred, truth = _maps()
    truth[1, 1, 1:4] = 1
    pred[1, 1, 1:4] = 2  # right place, wrong label
    o = label_overlaps(pred, truth, 1.0)
    assert o[1] == Overlap(0.0, 0.0, 3.0)
    assert o[2] == Overlap(0.0, 3.0, 0.0)
    assert list(label_overlaps(pred, truth, 1.0, labels=(2, 1))) == [2, 1]


def test_aggregated_dice_weights_by_mm3_not_voxels() -> None:
    # Case A: spacing (z, y, x) = (3, 1, 1) mm -> 3 mm^3 per voxel; I = 10, P = 10, G = 20 voxels.
    pred_a, truth_a = _maps((2, 5, 10))
    truth_a[0:2, 0, :] = 2
    pred_a[0, 0, :] = 2
    # Case B: spacing (0.5, 1, 1) mm -> 0.5 mm^3 per voxel; I = 0, P = 40, G = 0 voxels (FP on an empty truth).
    pred_b, truth_b = _maps((2, 5, 10))
    pred_b[0:2, 0:2, :] = 2
    a = label_overlaps(pred_a, truth_a, 3.0 * 1.0 * 1.0)[2]
    b = label_overlaps(pred_b, truth_b, 0.5 * 1.0 * 1.0)[2]
    assert a == Overlap(30.0, 30.0, 60.0)
    assert b == Overlap(0.0, 20.0, 0.0)
    # 2 (30 + 0) / ((30 + 60) + (20 + 0)) = 60 / 110
    assert aggregated_dice([a, b]) == pytest.approx(6 / 11, rel=1e-15)
    voxel_count_version = 2 * (10 + 0) / ((10 + 20) + (40 + 0))  # 20 / 70, what counting voxels would give
    assert abs(aggregated_dice([a, b]) - voxel_count_version) > 0.2
    # A both-empty case adds nothing; order does not matter.
    empty = Overlap(0.0, 0.0, 0.0)
    assert aggregated_dice([b, empty, a]) == aggregated_dice([a, b])


def test_aggregated_dice_undefined() -> None:
    assert aggregated_dice([]) is None
    assert aggregated_dice([Overlap(0.0, 0.0, 0.0)] * 3) is None
    assert aggregated_dice(iter([Overlap(0.0, 4.0, 0.0)])) == 0.0


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="shape"):
        label_overlaps(np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 3), np.uint8), 1.0)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="voxel volume"):
            label_overlaps(np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 2), np.uint8), bad)


def _sitk_dice(pred: np.ndarray, truth: np.ndarray, label: int) -> float:
    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(sitk.GetImageFromArray(truth), sitk.GetImageFromArray(pred))
    return f.GetDiceCoefficient(label)


@pytest.mark.parametrize("seed", range(6))
def test_dice_matches_simpleitk_and_grand_challenge_metrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (7, 11, 13)
    density = [0.05, 0.3, 0.9][seed % 3]
    truth = (rng.random(shape) < density).astype(np.uint8) * rng.integers(1, 3, shape, dtype=np.uint8)
    pred = (rng.random(shape) < density).astype(np.uint8) * rng.integers(1, 3, shape, dtype=np.uint8)
    overlaps = label_overlaps(pred, truth, 0.7)
    confusion = calculate_confusion_matrix(truth, pred, [0, 1, 2])
    gc_dice = dice_from_confusion_matrix(confusion)  # float32
    for label in (1, 2):
        assert overlaps[label].dice == pytest.approx(_sitk_dice(pred, truth, label), rel=1e-12)
        assert overlaps[label].dice == pytest.approx(float(gc_dice[label]), rel=1e-6)
        assert overlaps[label].truth_mm3 == pytest.approx(0.7 * np.count_nonzero(truth == label))


def test_block_boundaries_dtypes_and_layouts() -> None:
    # Larger than one counting block (2^18 voxels), with labels straddling block edges.
    rng = np.random.default_rng(1)
    shape = (5, 256, 260)
    truth = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    truth[0:5, 250:256, 0:200] = 1
    pred[1:4, 240:256, 100:260] = 1
    truth[3, 100:140, 50:60] = 2
    pred[3, 120:160, 50:60] = 2
    noise = rng.random(shape) < 1e-3
    pred[noise] = 2
    expected = {
        label: (
            np.count_nonzero((pred == label) & (truth == label)),
            np.count_nonzero(pred == label),
            np.count_nonzero(truth == label),
        )
        for label in (1, 2)
    }
    for p, t in (
        (pred, truth),
        (pred.astype(np.int16), truth),  # a prediction of another integer type
        (pred.transpose(2, 1, 0), truth.transpose(2, 1, 0)),  # non-contiguous views
    ):
        got = label_overlaps(p, t, 1.0)
        for label, (i, np_, g) in expected.items():
            assert got[label] == Overlap(float(i), float(np_), float(g))
