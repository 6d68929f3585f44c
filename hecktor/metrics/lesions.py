"""GTVn lesion detection: connected components, group or one-to-one matching, TP/FP/FN and F1 (Task 1).

Lesions are the connected components (``cc3d``; 26-connectivity by default [our choice], or 18, 6) of the
predicted mask and of the true mask. Two matching rules:

``matching="group"`` (the reference's rule, dataset paper arXiv 2509.00367, Fig. 5) [our default]:
    Predicted and true components linked by at least one shared voxel form a group, transitively (the
    connected components of the bipartite overlap graph). For a group with predictions ``P_1..P_k`` and
    truths ``G_1..G_m``::

        IoU = |∪P ∩ ∪G| / |∪P ∪ ∪G| = I / (Σ|P_i| + Σ|G_j| - I),   I = Σ_ij |P_i ∩ G_j|

    (components of one side are disjoint, so the pairwise intersections partition ``∪P ∩ ∪G``). The group
    is ONE true positive when ``IoU > threshold`` (``>=`` when ``inclusive=True``); otherwise each of its
    k predictions is a false positive and each of its m truths a false negative. A prediction touching no
    truth is an FP; a truth touched by no prediction is an FN. So a prediction merging two true nodes with
    enough overlap counts 1 TP and 0 FN, and a true node split into two predictions 1 TP and 0 FP.

``matching="one-to-one"``:
    Pairwise ``IoU_ij = |P_i ∩ G_j| / |P_i ∪ G_j|`` for every overlapping pair; pairs are taken greedily
    by descending IoU (ties: smaller predicted id, then smaller true id first), each component at most
    once, while ``IoU > threshold`` (``>=`` when inclusive). Matched pairs are TPs, unmatched predictions FPs,
    unmatched truths FNs.

IoU is in voxel counts (prediction and truth share one grid, so the voxel volume cancels), computed as
the float64 quotient ``I / U``: a ratio exactly equal to the threshold's decimal value (e.g. 3/10 against
0.30) compares as equal. Aggregated over cases: sum the counts (:class:`DetectionCounts` supports ``+``),
then :func:`f1_from_counts`: ``F1 = 2 TP / (2 TP + FP + FN)``.

Component ids in :class:`LesionMatch` are cc3d's labels (1..N) computed within the joint bounding box of
the two masks; they identify components within one call only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cc3d
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

MATCHING_RULES: tuple[str, ...] = ("group", "one-to-one")
CONNECTIVITIES: tuple[int, ...] = (26, 18, 6)


@dataclass(frozen=True)
class DetectionCounts:
    """Lesion-level counts of one case (or of several, summed with ``+``).

    Attributes:
        tp: true positives (groups or matched pairs, per the matching rule).
        fp: false positives (predicted components).
        fn: false negatives (true components).
    """

    tp: int
    fp: int
    fn: int

    def __add__(self, other: DetectionCounts) -> DetectionCounts:
        if not isinstance(other, DetectionCounts):
            return NotImplemented
        return DetectionCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def __radd__(self, other: object) -> DetectionCounts:
        """Lets ``sum(counts)`` start from 0."""
        if other == 0:
            return self
        return NotImplemented


@dataclass(frozen=True)
class LesionMatch:
    """One group (``matching="group"``) or one pair / unmatched component (``"one-to-one"``).

    Attributes:
        pred_ids: predicted component ids in it (empty for an unmatched truth).
        truth_ids: true component ids in it (empty for an unmatched prediction).
        intersection_voxels: |∪P ∩ ∪G| in voxels.
        union_voxels: |∪P ∪ ∪G| in voxels.
        iou: intersection_voxels / union_voxels (0.0 when one side is empty).
        is_tp: counted as one true positive. Otherwise its predictions are FPs and its truths FNs.
    """

    pred_ids: tuple[int, ...]
    truth_ids: tuple[int, ...]
    intersection_voxels: int
    union_voxels: int
    iou: float
    is_tp: bool


def detect_lesions(
    pred_mask: np.ndarray,
    truth_mask: np.ndarray,
    *,
    connectivity: int = 26,
    iou_threshold: float = 0.30,
    inclusive: bool = False,
    matching: str = "group",
) -> tuple[DetectionCounts, list[LesionMatch]]:
    """TP/FP/FN of the lesions of one case (rules in the module docstring).

    Args:
        pred_mask: predicted GTVn mask, 3-D (z, y, x); nonzero = lesion.
        truth_mask: true GTVn mask, same shape.
        connectivity: 26, 18 or 6 (cc3d's 3-D neighbourhoods: faces+edges+corners, faces+edges, faces).
        iou_threshold: IoU needed for a true positive (0.30 in the reference).
        inclusive: ``IoU > threshold`` when False (default: the challenge page's wording, "IoU > 30%"),
            ``IoU >= threshold`` when True (``--inclusive``).
        matching: ``"group"`` (reference's group fusion) or ``"one-to-one"`` (greedy by IoU).

    Returns:
        The counts and the list of groups / pairs, ordered by smallest predicted id, then smallest true id
        (groups without a prediction last).

    Raises:
        ValueError: shapes differ, not 3-D, unknown connectivity or matching rule.
    """
    if matching not in MATCHING_RULES:
        raise ValueError(f"matching must be one of {MATCHING_RULES}, got {matching!r}")
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity must be one of {CONNECTIVITIES}, got {connectivity}")
    pred = _as_bool(pred_mask)
    truth = _as_bool(truth_mask)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    if pred.ndim != 3:
        raise ValueError(f"masks must be 3-D (z, y, x), got {pred.ndim}-D")

    box = _joint_bounding_box(pred, truth)
    if box is None:
        return DetectionCounts(0, 0, 0), []
    pred_crop = np.ascontiguousarray(pred[box])
    truth_crop = np.ascontiguousarray(truth[box])
    pred_labels, n_pred = cc3d.connected_components(pred_crop, connectivity=connectivity, return_N=True)
    truth_labels, n_truth = cc3d.connected_components(truth_crop, connectivity=connectivity, return_N=True)
    n_pred, n_truth = int(n_pred), int(n_truth)
    # Component sizes (index 0 unused), counted over foreground voxels only.
    pred_sizes = np.bincount(pred_labels[pred_crop], minlength=n_pred + 1).astype(np.int64)
    truth_sizes = np.bincount(truth_labels[truth_crop], minlength=n_truth + 1).astype(np.int64)

    # Voxel counts of every overlapping (prediction, truth) pair, ids >= 1.
    both = pred_crop & truth_crop
    codes = pred_labels[both].astype(np.int64) * (n_truth + 1) + truth_labels[both].astype(np.int64)
    unique_codes, pair_voxels = np.unique(codes, return_counts=True)
    pair_pred = unique_codes // (n_truth + 1)
    pair_truth = unique_codes % (n_truth + 1)
    pair_voxels = pair_voxels.astype(np.int64)

    def passes(iou: float) -> bool:
        return iou >= iou_threshold if inclusive else iou > iou_threshold

    if matching == "group":
        matches = _group_matches(pair_pred, pair_truth, pair_voxels, pred_sizes, truth_sizes, passes)
    else:
        matches = _one_to_one_matches(pair_pred, pair_truth, pair_voxels, pred_sizes, truth_sizes, passes)
    tp = sum(1 for m in matches if m.is_tp)
    fp = sum(len(m.pred_ids) for m in matches if not m.is_tp)
    fn = sum(len(m.truth_ids) for m in matches if not m.is_tp)
    return DetectionCounts(tp, fp, fn), matches


def f1_from_counts(c: DetectionCounts) -> float | None:
    """F1 = 2 TP / (2 TP + FP + FN); ``None`` when the denominator is 0 (no lesion predicted nor true)."""
    denominator = 2 * c.tp + c.fp + c.fn
    if denominator == 0:
        return None
    return 2.0 * c.tp / denominator


def _as_bool(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return mask if mask.dtype == np.bool_ else mask != 0


def _joint_bounding_box(a: np.ndarray, b: np.ndarray) -> tuple[slice, ...] | None:
    """Smallest box (slices) holding every True voxel of ``a`` and ``b``; ``None`` when both are empty."""
    lows: list[int] = []
    highs: list[int] = []
    boxes = [box for box in (_bounding_box(a), _bounding_box(b)) if box is not None]
    if not boxes:
        return None
    for axis in range(a.ndim):
        lows.append(min(box[axis][0] for box in boxes))
        highs.append(max(box[axis][1] for box in boxes))
    return tuple(slice(low, high) for low, high in zip(lows, highs, strict=True))


def _bounding_box(mask: np.ndarray) -> list[tuple[int, int]] | None:
    """Per axis (first, last + 1) index of True voxels of a 3-D mask; ``None`` when empty.

    Two passes over the volume: a projection along z, then the z profile.
    """
    projection = mask.any(axis=0)  # (y, x)
    if not projection.any():
        return None
    z_profile = mask.any(axis=(1, 2))
    out = []
    for profile in (z_profile, projection.any(axis=1), projection.any(axis=0)):
        indices = np.flatnonzero(profile)
        out.append((int(indices[0]), int(indices[-1]) + 1))
    return out


def _group_matches(
    pair_pred: np.ndarray,
    pair_truth: np.ndarray,
    pair_voxels: np.ndarray,
    pred_sizes: np.ndarray,
    truth_sizes: np.ndarray,
    passes: Callable[[float], bool],
) -> list[LesionMatch]:
    """Groups = connected components of the bipartite overlap graph (nodes: predictions, then truths)."""
    n_pred, n_truth = len(pred_sizes) - 1, len(truth_sizes) - 1
    n_nodes = n_pred + n_truth
    graph = coo_matrix(
        (np.ones(len(pair_pred), dtype=np.int8), (pair_pred - 1, n_pred + pair_truth - 1)), shape=(n_nodes, n_nodes)
    )
    n_groups, group_of = connected_components(graph, directed=False)
    pred_group = group_of[:n_pred]
    truth_group = group_of[n_pred:]
    intersection = np.bincount(pred_group[pair_pred - 1], weights=pair_voxels, minlength=n_groups)
    pred_volume = np.bincount(pred_group, weights=pred_sizes[1:], minlength=n_groups)
    truth_volume = np.bincount(truth_group, weights=truth_sizes[1:], minlength=n_groups)
    members_pred: list[list[int]] = [[] for _ in range(n_groups)]
    members_truth: list[list[int]] = [[] for _ in range(n_groups)]
    for i, g in enumerate(pred_group.tolist(), start=1):
        members_pred[g].append(i)
    for j, g in enumerate(truth_group.tolist(), start=1):
        members_truth[g].append(j)
    matches = []
    for g in range(n_groups):
        inter = round(float(intersection[g]))  # sums of integer voxel counts: exact in float64
        union = round(float(pred_volume[g] + truth_volume[g])) - inter
        linked = bool(members_pred[g]) and bool(members_truth[g])
        iou = inter / union if linked else 0.0
        matches.append(
            LesionMatch(
                pred_ids=tuple(members_pred[g]),
                truth_ids=tuple(members_truth[g]),
                intersection_voxels=inter,
                union_voxels=union,
                iou=iou,
                is_tp=linked and passes(iou),
            )
        )
    matches.sort(key=_match_order)
    return matches


def _one_to_one_matches(
    pair_pred: np.ndarray,
    pair_truth: np.ndarray,
    pair_voxels: np.ndarray,
    pred_sizes: np.ndarray,
    truth_sizes: np.ndarray,
    passes: Callable[[float], bool],
) -> list[LesionMatch]:
    """Greedy one-to-one matching by descending pairwise IoU (ties: smaller predicted id, then true id)."""
    unions = pred_sizes[pair_pred] + truth_sizes[pair_truth] - pair_voxels
    ious = pair_voxels / unions
    order = np.lexsort((pair_truth, pair_pred, -ious))
    used_pred: set[int] = set()
    used_truth: set[int] = set()
    matches = []
    for k in order.tolist():
        iou = float(ious[k])
        if not passes(iou):
            break  # sorted by descending IoU: no later pair passes
        i, j = int(pair_pred[k]), int(pair_truth[k])
        if i in used_pred or j in used_truth:
            continue
        used_pred.add(i)
        used_truth.add(j)
        matches.append(LesionMatch((i,), (j,), int(pair_voxels[k]), int(unions[k]), iou, True))
    for i in range(1, len(pred_sizes)):
        if i not in used_pred:
            matches.append(LesionMatch((i,), (), 0, int(pred_sizes[i]), 0.0, False))
    for j in range(1, len(truth_sizes)):
        if j not in used_truth:
            matches.append(LesionMatch((), (j,), 0, int(truth_sizes[j]), 0.0, False))
    matches.sort(key=_match_order)
    return matches


def _match_order(m: LesionMatch) -> tuple[int, int, int]:
    """Sort key: groups with a prediction first, by smallest predicted id, then by smallest true id."""
    if m.pred_ids:
        return (0, min(m.pred_ids), min(m.truth_ids, default=0))
    return (1, min(m.truth_ids), 0)
