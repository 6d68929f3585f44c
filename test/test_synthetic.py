"""The synthetic cohort generator: images, geometry, layouts, determinism, oracles, CLI."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hecktor import clinical as ck
from hecktor import interface
from hecktor.geometry import Grid, grid_differences
from hecktor.imageio import find_single_image, read_image
from hecktor.patients import patient_id_from_image_name
from hecktor.payloads import entry_image_name, entry_relative_path
from synthetic import (
    SyntheticCase,
    generate_case,
    generate_cohort,
    write_grand_challenge_layout,
    write_training_layout,
)

REPO = Path(__file__).resolve().parents[1]
CLINICAL_COLUMNS = [
    "PatientID",
    "CenterID",
    "Age",
    "Gender",
    "Tobacco Consumption",
    "Alcohol Consumption",
    "Performance Status",
    "Treatment",
    "M-stage",
]
EXPECTED_COLUMNS = {
    1: CLINICAL_COLUMNS,
    2: [*CLINICAL_COLUMNS, "RFS", "Relapse"],
    3: [*CLINICAL_COLUMNS, "HPV Status"],
}


@pytest.fixture(scope="module")
def cohort40() -> list[SyntheticCase]:
    return generate_cohort(n=40, seed=7, size="small")


@pytest.fixture(scope="module")
def cohort20(cohort40) -> list[SyntheticCase]:
    """The first 20 cases of a cohort are the 20-case cohort of the same seed."""
    return cohort40[:20]


@pytest.fixture(scope="module")
def training_dir(cohort20, tmp_path_factory) -> Path:
    return write_training_layout(cohort20, tmp_path_factory.mktemp("training"))


@pytest.fixture(scope="module")
def gc_dir(cohort40, tmp_path_factory) -> Path:
    return write_grand_challenge_layout(cohort40, tmp_path_factory.mktemp("gc"))


def arr(image: sitk.Image) -> np.ndarray:
    """A view of the image's voxels (z, y, x); keep ``image`` alive while using it."""
    return sitk.GetArrayViewFromImage(image)


def test_case_types_and_fields():
    case = generate_case(patient_id="CHUS-003", seed=123, size="small", with_planning=True)
    assert case.patient_id == "CHUS-003" and case.centre == "CHUS"
    assert case.ct.GetPixelID() == sitk.sitkInt16
    assert case.pet.GetPixelID() == sitk.sitkFloat32
    assert case.label.GetPixelID() == sitk.sitkUInt8
    assert case.planning_ct is not None and case.planning_ct.GetPixelID() == sitk.sitkInt16
    assert case.rt_dose is not None and case.rt_dose.GetPixelID() == sitk.sitkFloat32
    assert 60.0 <= float(arr(case.rt_dose).max()) <= 75.0
    assert set(case.clinical) == set(CLINICAL_COLUMNS[1:])
    assert case.clinical["CenterID"] == 2
    assert case.clinical["M-stage"] in {"M0", "M1", "Mx", None}
    assert case.rfs_days >= 1 and case.relapse in (0, 1) and case.hpv in (0, 1, None)
    assert 0.0 < case.oracle_hpv_prob < 1.0 and np.isfinite(case.oracle_risk)
    assert {les["label"] for les in case.lesions} <= {1, 2}
    for les in case.lesions:
        assert len(les["centre_mm"]) == 3 and len(les["radii_mm"]) == 3 and les["suv"] > 0
    ct = arr(case.ct)
    assert ct.min() >= -1024 and ct.max() > 500  # air and bone
    assert set(np.unique(arr(case.label))) <= {0, 1, 2}


def test_case_without_primary_or_nodes():
    case = generate_case("CHUB-009", seed=4, size="small", with_primary=False, n_nodes=0)
    assert not case.has_primary and case.n_nodes == 0 and case.lesions == []
    assert not arr(case.label).any()
    assert np.isfinite(case.oracle_risk) and 0.0 < case.oracle_hpv_prob < 1.0


def test_realistic_grids_without_rendering():
    from synthetic.acquisition import draw_acquisition
    from synthetic.patient import draw_patient
    from synthetic.seeds import stream

    plan = draw_patient("USZ-001", 3)
    for coverage in ("head", "thorax", "whole-body"):
        acq = draw_acquisition(stream(3, "USZ-001", "grids", "realistic"), plan.anatomy, "realistic", coverage=coverage)
        ct, pet = acq.ct, acq.pet
        assert ct.size[:2] == (512, 512) and 100 <= ct.size[2] <= 400
        assert 0.85 <= ct.spacing[0] <= 1.2 and 1.5 <= ct.spacing[2] <= 5.0
        assert 2.7 <= pet.spacing[0] <= 5.5 and 128 <= pet.size[0] <= 256
        ct_lo, ct_hi = ct.extent_mm()
        assert abs(ct_hi[2] - plan.anatomy.z_of(0.0)) < 30.0  # the top of the scan is the vertex (superior)
        length = ct_hi[2] - ct_lo[2]
        assert {"head": 250 < length < 400, "thorax": 450 < length < 650, "whole-body": length > 850}[coverage]


