"""Test helpers for grids: the same physical image stored on another grid (geometry tests)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def flipped_x(image: sitk.Image) -> sitk.Image:
    """The same physical image with its x index reversed (direction -x, origin at the old last column)."""
    arr = sitk.GetArrayFromImage(image)[:, :, ::-1]
    out = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    out.SetSpacing(image.GetSpacing())
    out.SetOrigin(image.TransformIndexToPhysicalPoint((image.GetSize()[0] - 1, 0, 0)))
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    direction[:, 0] *= -1
    out.SetDirection(direction.ravel().tolist())
    return out
