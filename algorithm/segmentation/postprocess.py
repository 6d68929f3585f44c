"""Post-processing of a label map: argmax, then drop small connected components.

Rules (applied per label, on the grid the label lives on, volumes in mm^3):

* every connected component (26-connectivity) of GTVp (1) or GTVn (2) smaller than
  ``min_component_mm3`` becomes background (0);
* with ``gtvp_keep_largest``, only the largest GTVp component is kept (one primary tumour per patient);
* nothing is relabelled from GTVp to GTVn or back.
"""

from __future__ import annotations

import cc3d
import numpy as np

GTVP = 1
GTVN = 2


def argmax_labels(probs: np.ndarray) -> np.ndarray:
    """Label map (z, y, x) uint8 from class probabilities (K, z, y, x)."""
    return np.argmax(probs, axis=0).astype(np.uint8)


def remove_small_components(
    label: np.ndarray, voxel_volume_mm3: float, min_component_mm3: float, gtvp_keep_largest: bool = False
) -> np.ndarray:
    """``label`` (z, y, x) uint8 with the components described in the module docstring set to 0 (in place).

    Args:
        label: label map 0/1/2 (any axis order; connectivity is symmetric).
        voxel_volume_mm3: volume of one voxel, mm^3.
        min_component_mm3: smallest component kept, mm^3 (0 keeps everything).
        gtvp_keep_largest: keep only the largest GTVp component.
    """
    min_voxels = min_component_mm3 / voxel_volume_mm3 if voxel_volume_mm3 > 0 else 0.0
    for value in (GTVP, GTVN):
        mask = label == value
        if not mask.any():
            continue
        components = cc3d.connected_components(mask, connectivity=26)
        counts = np.bincount(components.ravel())
        counts[0] = 0
        drop = counts < min_voxels
        if value == GTVP and gtvp_keep_largest and counts.max() > 0:
            drop |= np.arange(counts.size) != int(np.argmax(counts))
        drop[0] = False
        if drop[1:].any():
            label[drop[components]] = 0
    return label