def test_same_seed_same_case_other_seed_other_case():
    a = generate_case("HGJ-002", seed=5, size="small")
    b = generate_case("HGJ-002", seed=5, size="small")
    c = generate_case("HGJ-002", seed=6, size="small")
    for name in ("ct", "pet", "label"):
        assert np.array_equal(arr(getattr(a, name)), arr(getattr(b, name)))
        assert Grid.of(getattr(a, name)) == Grid.of(getattr(b, name))
    assert a.clinical == b.clinical and a.rfs_days == b.rfs_days and a.lesions == b.lesions
    assert a.oracle_risk != c.oracle_risk


def test_labels_exactly_on_ct_grid_and_pet_on_its_own(cohort40):
    differ = 0
    for case in cohort40:
        assert grid_differences(Grid.of(case.label), Grid.of(case.ct)) == []
        ct, pet = Grid.of(case.ct), Grid.of(case.pet)
        if ct.spacing != pet.spacing and ct.origin != pet.origin and ct.size != pet.size:
            differ += 1
        # the head is at the superior (+z) end: the hottest slices (brain) are in the PET's upper half
        slice_means = arr(case.pet).mean(axis=(1, 2))
        assert np.argmax(slice_means) >= len(slice_means) // 2
    assert differ >= 0.9 * len(cohort40)


def test_cohort_guarantees_and_messy_geometry(cohort20, cohort40):
    ids = [c.patient_id for c in cohort20]
    assert ids[:3] == ["CHUM-001", "CHUS-001", "HGJ-001"] and ids[11] == "CHUM-002"
    assert all(c.has_primary for c in cohort20)
    assert any(c.n_nodes == 0 for c in cohort20)
    assert any(c.n_nodes >= 2 for c in cohort20)
    assert any(c.ct.GetDirection() != (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0) for c in cohort20)
    assert 0.2 <= np.mean([c.planning_ct is not None for c in cohort40]) <= 0.6
    for case in cohort20:
        n_ct = case.ct.GetSize()
        assert 96 <= n_ct[0] <= 128 and 40 <= n_ct[2] <= 80
        assert 3.0 <= case.ct.GetSpacing()[2] <= 5.0
        assert 4.0 <= case.pet.GetSpacing()[0] <= 6.0


def test_each_lesion_is_one_component_of_the_label(cohort40):
    from scipy import ndimage

    for case in cohort40:
        label = arr(case.label)
        for value in (1, 2):
            _, count = ndimage.label(label == value, structure=np.ones((3, 3, 3), dtype=bool))
            expected = sum(1 for les in case.lesions if les["label"] == value)
            assert count == expected, (case.patient_id, value, count, expected)


def test_lesions_are_hot_on_pet(cohort20):
    for case in cohort20:
        pet_on_ct = sitk.Resample(case.pet, case.ct, sitk.Transform(), sitk.sitkLinear, 0.0)
        pet, label, ct = arr(pet_on_ct), arr(case.label), arr(case.ct)
        body = (ct > -500) & (label == 0)
        background = float(np.median(pet[body]))
        assert 0.2 < background < 2.0
        for value in (1, 2):
            if (label == value).any():
                assert float(pet[label == value].mean()) > 2 * background, (case.patient_id, value)


def test_training_layout(training_dir, cohort20):
    ids = [c.patient_id for c in cohort20]
    for task in (1, 2, 3):
        table = pd.read_csv(training_dir / f"HECKTOR_2025_Training_Task_{task}.csv")
        assert list(table.columns) == EXPECTED_COLUMNS[task]
        assert set(table["M-stage"].dropna()) <= {"M0", "M1", "Mx"}
        assert table["PatientID"].tolist() == [p for p in ids if task != 3 or p in set(table["PatientID"])]
    t1 = pd.read_csv(training_dir / "HECKTOR_2025_Training_Task_1.csv")
    assert t1.drop(columns=["PatientID", "CenterID", "Age", "Gender"]).isna().any().any()  # realistic blanks
    t2 = pd.read_csv(training_dir / "HECKTOR_2025_Training_Task_2.csv")
    assert set(t2["Relapse"]) <= {0, 1} and (t2["RFS"] > 0).all()
    t3 = pd.read_csv(training_dir / "HECKTOR_2025_Training_Task_3.csv")
    assert set(t3["HPV Status"]) <= {0, 1} and len(t3) == sum(c.hpv is not None for c in cohort20)
    for case in cohort20:
        pid = case.patient_id
        folder = training_dir / "Task 1" / pid
        ct = read_image(folder / f"{pid}__CT.nii.gz")
        label = read_image(folder / f"{pid}.nii.gz")
        read_image(folder / f"{pid}__PT.nii.gz")
        assert grid_differences(Grid.of(label), Grid.of(ct)) == []
        assert np.array_equal(arr(label), arr(case.label))
        task2 = sorted(p.name for p in (training_dir / "Task 2" / pid).iterdir())
        expected = {f"{pid}__CT.nii.gz", f"{pid}__PT.nii.gz"}
        if case.planning_ct is not None:
            expected |= {f"{pid}__CTPlanning.nii.gz", f"{pid}__RTDOSE.nii.gz"}
        assert set(task2) == expected
    meta = json.loads((training_dir / "synthetic_metadata.json").read_text())
    assert meta["seed"] == 7 and meta["size"] == "small" and meta["n"] == 20


