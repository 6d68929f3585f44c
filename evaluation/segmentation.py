"""Task 1, one case: check the prediction against the ground-truth grid, read both, compute the overlaps.

Journey of a case (:func:`score_segmentation_case`, run in a worker process):

1. read the ground-truth label's header (its grid is the CT grid);
2. read the prediction's **header only** and check it: 3-D, one component, an integer or float pixel
   type, and the same grid as the ground truth (:func:`hecktor.geometry.grid_differences`; nothing is
   resampled);
3. read the voxels and check the labels are in {0, 1, 2}; a float label map (MONAI's ``SaveImage`` writes
   float32 by default) is accepted exactly as float ground truth is, when every value is integral, and
   refused (``fractional_labels``) otherwise; the labels are then kept as uint8;
4. compute per-label overlaps (mm^3), GTVn lesion detection counts and, optionally, HD95 (mm).

An unusable prediction (unreadable, off the grid, wrong pixel type, fractional values, labels outside {0, 1, 2}) is an
**error for that case**: the case is scored as an empty prediction and the problem is recorded
[our choice]. A missing prediction is scored as empty too. An unusable ground-truth label removes the
case from scoring (status ``gt_error``) with an error problem: the organisers must fix it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from evaluation.config import Conventions
from evaluation.problems import Problem
from hecktor.errors import InputError
from hecktor.geometry import Grid, grid_differences
from hecktor.imageio import read_image, read_image_header
from hecktor.labels import GTVN, LABELS, MAX_LABEL
from hecktor.metrics.lesions import DetectionCounts, detect_lesions
from hecktor.metrics.overlap import Overlap, label_overlaps

INTEGER_PIXEL_IDS: frozenset[int] = frozenset(
    {
        sitk.sitkUInt8,
        sitk.sitkInt8,
        sitk.sitkUInt16,
        sitk.sitkInt16,
        sitk.sitkUInt32,
        sitk.sitkInt32,
        sitk.sitkUInt64,
        sitk.sitkInt64,
    }
)
FLOAT_PIXEL_IDS: frozenset[int] = frozenset({sitk.sitkFloat32, sitk.sitkFloat64})
#: z-slices checked at once for integral float values (bounds the temporary copies).
_SLAB = 16


@dataclass(frozen=True)
class SegmentationCase:
    """Everything a worker needs to score one case (picklable).

    Attributes:
        status: the submission status so far (``"ok"`` when ``prediction`` should be read).
        prediction: the predicted label map, or ``None`` (missing: scored as empty).
        truth: the ground-truth label map.
        display_root: prefix removed from paths in messages.
    """

    patient_id: str
    job_pk: str | None
    status: str
    prediction: Path | None
    truth: Path
    conventions: Conventions
    display_root: Path | None = None


@dataclass
class SegmentationResult:
    """Outcome of one case. ``overlaps``/``detection`` are ``None`` only when the ground truth is unusable.

    Attributes:
        status: ``"ok"``, a missing status (``no_job``, ``failed_job``, ``no_output``), ``"invalid"``
            (unusable prediction, scored empty) or ``"gt_error"`` (not scored).
        hd95_mm: per label, HD95 in mm (``None`` = both empty, or not computed).
        voxel_volume_mm3: voxel volume of the CT grid.
        read_s, score_s: wall seconds spent reading images and computing metrics.
    """

    patient_id: str
    job_pk: str | None
    status: str
    overlaps: dict[int, Overlap] | None = None
    detection: DetectionCounts | None = None
    hd95_mm: dict[int, float | None] = field(default_factory=dict)
    voxel_volume_mm3: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    read_s: float = 0.0
    score_s: float = 0.0


class _UnusablePrediction(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def score_segmentation_case(case: SegmentationCase) -> SegmentationResult:
    """Score one Task 1 case (see the module docstring). Never raises for bad input."""
    result = SegmentationResult(case.patient_id, case.job_pk, case.status)
    start = time.perf_counter()
    try:
        truth_image = read_image(case.truth, "ground-truth label")
        truth_grid = Grid.of(truth_image)
        truth = label_array(truth_image)
    except (InputError, _UnusablePrediction) as exc:
        result.status = "gt_error"
        result.problems.append(
            Problem("error", "gt_unusable", f"ground truth: {_message(exc, case)}; case not scored", 1, case.patient_id)
        )
        return result

    prediction: np.ndarray | None = None
    prediction_image: sitk.Image | None = None  # keeps the memory of the array view alive
    if case.prediction is not None and case.status == "ok":
        try:
            prediction_image, prediction = read_prediction(case.prediction, truth_grid)
        except (InputError, _UnusablePrediction) as exc:
            code = exc.code if isinstance(exc, _UnusablePrediction) else "unreadable_prediction"
            result.status = "invalid"
            result.problems.append(
                Problem("error", code, f"{_message(exc, case)}; scored as empty", 1, case.patient_id, case.job_pk)
            )
        else:
            if prediction.dtype != np.uint8:
                result.problems.append(
                    Problem(
                        "warning",
                        "not_uint8",
                        f"prediction pixel type is {prediction.dtype}, expected uint8; accepted (labels are valid)",
                        1,
                        case.patient_id,
                        case.job_pk,
                    )
                )
                prediction = prediction.astype(np.uint8)
    result.read_s = time.perf_counter() - start

    start = time.perf_counter()
    # Everything is computed inside the box holding every labelled voxel of both maps (+1 voxel): the
    # volumes, components and distances are the same as on the whole grid, at a fraction of the cost.
    box = nonzero_box([truth] if prediction is None else [prediction, truth])
    truth_box = np.zeros((1, 1, 1), dtype=np.uint8) if box is None else truth[box]
    pred_box = np.zeros_like(truth_box) if prediction is None or box is None else prediction[box]
    conv = case.conventions
    result.voxel_volume_mm3 = truth_grid.voxel_volume_mm3
    result.overlaps = label_overlaps(pred_box, truth_box, result.voxel_volume_mm3, labels=LABELS)
    result.detection, _ = detect_lesions(
        pred_box == GTVN,
        truth_box == GTVN,
        connectivity=conv.gtvn_connectivity,
        iou_threshold=conv.gtvn_iou_threshold,
        inclusive=conv.gtvn_iou_inclusive,
        matching=conv.gtvn_matching,
    )
    if conv.surface_metrics:
        result.hd95_mm = surface_distances(pred_box, truth_box, truth_grid)
    result.score_s = time.perf_counter() - start
    del prediction_image, truth_image  # the arrays above were views into these images' memory
    return result


def read_prediction(path: Path, truth_grid: Grid) -> tuple[sitk.Image, np.ndarray]:
    """The prediction image and a view of its voxels (z, y, x; its own integer dtype) after the header
    and label checks. The view borrows the image's memory: keep the image alive while using it.

    Raises:
        InputError: unreadable file.
        _UnusablePrediction: wrong dimension/components/pixel type, off the grid, labels outside {0, 1, 2}.
    """
    header = read_image_header(path)
    if header.GetDimension() != 3:
        raise _UnusablePrediction("bad_image", f"prediction is {header.GetDimension()}-D, expected 3-D")
    if header.GetNumberOfComponents() != 1:
        raise _UnusablePrediction(
            "bad_image", f"prediction has {header.GetNumberOfComponents()} components per voxel, expected 1"
        )
    pixel_id = header.GetPixelID()
    if pixel_id not in INTEGER_PIXEL_IDS and pixel_id not in FLOAT_PIXEL_IDS:
        pixel_type = sitk.GetPixelIDValueAsString(pixel_id)
        raise _UnusablePrediction(
            "bad_pixel_type", f"prediction pixel type is {pixel_type}, expected an integer (or integral float) type"
        )
    differences = grid_differences(Grid.of(header), truth_grid)
    if differences:
        raise _UnusablePrediction("off_grid", "prediction is not on the CT grid: " + "; ".join(differences))
    image = read_image(path, "prediction")
    array = sitk.GetArrayViewFromImage(image)
    if array.dtype.kind == "f" and not integral_values(array):
        pixel_type = sitk.GetPixelIDValueAsString(pixel_id)
        raise _UnusablePrediction(
            "fractional_labels", f"prediction is {pixel_type} with non-integer values; expected labels 0, 1, 2"
        )
    bad = bad_label_values(array)
    if bad:
        shown = ", ".join(str(v) for v in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise _UnusablePrediction("bad_labels", f"prediction has labels outside {{0, 1, 2}}: {shown}")
    return image, array


def label_array(image: sitk.Image) -> np.ndarray:
    """A ground-truth label image as a uint8 array (z, y, x); a view of ``image`` when it is uint8.

    Float labels (as some distributed NIfTI labels are) are accepted when every value is an integer.

    Raises:
        _UnusablePrediction: non-integral values or values outside {0, 1, 2}.
    """
    array = sitk.GetArrayViewFromImage(image)
    if image.GetPixelID() not in INTEGER_PIXEL_IDS and not (array.dtype.kind == "f" and integral_values(array)):
        pixel_type = sitk.GetPixelIDValueAsString(image.GetPixelID())
        raise _UnusablePrediction("bad_pixel_type", f"{pixel_type} voxels with non-integer values")
    bad = bad_label_values(array)
    if bad:
        raise _UnusablePrediction("bad_labels", f"labels outside {{0, 1, 2}}: {', '.join(str(v) for v in bad[:5])}")
    return array if array.dtype == np.uint8 else array.astype(np.uint8)


def integral_values(array: np.ndarray) -> bool:
    """True when every value of a float array is finite and integral (checked a few z-slices at a time)."""
    for start in range(0, max(array.shape[0], 1), _SLAB):
        slab = array[start : start + _SLAB]
        if not (np.all(np.isfinite(slab)) and np.array_equal(slab, np.trunc(slab))):
            return False
    return True


def bad_label_values(array: np.ndarray) -> list[int]:
    """Sorted values of ``array`` outside {0, 1, 2}; empty when all are valid. Cheap when valid (min/max)."""
    if array.size == 0:
        return []
    low = 0 if array.dtype.kind == "u" else int(array.min())
    high = int(array.max())
    if low >= 0 and high <= MAX_LABEL:
        return []
    values = np.unique(array)
    return [int(v) for v in values if v < 0 or v > MAX_LABEL]


def nonzero_box(arrays: list[np.ndarray], margin: int = 1) -> tuple[slice, slice, slice] | None:
    """The smallest z, y, x box holding every nonzero voxel of ``arrays`` (same shape, integer, z-y-x),
    grown by ``margin`` voxels and clipped to the volume; ``None`` when all are zero.

    Two cheap passes per array: a bitwise-OR projection along z and a per-slice maximum.
    """
    shape = arrays[0].shape
    projection = np.zeros(shape[1:], dtype=bool)
    z_profile = np.zeros(shape[0], dtype=bool)
    for array in arrays:
        projection |= np.bitwise_or.reduce(array, axis=0) != 0
        z_profile |= array.reshape(shape[0], -1).max(axis=1) != 0
    if not z_profile.any():
        return None
    box = []
    for size, profile in zip(shape, (z_profile, projection.any(axis=1), projection.any(axis=0)), strict=True):
        indices = np.flatnonzero(profile)
        box.append(slice(max(0, int(indices[0]) - margin), min(size, int(indices[-1]) + 1 + margin)))
    return box[0], box[1], box[2]


def surface_distances(prediction: np.ndarray, truth: np.ndarray, grid: Grid) -> dict[int, float | None]:
    """HD95 (mm) per label. Both empty -> ``None`` (left out of the mean); exactly one empty -> the
    diagonal of the CT grid's extent (mm), the largest distance possible [our choice]."""
    from hecktor.metrics.surface import hd95_mm

    spacing_zyx = tuple(reversed(grid.spacing))
    diagonal = float(np.linalg.norm(np.asarray(grid.size, dtype=float) * np.asarray(grid.spacing)))
    out: dict[int, float | None] = {}
    for label in LABELS:
        p, t = prediction == label, truth == label
        has_p, has_t = bool(p.any()), bool(t.any())
        if not has_p and not has_t:
            out[label] = None
        elif has_p != has_t:
            out[label] = diagonal
        else:
            value = hd95_mm(p, t, spacing_zyx)
            out[label] = diagonal if value is None else float(value)
    return out


def _message(exc: Exception, case: SegmentationCase) -> str:
    text = exc.message if isinstance(exc, _UnusablePrediction) else str(exc)
    if case.display_root is not None:
        text = text.replace(f"{case.display_root}/", "")
    return text
