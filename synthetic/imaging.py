"""Render a synthetic patient's scans: CT (int16 HU), PET (float32 SUV), label (uint8), RT dose (Gy).

CT: tissues with one-voxel anti-aliased edges plus Gaussian noise inside the body (the air outside
stays at exactly -1000 HU, which keeps files small). PET: uptake with Gaussian edges (the centre's
resolution, FWHM 5-8 mm, combined with the voxel size), Poisson-like noise (sd = 0.15 sqrt(SUV)),
smoothed in-plane, times the centre's calibration, rounded to 1/256 SUV. Label: voxel centres inside
a lesion, on the CT grid itself. Dose: 70 Gy to the lesions plus 5 mm, 54 Gy to the elective neck,
Gaussian fall-off, zero outside the body, rounded to 0.01 Gy.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter

from synthetic.anatomy import ELECTIVE_NECK
from synthetic.centres import CentreHabits
from synthetic.grids import AxisGrid
from synthetic.lesions import lesion_ct_layers, lesion_label_solids, lesion_pet_layers
from synthetic.patient import PatientPlan
from synthetic.render import Layer, blur_profile, paint, paint_labels, ramp_profile

AIR_HU = -1000.0
HU_RANGE = (-1024.0, 3071.0)
PET_NOISE = 0.15
PET_QUANTUM = 1.0 / 256.0
PRESCRIPTION_GY = 70.0
ELECTIVE_GY = 54.0


def render_ct(
    plan: PatientPlan,
    grid: AxisGrid,
    habits: CentreHabits,
    rng: np.random.Generator,
    *,
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> sitk.Image:
    """The CT (int16, HU) of ``plan`` on ``grid``; ``shift_mm`` moves the patient (planning set-up)."""
    layers = plan.anatomy.ct_layers(lesion_ct_layers(list(plan.lesions), plan.anatomy.soft_hu))
    width = float(np.cbrt(np.prod(grid.spacing)))

    def finish(buf: np.ndarray, _k0: int) -> np.ndarray:
        noise = rng.standard_normal(buf.shape, dtype=np.float32) * np.float32(habits.ct_noise_hu)
        body = buf > AIR_HU + 10
        buf[body] += noise[body]
        return np.clip(buf, *HU_RANGE, out=buf)

    array = paint(grid, layers, ramp_profile(width), AIR_HU, dtype=np.int16, shift_mm=shift_mm, finish=finish)
    return grid.image(array)


def render_pet(plan: PatientPlan, grid: AxisGrid, habits: CentreHabits, rng: np.random.Generator) -> sitk.Image:
    """The PET (float32, SUV) of ``plan`` on ``grid``."""
    layers = plan.anatomy.pet_layers(lesion_pet_layers(list(plan.lesions)))
    voxel_sigma = float(np.cbrt(np.prod(grid.spacing))) / math.sqrt(12.0)
    sigma = math.hypot(habits.pet_fwhm_mm / 2.3548, voxel_sigma)
    smooth = (0.0, 0.6, 0.6)  # in-plane only, so slabs do not need overlaps
    impulse = np.zeros((1, 9, 9), dtype=np.float32)
    impulse[0, 4, 4] = 1.0
    unit = np.float32(1.0 / np.sqrt(np.sum(gaussian_filter(impulse, smooth) ** 2)))  # keeps unit variance

    def finish(buf: np.ndarray, _k0: int) -> np.ndarray:
        noise = rng.standard_normal(buf.shape, dtype=np.float32)
        noise = gaussian_filter(noise, smooth) * unit
        buf += np.float32(PET_NOISE) * np.sqrt(np.maximum(buf, 0.0)) * noise
        np.maximum(buf, 0.0, out=buf)
        buf *= np.float32(habits.pet_calibration)
        return np.round(buf / np.float32(PET_QUANTUM)) * np.float32(PET_QUANTUM)

    array = paint(grid, layers, blur_profile(sigma), 0.0, dtype=np.float32, finish=finish)
    return grid.image(array)


def render_label(plan: PatientPlan, grid: AxisGrid) -> sitk.Image:
    """The label (uint8: 0 background, 1 GTVp, 2 GTVn) of ``plan`` on ``grid`` (the CT grid)."""
    return grid.image(paint_labels(grid, lesion_label_solids(list(plan.lesions))))


def render_dose(plan: PatientPlan, grid: AxisGrid) -> sitk.Image:
    """A plausible RT dose (float32, Gy) on ``grid``, in the planning CT's set-up (``plan.setup_shift_mm``)."""
    shift = plan.setup_shift_mm
    targets = [Layer(plan.anatomy.place(ELECTIVE_NECK), ELECTIVE_GY, "max")]
    targets += [Layer(les.solid, PRESCRIPTION_GY, "max", grow_mm=5.0) for les in plan.lesions]
    dose = paint(grid, targets, blur_profile(5.0), 0.0, shift_mm=shift)
    body = paint(grid, [Layer(plan.anatomy.body(), 1.0)], ramp_profile(2.0), 0.0, shift_mm=shift)
    array = np.round(dose * body, 2).astype(np.float32)
    return grid.image(array)
