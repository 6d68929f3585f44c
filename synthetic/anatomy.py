"""A parametric head-to-pelvis phantom: solids with CT numbers (HU) and PET uptake (SUV).

The phantom is built in a canonical frame (mm, LPS: vertex of the skull at z = 0, body midline at
x = 0, head centre near y = 0, anterior = -y) and then scaled and moved to the patient's position.
Layers are painted in order (later layers win), so the list order below is the anatomy's logic:
body with a fat rim, soft tissue, bones, air spaces, organs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.render import Layer
from synthetic.shapes import Ellipsoid, Solid, Union, ZTube

# Canonical solids (mm). The skull vertex is at z = 0; the chin near z = -215; shoulders near z = -290.
CRANIUM = Ellipsoid((0.0, 8.0, -78.0), (72.0, 92.0, 78.0))
FACE = Ellipsoid((0.0, -20.0, -160.0), (62.0, 68.0, 58.0))
NECK = ZTube((-300.0, -120.0), (0.0, 0.0), (20.0, 10.0), (55.0, 52.0), (62.0, 60.0), (-300.0, -120.0))
TORSO = ZTube(
    knots_z=(-1000.0, -800.0, -620.0, -450.0, -340.0, -300.0, -280.0, -262.0),
    cx=(0.0,) * 8,
    cy=(25.0, 25.0, 25.0, 25.0, 25.0, 24.0, 22.0, 20.0),
    rx=(170.0, 165.0, 155.0, 165.0, 180.0, 165.0, 120.0, 60.0),
    ry=(110.0, 112.0, 108.0, 115.0, 108.0, 95.0, 80.0, 62.0),
    z_range=(-1000.0, -262.0),
)
BODY_PARTS: tuple[Ellipsoid | ZTube, ...] = (CRANIUM, FACE, NECK, TORSO)

BRAIN = CRANIUM.shrunk(12.0)
WHITE_MATTER = CRANIUM.shrunk(26.0)
MANDIBLE_OUTER = ZTube(
    (-205.0, -170.0), (0.0, 0.0), (-22.0, -24.0), (44.0, 42.0), (50.0, 48.0), (-205.0, -172.0), -18.0
)
MANDIBLE_INNER = ZTube(
    (-205.0, -170.0), (0.0, 0.0), (-22.0, -24.0), (37.0, 35.0), (43.0, 41.0), (-206.0, -171.0), -17.0
)
SPINE_KNOTS = (-1000.0, -700.0, -420.0, -260.0, -120.0)
SPINE_CY = (45.0, 38.0, 55.0, 40.0, 32.0)
SPINE = ZTube(SPINE_KNOTS, (0.0,) * 5, SPINE_CY, (14.0,) * 5, (13.0,) * 5, (-1000.0, -118.0))
SPINE_ARCH = ZTube(
    SPINE_KNOTS, (0.0,) * 5, tuple(c + 22 for c in SPINE_CY), (12.0,) * 5, (11.0,) * 5, (-1000.0, -125.0)
)
SPINAL_CANAL = ZTube(
    SPINE_KNOTS, (0.0,) * 5, tuple(c + 20 for c in SPINE_CY), (6.0,) * 5, (6.0,) * 5, (-1000.0, -110.0)
)
AIRWAY = ZTube(
    knots_z=(-430.0, -300.0, -250.0, -200.0, -140.0),
    cx=(0.0,) * 5,
    cy=(-5.0, -12.0, -8.0, 2.0, 8.0),
    rx=(9.0, 9.0, 8.0, 12.0, 13.0),
    ry=(8.0, 8.0, 7.0, 8.0, 9.0),
    z_range=(-430.0, -135.0),
)
SINUSES = Union(
    (Ellipsoid((-28.0, -45.0, -118.0), (13.0, 16.0, 17.0)), Ellipsoid((28.0, -45.0, -118.0), (13.0, 16.0, 17.0)))
)
CLAVICLES = Union(
    (Ellipsoid((-90.0, -5.0, -292.0), (65.0, 9.0, 8.0)), Ellipsoid((90.0, -5.0, -292.0), (65.0, 9.0, 8.0)))
)
HUMERI = Union(
    (Ellipsoid((-158.0, 25.0, -325.0), (22.0, 22.0, 26.0)), Ellipsoid((158.0, 25.0, -325.0), (22.0, 22.0, 26.0)))
)
LUNGS = Union(
    (Ellipsoid((-78.0, 18.0, -470.0), (60.0, 82.0, 140.0)), Ellipsoid((78.0, 18.0, -470.0), (60.0, 82.0, 140.0)))
)
HEART = Ellipsoid((15.0, -25.0, -530.0), (55.0, 48.0, 55.0))
LIVER = Ellipsoid((-65.0, 5.0, -660.0), (95.0, 80.0, 75.0))
KIDNEYS = Union(
    (Ellipsoid((-72.0, 50.0, -730.0), (25.0, 20.0, 50.0)), Ellipsoid((72.0, 50.0, -730.0), (25.0, 20.0, 50.0)))
)
BLADDER = Ellipsoid((0.0, -25.0, -935.0), (40.0, 35.0, 32.0))
TONSILS = Union((Ellipsoid((-16.0, 4.0, -176.0), (7.0, 8.0, 12.0)), Ellipsoid((16.0, 4.0, -176.0), (7.0, 8.0, 12.0))))
PAROTIDS = Union(
    (Ellipsoid((-50.0, 14.0, -150.0), (12.0, 18.0, 22.0)), Ellipsoid((50.0, 14.0, -150.0), (12.0, 18.0, 22.0)))
)
SUBMANDIBULAR = Union(
    (Ellipsoid((-33.0, -28.0, -200.0), (10.0, 10.0, 9.0)), Ellipsoid((33.0, -28.0, -200.0), (10.0, 10.0, 9.0)))
)
#: Elective neck (for the synthetic RT dose): both sides of the neck, skull base to clavicles.
ELECTIVE_NECK = ZTube((-290.0, -150.0), (0.0, 0.0), (10.0, 5.0), (50.0, 48.0), (42.0, 40.0), (-290.0, -150.0))

#: Canonical z (mm, vertex = 0) of anatomical landmarks used to choose fields of view.
Z_VERTEX = 0.0
Z_SKULL_BASE = -140.0
Z_SHOULDERS = -300.0
Z_LUNG_BASE = -620.0
Z_PELVIS = -980.0


def airway_y(z_canonical: float) -> float:
    """Centre of the airway (canonical y, mm) at canonical height ``z_canonical``."""
    return float(np.interp(z_canonical, AIRWAY.knots_z, AIRWAY.cy))


@dataclass(frozen=True)
class Anatomy:
    """Patient-specific phantom parameters.

    ``scale`` multiplies canonical sizes; ``shift_mm`` is the LPS position (mm) of the canonical origin
    (so the vertex lies at z = shift_mm[2]). CT numbers in HU, uptakes in SUV.
    """

    scale: float
    shift_mm: tuple[float, float, float]
    fat_mm: float
    bone_hu: float
    soft_hu: float
    brain_suv: float
    background_suv: float
    tonsil_suv: float
    gland_suv: float
    heart_suv: float
    liver_suv: float
    kidney_suv: float
    bladder_suv: float

    def place(self, solid: Solid) -> Solid:
        """A canonical solid in this patient's LPS space."""
        return solid.transformed(self.scale, self.shift_mm)

    def z_of(self, z_canonical: float) -> float:
        """Physical z (mm, LPS) of a canonical height."""
        return z_canonical * self.scale + self.shift_mm[2]

    def body(self) -> Solid:
        """The outer body surface (skin)."""
        return Union(tuple(self.place(p) for p in BODY_PARTS))

    def ct_layers(self, lesion_layers: list[Layer]) -> list[Layer]:
        """CT layers (HU) in painting order; lesions are painted last, over soft tissue and airway."""
        p = self.place
        core = tuple(p(part.shrunk(self.fat_mm)) for part in BODY_PARTS)
        discs = [
            Layer(p(ZTube(SPINE_KNOTS, (0.0,) * 5, SPINE_CY, (14.5,) * 5, (13.5,) * 5, (z - 2.5, z + 2.5))), 90.0)
            for z in np.arange(-140.0, -1000.0, -24.0)
        ]
        return [
            Layer(self.body(), -100.0),
            Layer(Union(core), self.soft_hu),
            Layer(p(CRANIUM.shrunk(self.fat_mm + 1.0)), self.bone_hu),
            Layer(p(BRAIN), 32.0),
            Layer(p(WHITE_MATTER), 26.0),
            Layer(p(MANDIBLE_OUTER), self.bone_hu),
            Layer(p(MANDIBLE_INNER), self.soft_hu),
            Layer(p(SPINE), 0.75 * self.bone_hu),
            Layer(p(SPINE_ARCH), self.bone_hu),
            Layer(p(SPINAL_CANAL), 20.0),
            *discs,
            Layer(p(CLAVICLES), self.bone_hu),
            Layer(p(HUMERI), 0.8 * self.bone_hu),
            Layer(p(SINUSES), -950.0),
            Layer(p(AIRWAY), -900.0),
            Layer(p(LUNGS), -820.0),
            Layer(p(HEART), 45.0),
            Layer(p(LIVER), 60.0),
            Layer(p(KIDNEYS), 35.0),
            Layer(p(BLADDER), 10.0),
            *lesion_layers,
        ]

    def pet_layers(self, lesion_layers: list[Layer]) -> list[Layer]:
        """PET layers (SUV) in painting order; lesions last."""
        p = self.place
        core = tuple(p(part.shrunk(self.fat_mm)) for part in BODY_PARTS)
        bg = self.background_suv
        return [
            Layer(self.body(), 0.4 * bg),
            Layer(Union(core), bg),
            Layer(p(BRAIN), self.brain_suv),
            Layer(p(WHITE_MATTER), 0.5 * self.brain_suv),
            Layer(p(SPINE), 1.4 * bg),
            Layer(p(TONSILS), self.tonsil_suv),
            Layer(p(PAROTIDS), self.gland_suv),
            Layer(p(SUBMANDIBULAR), self.gland_suv),
            Layer(p(SINUSES), 0.05),
            Layer(p(AIRWAY), 0.05),
            Layer(p(LUNGS), 0.35),
            Layer(p(HEART), self.heart_suv),
            Layer(p(LIVER), self.liver_suv),
            Layer(p(KIDNEYS), self.kidney_suv),
            Layer(p(BLADDER), self.bladder_suv),
            *lesion_layers,
        ]


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw a patient's phantom parameters (size, position, tissue values, physiological uptake)."""
    return Anatomy(
        scale=float(rng.uniform(0.92, 1.08)),
        shift_mm=(float(rng.uniform(-15, 15)), float(rng.uniform(-25, 25)), float(rng.uniform(-120, 120))),
        fat_mm=float(rng.uniform(4.0, 11.0)),
        bone_hu=float(rng.uniform(700.0, 1200.0)),
        soft_hu=float(rng.uniform(30.0, 50.0)),
        brain_suv=float(rng.uniform(6.0, 10.0)),
        background_suv=float(rng.uniform(0.55, 1.0)),
        tonsil_suv=float(rng.uniform(2.0, 3.2)),
        gland_suv=float(rng.uniform(1.6, 2.6)),
        heart_suv=float(rng.uniform(2.0, 7.0)),
        liver_suv=float(rng.uniform(1.8, 2.8)),
        kidney_suv=float(rng.uniform(3.0, 6.0)),
        bladder_suv=float(rng.uniform(8.0, 35.0)),
    )
