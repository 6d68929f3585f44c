"""hecktor.metrics.lesions: group rule and one-to-one matching, connectivity, threshold, F1 by summed counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from hecktor.metrics.lesions import DetectionCounts, LesionMatch, detect_lesions, f1_from_counts

SHAPE = (6, 12, 12)


def _masks(shape: tuple[int, int, int] = SHAPE) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(shape, bool), np.zeros(shape, bool)


def _both_rules(pred: np.ndarray, truth: np.ndarray, **kw: object) -> tuple[DetectionCounts, DetectionCounts]:
    group, _ = detect_lesions(pred, truth, matching="group", **kw)
    one, _ = detect_lesions(pred, truth, matching="one-to-one", **kw)
    return group, one


def test_perfect_match_two_lesions() -> None:
    _, truth = _masks()
    truth[1:3, 1:3, 1:3] = True
    truth[1:3, 6:9, 6:9] = True
    group, one = _both_rules(truth.copy(), truth)
    assert group == one == DetectionCounts(2, 0, 0)
    _, matches = detect_lesions(truth.copy(), truth)
    assert [m.iou for m in matches] == [1.0, 1.0]
    assert all(m.is_tp for m in matches)


def test_prediction_merging_two_true_nodes() -> None:
    pred, truth = _masks()
    truth[2:4, 2:4, 2:4] = True  # A: 8 voxels
    truth[2:4, 2:4, 6:8] = True  # B: 8 voxels (gap at x = 4, 5)
    pred[2:4, 2:4, 2:8] = True  # one 24-voxel prediction covering both and the gap
    group, one = _both_rules(pred, truth)
    # Group: I = 16, U = 24, IoU = 2/3 -> one TP, no FN.
    assert group == DetectionCounts(1, 0, 0)
    # One-to-one: IoU(P, A) = IoU(P, B) = 8/24; P takes A (tie -> smaller true id), B is missed.
    assert one == DetectionCounts(1, 0, 1)
    _, matches = detect_lesions(pred, truth)
    assert matches == [LesionMatch((1,), (1, 2), 16, 24, 16 / 24, True)]


def test_true_node_split_into_two_predictions() -> None:
    pred, truth = _masks()
    truth[2:4, 2:4, 2:8] = True
    pred[2:4, 2:4, 2:4] = True
    pred[2:4, 2:4, 6:8] = True
    group, one = _both_rules(pred, truth)
    assert group == DetectionCounts(1, 0, 0)
    assert one == DetectionCounts(1, 1, 0)


def test_corner_touching_lesions_and_connectivity() -> None:
    pred, truth = _masks()
    truth[1, 1, 1] = truth[2, 2, 2] = True  # touch by a corner only
    truth[1, 6, 6] = truth[1, 7, 7] = True  # touch by an edge only
    pred[:] = truth
    assert detect_lesions(pred, truth, connectivity=26)[0] == DetectionCounts(2, 0, 0)
    assert detect_lesions(pred, truth, connectivity=18)[0] == DetectionCounts(3, 0, 0)
    assert detect_lesions(pred, truth, connectivity=6)[0] == DetectionCounts(4, 0, 0)
    # Predicting only one voxel of the corner pair: 26 -> one lesion half found (IoU 1/2): TP.
    # 6 -> two lesions: one found exactly, the other missed.
    pred_one = np.zeros_like(truth)
    pred_one[1, 1, 1] = True
    truth_one = np.zeros_like(truth)
    truth_one[1, 1, 1] = truth_one[2, 2, 2] = True
    assert detect_lesions(pred_one, truth_one, connectivity=26)[0] == DetectionCounts(1, 0, 0)
    assert detect_lesions(pred_one, truth_one, connectivity=6)[0] == DetectionCounts(1, 0, 1)


def test_iou_exactly_at_threshold_inclusive_and_strict() -> None:
    pred, truth = _masks()
    truth[0, 0, 0:10] = True  # 10 voxels
    pred[0, 0, 0:3] = True  # 3 voxels inside: IoU = 3/10
    for matching in ("group", "one-to-one"):
        inclusive, matches = detect_lesions(pred, truth, matching=matching, inclusive=True)
        assert inclusive == DetectionCounts(1, 0, 0)
        assert matches[0].iou == 0.30
        strict, _ = detect_lesions(pred, truth, matching=matching, inclusive=False)
        assert strict == DetectionCounts(0, 1, 1)
    # A group at exactly 6/20: two 3-voxel predictions inside one 20-voxel truth.
    pred, truth = _masks()
    truth[0, 0, 0:10] = truth[0, 1, 0:10] = True  # one 20-voxel lesion
    pred[0, 0, 0:3] = True
    pred[0, 0, 7:10] = True
    assert detect_lesions(pred, truth, inclusive=True)[0] == DetectionCounts(1, 0, 0)
    assert detect_lesions(pred, truth, inclusive=False)[0] == DetectionCounts(0, 2, 1)
    assert detect_lesions(pred, truth, iou_threshold=0.31)[0] == DetectionCounts(0, 2, 1)


def test_false_positive_on_empty_truth_and_false_negative_on_empty_prediction() -> None:
    pred, truth = _masks()
    pred[1:3, 1:3, 1:3] = True
    pred[4, 9, 9] = True
    for matching in ("group", "one-to-one"):
        counts, matches = detect_lesions(pred, truth, matching=matching)
        assert counts == DetectionCounts(0, 2, 0)
        assert f1_from_counts(counts) == 0.0
        assert [m.truth_ids for m in matches] == [(), ()]
        counts, _ = detect_lesions(truth, pred, matching=matching)
        assert counts == DetectionCounts(0, 0, 2)
        assert f1_from_counts(counts) == 0.0
        assert detect_lesions(truth, truth.copy(), matching=matching) == (DetectionCounts(0, 0, 0), [])
    assert f1_from_counts(DetectionCounts(0, 0, 0)) is None


def test_low_iou_group_is_all_false_positives_and_negatives() -> None:
    pred, truth = _masks()
    truth[2:4, 2:4, 2:4] = True  # A: 8 voxels
    truth[2:4, 2:4, 6:8] = True  # B: 8 voxels
    pred[3, 3, 3:7] = True  # 4 voxels touching A at x=3 and B at x=6: I = 2, U = 4 + 16 - 2 = 18
    pred[5, 10, 10] = True  # an unlinked FP elsewhere (after the line in scan order: id 2)
    counts, matches = detect_lesions(pred, truth)
    assert counts == DetectionCounts(0, 2, 2)
    assert matches[0] == LesionMatch((1,), (1, 2), 2, 18, 2 / 18, False)
    assert matches[1].pred_ids == (2,) and matches[1].truth_ids == ()
    assert detect_lesions(pred, truth, iou_threshold=0.1)[0] == DetectionCounts(1, 1, 0)


def test_transitive_group_chain() -> None:
    # Along one row: P1 = x 0..1, P2 = x 3..7; T1 = x 1..4, T2 = x 6..9.  P1-T1-P2-T2 is one group.
    pred, truth = _masks((1, 1, 12))
    pred[0, 0, 0:2] = pred[0, 0, 3:8] = True
    truth[0, 0, 1:5] = truth[0, 0, 6:10] = True
    counts, matches = detect_lesions(pred, truth)
    # |∪P| = 7, |∪G| = 8, I = 1 + 2 + 2 = 5, U = 10: IoU 0.5 -> one TP.
    assert counts == DetectionCounts(1, 0, 0)
    assert matches == [LesionMatch((1, 2), (1, 2), 5, 10, 0.5, True)]
    # One-to-one: IoU(P1,T1) = 1/5, IoU(P2,T1) = IoU(P2,T2) = 2/7: none >= 0.3.
    assert detect_lesions(pred, truth, matching="one-to-one")[0] == DetectionCounts(0, 2, 2)
    # At 0.25: P2 takes T1 (tie on IoU -> smaller true id), P1 and T2 are left over.
    counts, matches = detect_lesions(pred, truth, matching="one-to-one", iou_threshold=0.25)
    assert counts == DetectionCounts(1, 1, 1)
    assert [(m.pred_ids, m.truth_ids, m.is_tp) for m in matches] == [
        ((1,), (), False),
        ((2,), (1,), True),
        ((), (2,), False),
    ]


def test_f1_aggregated_over_cases_by_summed_counts() -> None:
    cases = [DetectionCounts(2, 0, 0), DetectionCounts(0, 1, 0), DetectionCounts(1, 0, 1)]
    total = sum(cases, DetectionCounts(0, 0, 0))
    assert total == sum(cases) == DetectionCounts(3, 1, 1)
    assert f1_from_counts(total) == 6 / 8  # 2*3 / (2*3 + 1 + 1)
    per_case = [f1_from_counts(c) for c in cases]
    assert per_case == [1.0, 0.0, 2 / 3]
    assert f1_from_counts(total) != pytest.approx(sum(per_case) / 3)


def test_label_map_input_and_errors() -> None:
    pred, truth = _masks()
    truth[1:3, 1:3, 1:3] = True
    assert detect_lesions(truth.astype(np.uint8) * 2, truth)[0] == DetectionCounts(1, 0, 0)
    with pytest.raises(ValueError, match="shape"):
        detect_lesions(pred, truth[:-1])
    with pytest.raises(ValueError, match="3-D"):
        detect_lesions(pred[0], truth[0])
    with pytest.raises(ValueError, match="matching"):
        detect_lesions(pred, truth, matching="hungarian")
    with pytest.raises(ValueError, match="connectivity"):
        detect_lesions(pred, truth, connectivity=8)


# --- cross-check against a naive reference (scipy.ndimage.label on the full volume, Python union-find) ---

_STRUCTURES = {26: np.ones((3, 3, 3)), 18: ndimage.generate_binary_structure(3, 2), 6: None}


def _naive(pred: np.ndarray, truth: np.ndarray, connectivity: int, threshold: float, matching: str) -> DetectionCounts:
    lp, n_p = ndimage.label(pred, structure=_STRUCTURES[connectivity])
    lt, n_t = ndimage.label(truth, structure=_STRUCTURES[connectivity])
    inter = {
        (i, j): int(np.sum((lp == i) & (lt == j)))
        for i, j in itertools.product(range(1, n_p + 1), range(1, n_t + 1))
        if np.any((lp == i) & (lt == j))
    }
    size_p = {i: int(np.sum(lp == i)) for i in range(1, n_p + 1)}
    size_t = {j: int(np.sum(lt == j)) for j in range(1, n_t + 1)}
    if matching == "one-to-one":
        pairs = sorted(inter, key=lambda ij: -inter[ij] / (size_p[ij[0]] + size_t[ij[1]] - inter[ij]))
        used_p, used_t, tp = set(), set(), 0
        for i, j in pairs:
            if inter[(i, j)] / (size_p[i] + size_t[j] - inter[(i, j)]) <= threshold:
                break  # strict by default: IoU > threshold
            if i not in used_p and j not in used_t:
                used_p.add(i)
                used_t.add(j)
                tp += 1
        return DetectionCounts(tp, n_p - tp, n_t - tp)
    parent = {("p", i): ("p", i) for i in size_p} | {("t", j): ("t", j) for j in size_t}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j in inter:
        parent[find(("p", i))] = find(("t", j))
    groups: dict[object, list] = {}
    for node in parent:
        groups.setdefault(find(node), []).append(node)
    tp = fp = fn = 0
    for nodes in groups.values():
        ps = [i for side, i in nodes if side == "p"]
        ts = [j for side, j in nodes if side == "t"]
        union_p, union_t = np.isin(lp, ps), np.isin(lt, ts)
        i_vox = int(np.sum(union_p & union_t))
        if ps and ts and i_vox / int(np.sum(union_p | union_t)) > threshold:
            tp += 1
        else:
            fp += len(ps)
            fn += len(ts)
    return DetectionCounts(tp, fp, fn)


@pytest.mark.parametrize("seed", range(8))
def test_matches_naive_reference_on_random_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (6, 14, 16)
    smooth = ndimage.uniform_filter(rng.random(shape), size=3)
    truth = smooth > np.quantile(smooth, 0.85)
    shifted = np.roll(smooth, shift=int(rng.integers(-2, 3)), axis=2) + 0.05 * rng.random(shape)
    pred = shifted > np.quantile(shifted, 0.85 + 0.05 * rng.random())
    for connectivity, threshold, matching in itertools.product((26, 18, 6), (0.1, 0.3, 0.5), ("group", "one-to-one")):
        got, matches = detect_lesions(
            pred, truth, connectivity=connectivity, iou_threshold=threshold, matching=matching
        )
        assert got == _naive(pred, truth, connectivity, threshold, matching), (connectivity, threshold, matching)
        assert sum(len(m.pred_ids) for m in matches) == _n_components(pred, connectivity)
        assert sum(len(m.truth_ids) for m in matches) == _n_components(truth, connectivity)


def _n_components(mask: np.ndarray, connectivity: int) -> int:
    return int(ndimage.label(mask, structure=_STRUCTURES[connectivity])[1])


def _worked_example(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The worked examples of docs/evaluation.md ("GTVn detection: worked examples")."""
    pred = np.zeros((12, 30, 40), dtype=bool)
    truth = np.zeros_like(pred)
    if name == "merge":  # one prediction over two true nodes 1 voxel apart
        truth[2:6, 2:6, 2:6] = True
        truth[2:6, 2:6, 7:11] = True
        pred[2:6, 2:6, 2:11] = True
    elif name == "split":  # one true node predicted as two pieces
        truth[2:6, 2:6, 2:12] = True
        pred[2:6, 2:6, 2:6] = True
        pred[2:6, 2:6, 8:12] = True
    else:  # "bridge": a small node found exactly, plus a thin bridge touching a large neighbour by one voxel
        truth[2:5, 2:5, 2:5] = True  # 27 voxels
        truth[1:11, 5:25, 20:38] = True  # 3,600 voxels
        pred[2:5, 2:5, 2:5] = True
        pred[3, 4, 5:20] = True  # 15 voxels outside both nodes
        pred[3, 5, 20] = True  # diagonal neighbour of the bridge's end, inside the large node
    return pred, truth


@pytest.mark.parametrize(
    ("name", "group", "one_to_one"),
    [
        ("merge", DetectionCounts(1, 0, 0), DetectionCounts(1, 0, 1)),
        ("split", DetectionCounts(1, 0, 0), DetectionCounts(1, 1, 0)),
        ("bridge", DetectionCounts(0, 1, 2), DetectionCounts(1, 0, 1)),
    ],
)
def test_worked_examples_of_the_documentation(name: str, group: DetectionCounts, one_to_one: DetectionCounts) -> None:
    pred, truth = _worked_example(name)
    assert detect_lesions(pred, truth)[0] == group
    assert detect_lesions(pred, truth, matching="one-to-one")[0] == one_to_one
    if name == "bridge":
        (match,) = detect_lesions(pred, truth)[1]
        assert (match.intersection_voxels, match.union_voxels) == (28, 3642)  # IoU 0.0077
