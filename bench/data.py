"""The benchmark's synthetic cases: fixed patient IDs and seeds, generated once into a cache folder.

- ``head``: CHUM-101, seed 13, realistic: CT 512x512x163 at 1.0 x 1.0 x 2.0 mm (x axis flipped), PET 256x256x123,
  planning CT + RT dose, a GTVp and one GTVn;
- ``whole-body``: MDA-102, seed 4, realistic: CT 512x512x400 at 0.98 x 0.98 x 2.49 mm (x and y flipped),
  PET 200x200x336, planning CT + RT dose, a GTVp and one GTVn;
- ``small``: CHUM-201, seed 1, small: CT 114x114x65 (smoke test, ``--quick``).

The seeds were chosen (by drawing only the scan grids, see ``find_seeds``) so that the whole-body CT has the
largest slice count the generator makes (400) and both cases carry a planning CT and RT dose (the heaviest
Task 2 input). Each case is written in the algorithm's ``/input`` layout::

    CACHE/<name>-<PID>-seed<S>-<size>-g<generator version>/input/images/ct/<uuid>.mha ...
    CACHE/<name>-<PID>-seed<S>-<size>-g<generator version>/label.mha    (ground truth on the CT grid)
    CACHE/<name>-<PID>-seed<S>-<size>-g<generator version>/case.json    (written last: the cache is complete)
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Default cache folder (git-ignored).
DEFAULT_CACHE = Path(__file__).resolve().parent / "output" / "data"
MARKER = "case.json"


@dataclass(frozen=True)
class CaseSpec:
    """One benchmark case: what :func:`synthetic.generate_case` is asked for."""

    name: str
    patient_id: str
    seed: int
    size: str
    coverage: str | None
    expected_ct_size: tuple[int, int, int] | None = None


CASES: dict[str, CaseSpec] = {
    "head": CaseSpec("head", "CHUM-101", 13, "realistic", "head", (512, 512, 163)),
    "whole-body": CaseSpec("whole-body", "MDA-102", 4, "realistic", "whole-body", (512, 512, 400)),
    "small": CaseSpec("small", "CHUM-201", 1, "small", None),
}


def case_folder(spec: CaseSpec, cache: Path) -> Path:
    from synthetic import GENERATOR_VERSION

    return Path(cache) / f"{spec.name}-{spec.patient_id}-seed{spec.seed}-{spec.size}-g{GENERATOR_VERSION}"


def ensure_case(spec: CaseSpec | str, cache: str | Path = DEFAULT_CACHE, log=print) -> dict[str, Any]:
    """Generate ``spec`` into ``cache`` unless already there; returns its description (``case.json``).

    The description holds ``input_dir`` (the algorithm's input folder), ``label`` (ground truth path),
    image sizes and spacings, and ``generate_s`` (seconds the generation took, 0 when cached).
    """
    spec = CASES[spec] if isinstance(spec, str) else spec
    folder = case_folder(spec, Path(cache))
    marker = folder / MARKER
    if marker.is_file():
        info = json.loads(marker.read_text())
        info["generate_s"] = 0.0
        info["cached"] = True
        return info
    from hecktor.imageio import write_image
    from synthetic import generate_case
    from synthetic.gc_layout import write_case_inputs

    if folder.exists():
        shutil.rmtree(folder)
    start = time.perf_counter()
    log(f"generating the {spec.name} case ({spec.patient_id}, seed {spec.seed}, {spec.size}) into {folder} ...")
    case = generate_case(spec.patient_id, spec.seed, spec.size, with_primary=True, coverage=spec.coverage)
    staged = write_case_inputs(case, folder / "cases")
    input_dir = folder / "input"
    staged.rename(input_dir)
    (folder / "cases").rmdir()
    write_image(case.label, folder / "label.mha")
    ct_size = tuple(case.ct.GetSize())
    if spec.expected_ct_size is not None and ct_size != tuple(spec.expected_ct_size):
        log(
            f"note: the generator now makes a {'x'.join(map(str, ct_size))} CT for the {spec.name} case "
            f"(expected {'x'.join(map(str, spec.expected_ct_size))}); figures are not comparable with older runs"
        )
    info = {
        "spec": asdict(spec),
        "input_dir": str(input_dir),
        "label": str(folder / "label.mha"),
        "ct_size": list(ct_size),
        "ct_spacing_mm": [round(s, 4) for s in case.ct.GetSpacing()],
        "pet_size": list(case.pet.GetSize()),
        "pet_spacing_mm": [round(s, 4) for s in case.pet.GetSpacing()],
        "planning_ct": case.planning_ct is not None,
        "rt_dose": case.rt_dose is not None,
        "coverage": case.coverage,
        "lesions": [les["label"] for les in case.lesions],
        "input_mb": round(sum(p.stat().st_size for p in input_dir.rglob("*") if p.is_file()) / 1e6, 1),
    }
    marker.write_text(json.dumps(info, indent=2) + "\n")
    info["generate_s"] = round(time.perf_counter() - start, 2)
    info["cached"] = False
    return info


def describe(info: dict[str, Any]) -> str:
    """One line: ``whole-body MDA-102: CT 512x512x400 @ 0.98x0.98x2.49 mm, PET 200x200x336, planning CT, RT dose``."""
    ct = "x".join(map(str, info["ct_size"]))
    sp = "x".join(f"{s:.2f}" for s in info["ct_spacing_mm"])
    pet = "x".join(map(str, info["pet_size"]))
    extras = [e for e, present in (("planning CT", info["planning_ct"]), ("RT dose", info["rt_dose"])) if present]
    return f"{info['spec']['name']} {info['spec']['patient_id']}: CT {ct} @ {sp} mm, PET {pet}" + "".join(
        f", {e}" for e in extras
    )


def find_seeds(patient_id: str, coverage: str, seeds: range = range(16)) -> list[tuple[int, tuple[int, ...], bool]]:
    """(seed, CT size, has planning CT) for ``seeds`` without rendering any image: how the seeds above were chosen."""
    from synthetic.acquisition import draw_acquisition
    from synthetic.patient import draw_patient
    from synthetic.seeds import stream

    found = []
    for seed in seeds:
        plan = draw_patient(patient_id, seed, with_primary=True, n_nodes=None, with_planning=None)
        rng = stream(seed, patient_id, "grids", "realistic")
        acq = draw_acquisition(rng, plan.anatomy, "realistic", coverage=coverage, flip_ct=None)
        found.append((seed, tuple(acq.ct.size), bool(plan.has_planning)))
    return found


if __name__ == "__main__":  # generate (or list) the cached cases
    for name in CASES:
        print(describe(ensure_case(name)))
