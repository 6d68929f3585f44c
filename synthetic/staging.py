"""T and N stages of a synthetic patient (HECKTOR 2026), drawn from the lesions the generator drew.

The rules follow the AJCC/UICC 7th edition for the oropharynx (the organisers' value sets,
:mod:`hecktor.staging`) with the size thresholds scaled to the phantom, whose lesions are smaller than
real ones (nodes 3-15 mm semi-axes): the node thresholds are ``STAGE_SCALE`` (0.5) times their AJCC
values, the T thresholds sit at the phantom's primary sizes (:data:`T_LIMITS_MM`), so that the stage mix
resembles HECKTOR's (over 400 patients: T1 19 %, T2 24 %, T3 30 %, T4 23 %, Tx 3 %; N0 15 %, N1 10 %,
N2 65 %, N3 10 %).

T (primary tumour, ``greatest`` = its greatest dimension in mm, exact for the analytic union of
ellipsoids: the largest distance between two surface points):

- T4 when the tumour invades across the midline: it reaches more than :data:`T4_MIDLINE_MM` beyond the
  sagittal midline of the patient (the invasion proxy; the airway and the contralateral wall lie there);
- else T1 ``greatest <= 23 mm`` (AJCC 2 cm), T2 ``<= 29 mm`` (4 cm), T3 above;
- no primary: unknown (``None``, ``Tx`` in a table).

N (regional nodes; ipsilateral = the primary's side of the midline, or the side holding most nodes when
there is no primary):

- N0 no node; N3 any node with greatest dimension ``> 30 mm`` (AJCC 6 cm);
- N1 one ipsilateral node ``<= 15 mm`` (3 cm); N2a one ipsilateral node ``15-30 mm``; N2b several
  ipsilateral nodes; N2c a contralateral or bilateral node; N2a/b/c are reported as N2 (the 2026 sets).

The recorded stage is the rule's stage moved one step up or down (clipped) for :data:`P_MISSTAGED` of the
patients (inter-observer variability of clinical staging, stream ``staging``); the rule's own stage is
the *oracle* (``oracle_t_stage``, ``oracle_n_stage``), which a model that sees the true lesions can reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist

from hecktor.labels import GTVN, GTVP
from hecktor.staging import N_STAGES, T_STAGES
from synthetic.lesions import Lesion
from synthetic.shapes import Ellipsoid

#: Every AJCC size threshold times this factor (the phantom's lesions are about half the real size).
STAGE_SCALE = 0.5
#: T1 <= and T2 <= limits of the primary's greatest dimension (mm): the AJCC 20 / 40 mm placed at the phantom's
#: primary sizes (greatest dimension 20-43 mm, 5th-95th percentile), not scaled like the nodes.
T_LIMITS_MM = (23.0, 29.0)
N1_MAX_MM = 30.0 * STAGE_SCALE
N3_MIN_MM = 60.0 * STAGE_SCALE
#: Reach beyond the midline (mm) read as invasion of adjacent structures (T4).
T4_MIDLINE_MM = 6.0
#: Fraction of patients whose recorded stage is one step off the rule's.
P_MISSTAGED = 0.10
_SURFACE_POINTS = 400


@dataclass(frozen=True)
class LesionGeometry:
    """Physical geometry behind the stages (mm, mm^3); ``side`` +1 = patient's left, -1 = right."""

    t_greatest_mm: float | None
    t_midline_reach_mm: float | None
    node_sizes_mm: tuple[float, ...]
    node_sides: tuple[int, ...]
    side: int


def _sphere(n: int) -> np.ndarray:
    """``n`` near-uniform unit vectors (Fibonacci sphere)."""
    k = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * k / n)
    theta = np.pi * (1.0 + 5.0**0.5) * k
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def surface_points(part: Ellipsoid, n: int = _SURFACE_POINTS) -> np.ndarray:
    """Points (mm, LPS) on an ellipsoid's surface, shape (n, 3)."""
    local = _sphere(n) * np.asarray(part.radii, dtype=float)[None, :]
    if part.rotation is not None:
        local = local @ np.asarray(part.rotation, dtype=float).reshape(3, 3).T
    return local + np.asarray(part.centre, dtype=float)[None, :]


