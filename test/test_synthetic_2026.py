"""The synthetic generator's HECKTOR 2026 cohorts: stage rules, both layouts, the staging oracle."""

from __future__ import annotations

import csv
import json

import pytest

from hecktor import clinical as ck
from hecktor.clinical import loads_tolerant
from hecktor.staging import N_STAGES, T_STAGES
from synthetic import generate_case
from synthetic.__main__ import main
from synthetic.shapes import Ellipsoid
from synthetic.staging import LesionGeometry, greatest_dimension_mm, n_stage_of, t_stage_of


def geometry(t=None, reach=0.0, nodes=(), sides=(), side=1) -> LesionGeometry:
    return LesionGeometry(t, None if t is None else reach, tuple(nodes), tuple(sides), side)


@pytest.mark.parametrize(
    ("greatest", "reach", "expected"),
    [(20.0, 0.0, "T1"), (23.0, 0.0, "T1"), (25.0, 5.9, "T2"), (29.5, -3.0, "T3"), (15.0, 6.5, "T4"), (None, 0, None)],
)
def test_t_stage_rule(greatest, reach, expected):
    assert t_stage_of(geometry(greatest, reach)) == expected


@pytest.mark.parametrize(
    ("nodes", "sides", "expected", "sub"),
    [
        ((), (), "N0", "N0"),
        ((12.0,), (1,), "N1", "N1"),
        ((20.0,), (1,), "N2", "N2a"),
        ((10.0, 8.0), (1, 1), "N2", "N2b"),
        ((10.0,), (-1,), "N2", "N2c"),
        ((10.0, 31.0), (1, -1), "N3", "N3"),
    ],
)
def test_n_stage_rule(nodes, sides, expected, sub):
    assert n_stage_of(geometry(20.0, 0.0, nodes, sides)) == expected
    assert n_stage_of(geometry(20.0, 0.0, nodes, sides), substage=True) == sub


def test_greatest_dimension_of_two_spheres():
    parts = (Ellipsoid((0.0, 0.0, 0.0), (5.0, 5.0, 5.0)), Ellipsoid((10.0, 0.0, 0.0), (5.0, 5.0, 5.0)))
    assert greatest_dimension_mm(parts) == pytest.approx(20.0, abs=0.2)
    assert greatest_dimension_mm(parts[:1]) == 10.0


def test_case_stages_follow_its_lesions():
    no_nodes = generate_case("CHUM-003", seed=4, n_nodes=0)
    assert no_nodes.oracle_n_stage == "N0"
    no_primary = generate_case("CHUM-003", seed=4, with_primary=False)
    assert no_primary.t_stage is None and no_primary.oracle_t_stage is None
    case = generate_case("CHUM-003", seed=4)
    assert case.t_stage in T_STAGES and case.n_stage in N_STAGES


def test_2026_layouts(tmp_path):
    assert main(["--out", str(tmp_path / "train"), "--cases", "3", "--seed", "5", "--edition", "2026"]) == 0
    assert (
        main(
            [
                "--out",
                str(tmp_path / "gc"),
                "--cases",
                "2",
                "--seed",
                "5",
                "--edition",
                "2026",
                "--layout",
                "grand-challenge",
            ]
        )
        == 0
    )
    train = tmp_path / "train"
    rows = list(csv.DictReader((train / "HECKTOR_2026_Training.csv").open()))
    assert [r["PatientID"] for r in rows] == ["CHUM-001", "CHUS-001", "HGJ-001"]
    assert "M-stage" not in rows[0] and {r["N-stage"] for r in rows} <= set(N_STAGES)
    for pid in ("CHUM-001", "HGJ-001"):
        names = sorted(p.name for p in (train / pid).iterdir())
        assert names == [f"{pid}.nii.gz", f"{pid}__CT.nii.gz", f"{pid}__PT.nii.gz"]
    meta = json.loads((train / "synthetic_metadata.json").read_text())
    assert meta["edition"] == "2026" and meta["oracle"]["staging_score"] is not None
    case = tmp_path / "gc" / "inputs" / "CHUM-001"
    assert sorted(p.name for p in (case / "images").iterdir()) == ["ct", "pet"]
    ehr, _commas = loads_tolerant((case / "ehr.json").read_text())
    assert ck.M_STAGE not in ehr and ck.HPV in ehr
    header = (tmp_path / "gc" / "ground_truth" / "outcomes.csv").read_text().splitlines()[0]
    assert header.endswith("T-stage,N-stage")


def test_2026_records_carry_treatment_as_the_organisers_code_it():
    """Treatment 0/1 (1 = chemoradiotherapy, 0 = radiotherapy only), drawn per patient and deterministic per seed;
    blank for a few, which the models impute (most frequent: chemoradiotherapy)."""
    from synthetic import cohort_patient_ids
    from synthetic.gc_layout import ehr_record
    from synthetic.patient import draw_patient

    ids = cohort_patient_ids(200)
    values = [draw_patient(pid, 9).clinical[ck.TREATMENT] for pid in ids]
    assert set(values) == {0, 1, None}
    known = [v for v in values if v is not None]
    assert 0.6 < known.count(1) / len(known) < 0.8 and len(known) > 0.8 * len(values)
    assert values == [draw_patient(pid, 9).clinical[ck.TREATMENT] for pid in ids]
    case = generate_case("HGJ-001", seed=9)

    ehr = ehr_record(case, "2026")
    assert ehr.get(ck.TREATMENT) == case.clinical[ck.TREATMENT] and ck.M_STAGE not in ehr
    assert ck.parse_clinical(ehr).get(ck.TREATMENT) == (
        None if ehr.get(ck.TREATMENT) is None else float(ehr[ck.TREATMENT])
    )
