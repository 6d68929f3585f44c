"""Lesion geometry for T and N staging (HECKTOR 2026), from a label map on the CT grid and the CT.

All distances in mm and volumes in ml, in physical (LPS) space, so flipped axes, anisotropic voxels and
any origin give the same values. The patient's sagittal midline is the mean physical x of the body
(CT > :data:`BODY_HU` HU) in the slices that hold lesions; "ipsilateral" is the primary's side of it (the
side holding most node volume when there is no primary).

==========================  =====  ====================================================================
name                        unit   definition
==========================  =====  ====================================================================
``t_present``               0/1    a GTVp (label 1) voxel exists
``t_volume_ml``             ml     GTVp volume (voxels x voxel volume)
``t_greatest_mm``           mm     GTVp greatest dimension: largest distance between two of its boundary
                                   voxel centres (at most :data:`MAX_POINTS` points, evenly subsampled),
                                   plus one voxel diagonal's mean edge (centre-to-centre underestimates)
``t_midline_reach_mm``      mm     how far GTVp reaches past the midline onto the other side (negative:
                                   distance it stays short of it): the invasion proxy
``t_offset_mm``             mm     distance of the GTVp centroid from the midline
``n_count``                 count  26-connected components of label 2
``n_largest_mm``            mm     greatest dimension of the largest node (by volume); 0 without nodes
``n_largest_ml``            ml     volume of the largest node; 0 without nodes
``n_total_ml``              ml     all node volume (total nodal burden)
``n_contralateral``         count  nodes whose centroid lies on the other side of the midline
``n_bilateral``             0/1    nodes on both sides
==========================  =====  ====================================================================

T features are NaN without a primary (the model imputes them; the pipeline's fallback decides first).
"""

from __future__ import annotations

import math

import cc3d
import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial.distance import pdist

from hecktor.labels import GTVN, GTVP

BODY_HU = -400.0
MAX_POINTS = 2500
T_FEATURES: tuple[str, ...] = ("t_present", "t_volume_ml", "t_greatest_mm", "t_midline_reach_mm", "t_offset_mm")
N_FEATURES: tuple[str, ...] = (
    "n_count",
    "n_largest_mm",
    "n_largest_ml",
    "n_total_ml",
    "n_contralateral",
    "n_bilateral",
)
GEOMETRY_FEATURE_NAMES: tuple[str, ...] = (*T_FEATURES, *N_FEATURES)


def _physical_x(image: sitk.Image, idx_kji: np.ndarray) -> np.ndarray:
    """Physical x (mm) of voxel indices given as numpy (k, j, i) rows."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    return image.GetOrigin()[0] + (idx_kji[:, ::-1] * spacing) @ direction[0]


def _physical(image: sitk.Image, idx_kji: np.ndarray) -> np.ndarray:
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    return np.asarray(image.GetOrigin(), dtype=float) + (idx_kji[:, ::-1] * spacing) @ direction.T


def greatest_dimension_mm(mask: np.ndarray, image: sitk.Image, offset: np.ndarray | None = None) -> float:
    """Greatest dimension (mm) of a binary ``mask`` on ``image``'s grid (module docstring); ``mask`` may be a
    crop whose first voxel is at numpy index ``offset`` (k, j, i) of the image."""
    boundary = mask & ~ndimage.binary_erosion(mask, border_value=0)
    idx = np.argwhere(boundary)
    if len(idx) > MAX_POINTS:
        idx = idx[np.linspace(0, len(idx) - 1, MAX_POINTS).astype(int)]
    edge = float(np.mean(image.GetSpacing()))
    if len(idx) < 2:
        return edge
    idx = idx + (0 if offset is None else offset)
    return float(pdist(_physical(image, idx)).max()) + edge


def midline_x_mm(ct: sitk.Image, label_array: np.ndarray, label: sitk.Image) -> float:
    """Physical x (mm) of the sagittal midline: the body's mean x in the lesions' slices of the CT."""
    ks = np.flatnonzero(label_array.reshape(label_array.shape[0], -1).any(axis=1))
    ct_array = sitk.GetArrayViewFromImage(ct)
    if ct_array.shape == label_array.shape and ks.size:
        body = np.argwhere(ct_array[ks.min() : ks.max() + 1] > BODY_HU)
        if len(body):
            body = body[:: max(1, len(body) // 200_000)]
            body[:, 0] += ks.min()
            return float(_physical_x(ct, body).mean())
    centre = np.asarray(label.GetSize(), dtype=float) / 2.0  # no body found: the image centre
    return float(label.TransformContinuousIndexToPhysicalPoint(tuple(centre))[0])


def staging_geometry(ct: sitk.Image, label: sitk.Image) -> dict[str, float]:
    """The staging features of :data:`GEOMETRY_FEATURE_NAMES` (module docstring) of one case."""
    lab = sitk.GetArrayViewFromImage(label)
    voxel_ml = float(np.prod(label.GetSpacing())) / 1000.0
    feats = dict.fromkeys(GEOMETRY_FEATURE_NAMES, math.nan)
    nonzero = np.argwhere(lab > 0)
    feats.update(t_present=0.0, n_count=0.0, n_largest_mm=0.0, n_largest_ml=0.0, n_total_ml=0.0)
    feats.update(n_contralateral=0.0, n_bilateral=0.0)
    if not len(nonzero):
        return feats
    low, high = nonzero.min(axis=0), nonzero.max(axis=0) + 1
    low = np.maximum(low - 1, 0)
    high = np.minimum(high + 1, lab.shape)
    crop = np.asarray(lab[low[0] : high[0], low[1] : high[1], low[2] : high[2]])
    offset = low
    midline = midline_x_mm(ct, np.asarray(lab), label)

    def centroid_x(mask: np.ndarray) -> float:
        return float(_physical_x(label, np.argwhere(mask) + offset).mean())

    def greatest(mask: np.ndarray) -> float:
        return greatest_dimension_mm(mask, label, offset)

    primary = crop == GTVP
    side = 0.0
    if primary.any():
        cx = centroid_x(primary)
        side = 1.0 if cx >= midline else -1.0
        xs = _physical_x(label, np.argwhere(primary) + offset) - midline
        feats.update(
            t_present=1.0,
            t_volume_ml=float(primary.sum()) * voxel_ml,
            t_greatest_mm=greatest(primary),
            t_midline_reach_mm=float(-xs.min() if side > 0 else xs.max()),
            t_offset_mm=abs(cx - midline),
        )
    components, n = cc3d.connected_components(crop == GTVN, connectivity=26, return_N=True)
    if n:
        volumes = np.bincount(components.ravel())[1:] * voxel_ml
        sides = [1.0 if centroid_x(components == c) >= midline else -1.0 for c in range(1, n + 1)]
        if side == 0.0:
            side = 1.0 if sum(v for v, s in zip(volumes, sides, strict=True) if s > 0) >= volumes.sum() / 2 else -1.0
        largest = int(np.argmax(volumes)) + 1
        feats.update(
            n_count=float(n),
            n_largest_mm=greatest(components == largest),
            n_largest_ml=float(volumes.max()),
            n_total_ml=float(volumes.sum()),
            n_contralateral=float(sum(1 for s in sides if s != side)),
            n_bilateral=float(len(set(sides)) > 1),
        )
    return feats