def greatest_dimension_mm(parts: Sequence[Ellipsoid]) -> float:
    """Largest distance (mm) between two points of a union of ellipsoids (its surface points)."""
    if len(parts) == 1:
        return 2.0 * max(parts[0].radii)
    return float(pdist(np.concatenate([surface_points(p) for p in parts])).max())


def lesion_geometry(lesions: Sequence[Lesion], midline_x_mm: float) -> LesionGeometry:
    """The geometry the stage rules read, with the sagittal midline at ``x = midline_x_mm`` (LPS)."""
    primary = next((les for les in lesions if les.label == GTVP), None)
    nodes = [les for les in lesions if les.label == GTVN]
    node_sides = tuple(1 if les.parts[0].centre[0] >= midline_x_mm else -1 for les in nodes)
    if primary is not None:
        side = 1 if primary.parts[0].centre[0] >= midline_x_mm else -1
        x = np.concatenate([surface_points(p)[:, 0] for p in primary.parts]) - midline_x_mm
        reach = float(-x.min() if side > 0 else x.max())  # how far it reaches onto the other side
        greatest = greatest_dimension_mm(primary.parts)
    else:
        side = 1 if sum(node_sides) >= 0 else -1
        reach = greatest = None
    sizes = tuple(greatest_dimension_mm(les.parts) for les in nodes)
    return LesionGeometry(greatest, reach, sizes, node_sides, side)


def t_stage_of(geometry: LesionGeometry) -> str | None:
    """The rule's T stage (module docstring), ``None`` without a primary."""
    if geometry.t_greatest_mm is None or geometry.t_midline_reach_mm is None:
        return None
    if geometry.t_midline_reach_mm > T4_MIDLINE_MM:
        return "T4"
    if geometry.t_greatest_mm <= T_LIMITS_MM[0]:
        return "T1"
    return "T2" if geometry.t_greatest_mm <= T_LIMITS_MM[1] else "T3"


def n_stage_of(geometry: LesionGeometry, *, substage: bool = False) -> str:
    """The rule's N stage (module docstring); ``substage=True`` keeps N2a/N2b/N2c."""
    sizes, sides = geometry.node_sizes_mm, geometry.node_sides
    if not sizes:
        return "N0"
    if max(sizes) > N3_MIN_MM:
        return "N3"
    if any(s != geometry.side for s in sides):
        return "N2c" if substage else "N2"
    if len(sizes) > 1:
        return "N2b" if substage else "N2"
    if sizes[0] > N1_MAX_MM:
        return "N2a" if substage else "N2"
    return "N1"


def misstage(stage: str | None, values: tuple[str, ...], rng: np.random.Generator) -> str | None:
    """``stage`` moved one step (clipped to ``values``) with probability :data:`P_MISSTAGED`."""
    draw, step = rng.random(), rng.random()
    if stage is None or draw >= P_MISSTAGED:
        return stage
    k = values.index(stage) + (1 if step < 0.5 else -1)
    return values[min(max(k, 0), len(values) - 1)]


def draw_stages(
    lesions: Sequence[Lesion], midline_x_mm: float, rng: np.random.Generator
) -> tuple[str | None, str, str | None, str, LesionGeometry]:
    """(recorded T, recorded N, oracle T, oracle N, geometry); T is ``None`` without a primary."""
    geometry = lesion_geometry(lesions, midline_x_mm)
    oracle_t, oracle_n = t_stage_of(geometry), n_stage_of(geometry)
    recorded_t = misstage(oracle_t, T_STAGES, rng)
    recorded_n = misstage(oracle_n, N_STAGES, rng)
    return recorded_t, str(recorded_n), oracle_t, oracle_n, geometry