def test_grand_challenge_layout(gc_dir, cohort40):
    inputs = gc_dir / "inputs"
    assert sorted(p.name for p in inputs.iterdir()) == sorted(c.patient_id for c in cohort40)
    saw_absent_key = False
    for case in cohort40:
        folder = inputs / case.patient_id
        ct = read_image(find_single_image(folder / interface.CT.relative_path))
        read_image(find_single_image(folder / interface.PET.relative_path))
        for socket in (interface.PLANNING_CT, interface.RT_DOSE):
            assert (folder / socket.relative_path).is_dir() == (case.planning_ct is not None)
        for sub in (folder / "images").iterdir():
            assert len(list(sub.iterdir())) == 1 and next(sub.iterdir()).suffix == ".mha"
        ehr = json.loads((folder / interface.EHR.relative_path).read_text())
        assert ehr == {k: v for k, v in case.clinical.items() if v is not None}
        assert "CenterID" in ehr and None not in ehr.values()
        saw_absent_key |= len(ehr) < len(case.clinical)
        assert not ck.parse_clinical(ehr).notes
        entries = json.loads((folder / "inputs.json").read_text())
        paths = {entry_relative_path(e) for e in entries}
        expected = {s.relative_path for s in interface.TASK_INPUTS[2]}
        assert paths == (
            expected if case.planning_ct is not None else expected - {"images/ct-planning", "images/rt-dose"}
        )
        ct_entry = next(e for e in entries if entry_relative_path(e) == interface.CT.relative_path)
        assert patient_id_from_image_name(entry_image_name(ct_entry)) == case.patient_id
        ehr_entry = next(e for e in entries if entry_relative_path(e) == interface.EHR.relative_path)
        assert ehr_entry["value"] == ehr
        label = read_image(gc_dir / "ground_truth" / "labels" / f"{case.patient_id}.mha")
        assert label.GetPixelID() == sitk.sitkUInt8
        assert grid_differences(Grid.of(label), Grid.of(ct)) == []
    assert saw_absent_key
    outcomes = pd.read_csv(gc_dir / "ground_truth" / "outcomes.csv")
    assert list(outcomes.columns) == ["PatientID", "CenterID", "RFS", "Relapse", "HPV Status"]
    assert outcomes["HPV Status"].isna().sum() == sum(c.hpv is None for c in cohort40)


def test_oracle_values_plausible(gc_dir):
    meta = json.loads((gc_dir / "synthetic_metadata.json").read_text())
    oracle = meta["oracle"]
    assert meta["n"] == 40 and oracle["n_cases"] == 40
    assert 0.62 <= oracle["c_index"] <= 0.95
    assert 0.62 <= oracle["hpv_auc"] <= 0.98
    assert 3 <= oracle["n_events"] <= 16  # about 20 % relapses
    # The achievable ceilings drop hidden terms (frailty, latent HPV, logit noise): lower, still informative.
    assert 0.55 <= oracle["c_index_achievable"] <= oracle["c_index"] + 0.05
    assert 0.55 <= oracle["hpv_auc_achievable"] <= oracle["hpv_auc"] + 0.05
    assert 0.5 <= oracle["n_hpv_positive"] / oracle["n_hpv_known"] <= 0.85  # about 2:1 HPV+


def test_layouts_are_byte_identical_for_the_same_seed(tmp_path):
    for run in ("a", "b"):
        cases = generate_cohort(n=3, seed=99, size="small")
        write_training_layout(cases, tmp_path / run / "training")
        write_grand_challenge_layout(cases, tmp_path / run / "gc")
    comparison = filecmp.dircmp(tmp_path / "a", tmp_path / "b")

    def assert_same(cmp: filecmp.dircmp) -> None:
        assert not cmp.left_only and not cmp.right_only and not cmp.diff_files and not cmp.funny_files
        _match, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        assert not mismatch and not errors
        for sub in cmp.subdirs.values():
            assert_same(sub)

    assert_same(comparison)


