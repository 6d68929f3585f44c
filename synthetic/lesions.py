"""Synthetic lesions: a primary tumour (GTVp, label 1) and involved lymph nodes (GTVn, label 2).

Lesions are drawn in the phantom's canonical frame (see :mod:`synthetic.anatomy`) and placed
with the patient's anatomy. GTVp is an irregular union of 2-3 rotated ellipsoids at the oropharynx
beside the airway (main semi-axes ~8-20 mm); GTVn are 0-5 ellipsoidal nodes (3-15 mm) laterally in
the neck, kept at least :data:`MIN_GAP_MM` apart from each other and from the primary so that every
node is its own 26-connected component on any grid with voxels up to 3 x 3 x 5 mm. Both are hot on
PET (SUVmax ~5-20 for GTVp, ~3-12 for GTVn) and slightly enhanced on CT (+10-30 HU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from hecktor.labels import GTVN, GTVP
from synthetic.anatomy import Anatomy, airway_y
from synthetic.render import Layer
from synthetic.shapes import Ellipsoid, Solid, Union, solid_volume_mm3

#: Smallest gap (mm) between the bounding spheres of two lesions: more than the diagonal of a
#: 3 x 3 x 5 mm voxel (6.6 mm), so separate lesions never touch in a label image.
MIN_GAP_MM = 7.5


@dataclass(frozen=True)
class Lesion:
    """A lesion in physical space: label (1 GTVp, 2 GTVn), parts, SUVmax and CT enhancement (HU)."""

    label: int
    parts: tuple[Ellipsoid, ...]
    suv: float
    enhancement_hu: float

    @property
    def solid(self) -> Solid:
        return Union(self.parts) if len(self.parts) > 1 else self.parts[0]

    def volume_mm3(self) -> float:
        """Physical volume (mm^3), independent of any image grid."""
        step = min(1.0, min(min(p.radii) for p in self.parts) / 6)
        return solid_volume_mm3(self.solid, step)

    def describe(self) -> dict[str, Any]:
        """Plain description: label, centre (mm LPS) and radii (mm) of the main part, SUV, volume, parts."""
        main = self.parts[0]
        return {
            "label": self.label,
            "centre_mm": [round(c, 3) for c in main.centre],
            "radii_mm": [round(r, 3) for r in main.radii],
            "suv": round(self.suv, 3),
            "enhancement_hu": round(self.enhancement_hu, 2),
            "volume_mm3": round(self.volume_mm3(), 1),
            "parts": [
                {"centre_mm": [round(c, 3) for c in p.centre], "radii_mm": [round(r, 3) for r in p.radii]}
                for p in self.parts
            ],
        }


def _rotation(rng: np.random.Generator) -> tuple[float, ...]:
    return tuple(float(v) for v in Rotation.random(rng=rng).as_matrix().ravel())


def _max_extent(parts: tuple[Ellipsoid, ...], centre: np.ndarray) -> float:
    return max(float(np.linalg.norm(np.asarray(p.centre) - centre)) + max(p.radii) for p in parts)


def draw_primary(rng: np.random.Generator) -> tuple[tuple[Ellipsoid, ...], float, float]:
    """Canonical GTVp parts, SUVmax and CT enhancement (HU)."""
    side = 1.0 if rng.random() < 0.5 else -1.0
    z = float(rng.uniform(-195.0, -160.0))
    centre = np.array([side * rng.uniform(6.0, 15.0), airway_y(z) + rng.uniform(-14.0, 0.0), z])
    r_main = float(rng.uniform(8.0, 18.0))
    parts = [Ellipsoid(tuple(centre), tuple(r_main * rng.uniform(0.75, 1.25, 3)), _rotation(rng))]
    for _ in range(int(rng.integers(1, 3))):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        offset = direction * r_main * rng.uniform(0.4, 0.8)
        radii = tuple(r_main * rng.uniform(0.45, 0.8, 3))
        parts.append(Ellipsoid(tuple(centre + offset), radii, _rotation(rng)))
    suv = float(np.clip(rng.lognormal(np.log(10.0), 0.35), 5.0, 20.0))
    return tuple(parts), suv, float(rng.uniform(10.0, 30.0))


def draw_nodes(
    rng: np.random.Generator, count: int, primary: tuple[Ellipsoid, ...] | None
) -> list[tuple[Ellipsoid, float, float]]:
    """Up to ``count`` canonical nodes (ellipsoid, SUVmax, enhancement HU), non-touching."""
    side = 1.0 if primary is None or primary[0].centre[0] >= 0 else -1.0
    taken: list[tuple[np.ndarray, float]] = []
    if primary is not None:
        c = np.asarray(primary[0].centre)
        taken.append((c, _max_extent(primary, c)))
    nodes = []
    for _ in range(count):
        r = float(np.clip(rng.lognormal(np.log(6.5), 0.45), 3.0, 15.0))
        node_side = side if rng.random() < 0.7 else -side
        for _attempt in range(100):
            radii = (r * rng.uniform(0.8, 1.0), r * rng.uniform(0.8, 1.0), r * rng.uniform(1.0, 1.35))
            reach = max(radii)
            x_low, x_high = 22.0 + 0.3 * radii[0], 49.0 - radii[0]
            x = node_side * rng.uniform(x_low, max(x_low, x_high))
            centre = np.array([x, rng.uniform(-12.0, 22.0), rng.uniform(-255.0, -165.0)])
            if all(np.linalg.norm(centre - c) > reach + ext + MIN_GAP_MM for c, ext in taken):
                break
            r = max(3.0, r * 0.97)
        else:
            continue
        taken.append((centre, reach))
        suv = float(np.clip(rng.uniform(3.0, 9.0) + 0.25 * (r - 6.0), 3.0, 12.0))
        nodes.append((Ellipsoid(tuple(centre), radii, _rotation(rng)), suv, float(rng.uniform(10.0, 30.0))))
    return nodes


def draw_lesions(rng: np.random.Generator, anatomy: Anatomy, with_primary: bool, n_nodes: int) -> list[Lesion]:
    """The patient's lesions in physical space (GTVp first when present)."""
    lesions = []
    primary = None
    parts, suv, enh = draw_primary(rng)  # always drawn, so node draws do not depend on with_primary
    if with_primary:
        primary = parts
        lesions.append(Lesion(GTVP, tuple(anatomy.place(p) for p in parts), suv, enh))
    for node, node_suv, node_enh in draw_nodes(rng, n_nodes, primary):
        lesions.append(Lesion(GTVN, (anatomy.place(node),), node_suv, node_enh))
    return lesions


def lesion_ct_layers(lesions: list[Lesion], soft_hu: float) -> list[Layer]:
    """CT layers of the lesions: soft tissue plus each lesion's enhancement (HU)."""
    return [Layer(les.solid, soft_hu + les.enhancement_hu) for les in lesions]


def lesion_pet_layers(lesions: list[Lesion]) -> list[Layer]:
    """PET layers of the lesions at their SUVmax (blurred by the PET profile when painted)."""
    return [Layer(les.solid, les.suv) for les in lesions]


def lesion_label_solids(lesions: list[Lesion]) -> list[tuple[Solid, int]]:
    """(solid, label) pairs with GTVp last so it wins where a node would touch it."""
    return sorted(((les.solid, les.label) for les in lesions), key=lambda item: -item[1])