def test_cli_writes_a_cohort(tmp_path):
    out = tmp_path / "cli"
    result = subprocess.run(
        [sys.executable, "-m", "synthetic", "--out", str(out), "--cases", "2", "--seed", "3"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "case 2/2" in result.stderr and "done: 2 cases" in result.stderr
    assert (out / "Task 1" / "CHUM-001" / "CHUM-001__CT.nii.gz").is_file()
    assert json.loads((out / "synthetic_metadata.json").read_text())["n"] == 2


def _tree_content(root: Path) -> dict[str, object]:
    """Decoded content of a generated tree: image arrays and grids, JSON values, text files."""
    content: dict[str, object] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "README.md"):
        key = str(path.relative_to(root))
        if path.suffix == ".mha":
            image = read_image(path)
            content[key] = (Grid.of(image), image.GetPixelID(), arr(image).tobytes())
        elif path.suffix == ".json":
            content[key] = json.loads(path.read_text())
        else:
            content[key] = path.read_text()
    return content


def test_committed_examples_are_up_to_date(tmp_path):
    from synthetic.examples import build_examples

    fresh = build_examples(tmp_path / "examples")
    committed = REPO / "ground_truth_examples"
    assert _tree_content(fresh) == _tree_content(committed), (
        "ground_truth_examples/ is stale: run `python -m synthetic.examples`"
    )


def test_committed_2026_examples_are_up_to_date(tmp_path):
    from synthetic.examples import build_examples_2026

    fresh = build_examples_2026(tmp_path / "examples")
    committed = REPO / "ground_truth_examples_2026"
    assert _tree_content(fresh) == _tree_content(committed), (
        "ground_truth_examples_2026/ is stale: run `python -m synthetic.examples --edition 2026`"
    )


def test_examples_default_to_the_repository(tmp_path):
    from synthetic.examples import DEFAULT_OUT, DEFAULT_OUT_2026

    assert DEFAULT_OUT == REPO / "ground_truth_examples" and DEFAULT_OUT_2026 == REPO / "ground_truth_examples_2026"


def test_examples_have_their_promised_properties():
    root = REPO / "ground_truth_examples"
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    cts = {p.name: read_image(find_single_image(p / "images" / "ct")) for p in (root / "inputs").iterdir()}
    assert cts["CHUS-001"].GetDirection() != identity
    labels = {pid: sitk.GetArrayFromImage(read_image(root / "ground_truth" / "labels" / f"{pid}.mha")) for pid in cts}
    assert not (labels["HGJ-001"] == 2).any() and (labels["HMR-001"] == 2).any()
    with_planning = {p.name for p in (root / "inputs").iterdir() if (p / "images" / "ct-planning").is_dir()}
    assert with_planning == {"CHUM-001"}
    for task in (1, 2, 3):
        jobs = json.loads((root / "predictions" / f"task{task}" / "predictions.json").read_text())
        assert len(jobs) == 5
        for job in jobs:
            outputs = {entry_relative_path(e) for e in job["outputs"]}
            # Every required output, plus the optional HPV probability (the examples have no survival curves).
            promised = [s for s in interface.TASK_OUTPUTS[task] if s not in interface.OPTIONAL_OUTPUTS]
            promised += [interface.HPV_PROBABILITY] if task == 3 else []
            assert outputs == {s.relative_path for s in promised}
            ct_entry = next(e for e in job["inputs"] if entry_relative_path(e) == interface.CT.relative_path)
            pid = patient_id_from_image_name(entry_image_name(ct_entry))
            if task == 1:
                folder = root / "predictions" / "task1" / job["pk"] / "output" / interface.SEGMENTATION.relative_path
                prediction = read_image(find_single_image(folder))
                assert grid_differences(Grid.of(prediction), Grid.of(cts[pid])) == []
                assert not np.array_equal(sitk.GetArrayFromImage(prediction), labels[pid])  # perturbed, not a copy


def test_oracle_scores_undefined_without_comparable_pairs():
    from synthetic import oracle_scores

    base = {"oracle_risk": 1.0, "achievable_risk": 1.0, "oracle_hpv_prob": 0.5, "achievable_hpv_prob": 0.5, "hpv": 1}
    # The only event is the later time: no comparable pair, so no C-index (not an exception).
    cases = [{**base, "rfs_days": 100.0, "relapse": 0}, {**base, "rfs_days": 200.0, "relapse": 1}]
    scores = oracle_scores(cases)
    assert scores["c_index"] is None and scores["c_index_achievable"] is None and scores["hpv_auc"] is None
    all_censored = [{**c, "relapse": 0} for c in cases]
    assert oracle_scores(all_censored)["c_index"] is None
    assert oracle_scores(cases[1:])["c_index"] is None  # a single case
