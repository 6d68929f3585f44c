"""The 2026 shared core: T/N stage normalisation, the edition setting and its sockets, tolerant ehr.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hecktor import interface
from hecktor.clinical import FEATURE_FIELDS, FEATURE_FIELDS_2026, HPV, M_STAGE, read_clinical_json
from hecktor.dataset_layout import stage_column
from hecktor.metrics.classification import multiclass_balanced_accuracy
from hecktor.staging import N_STAGES, T_STAGES, normalise_stage


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("T2", "T", "T2"),
        (" t 3", "T", "T3"),
        ("cT4a", "T", "T4"),
        (3, "T", "T3"),
        ("N2a", "N", "N2"),
        ("n2B", "N", "N2"),
        ("N2c", "N", "N2"),
        ("N3b", "N", "N3"),
        (0.0, "N", "N0"),
    ],
)
def test_stages_normalise_onto_the_2026_sets(raw: object, kind: str, value: str) -> None:
    stage = normalise_stage(raw, kind)  # type: ignore[arg-type]
    assert stage.value == value and not stage.unknown and stage.normalised == (raw != value)


@pytest.mark.parametrize("raw", ["Tx", "TX", "x", None, "", "unknown", float("nan")])
def test_tx_and_blanks_are_an_explicit_unknown(raw: object) -> None:
    stage = normalise_stage(raw, "T")
    assert stage.value is None and stage.unknown and not stage.invalid


@pytest.mark.parametrize(
    ("raw", "kind"), [("T0", "T"), ("Tis", "T"), ("T5", "T"), ("N4", "N"), ("N1", "T"), (True, "N")]
)
def test_other_values_are_invalid_with_a_reason(raw: object, kind: str) -> None:
    stage = normalise_stage(raw, kind)  # type: ignore[arg-type]
    assert stage.invalid and stage.reason


def test_value_sets() -> None:
    assert T_STAGES == ("T1", "T2", "T3", "T4") and N_STAGES == ("N0", "N1", "N2", "N3")


def test_stage_columns_any_spelling() -> None:
    assert stage_column(["PatientID", "T-stage", "N-stage"], "T") == "T-stage"
    assert stage_column(["PatientID", "N Stage", "T_stage"], "N") == "N Stage"
    assert stage_column(["PatientID", "RFS"], "T") is None


def test_multiclass_balanced_accuracy_by_hand() -> None:
    result = multiclass_balanced_accuracy(["T1", "T2", "T2", "T3"], ["T1", "T2", "T3", None])
    assert result.balanced_accuracy == pytest.approx(0.5) and result.recall == {"T1": 1.0, "T2": 0.5, "T3": 0.0}
    assert result.n_correct == 2 and result.n_missing_predictions == 1


def test_edition_setting() -> None:
    assert interface.edition(environ={}) == "2025" == interface.DEFAULT_EDITION
    assert interface.edition(environ={"HECKTOR_EDITION": "2026"}) == "2026"
    assert interface.edition("2025", environ={"HECKTOR_EDITION": "2026"}) == "2025"
    with pytest.raises(ValueError, match="HECKTOR_EDITION='2024'"):
        interface.edition(environ={"HECKTOR_EDITION": "2024"})


def test_2026_sockets_beside_the_2025_ones() -> None:
    outputs = {s.relative_path for s in interface.EDITION_OUTPUTS["2026"]}
    assert outputs == {"images/head-neck-tumor-segmentation", "t-stage.json", "n-stage.json", "rfs.json"}
    assert [s.relative_path for s in interface.EDITION_INPUTS["2026"]] == ["images/ct", "images/pet", "ehr.json"]
    assert interface.TASK_OUTPUTS[1] == (interface.SEGMENTATION,)  # 2025 unchanged
    assert interface.edition_of_outputs({"rfs.json"}) == "2025"
    assert interface.edition_of_outputs({"rfs.json", "t-stage.json"}) == "2026"
    assert interface.edition_of_outputs(set()) is None
    assert interface.tasks_of_outputs({"n-stage.json", "rfs.json"}, "2026") == [2, interface.STAGING_TASK]
    assert interface.tasks_of_outputs({"images/tumor-lymph-node-segmentation", "rfs.json"}) == [1, 2]


def test_organisers_sample_ehr_with_a_trailing_comma(tmp_path: Path) -> None:
    path = tmp_path / "ehr.json"
    path.write_text(
        '{\n    "CenterID": 3,\n    "Age": 62,\n    "Gender": 1,\n    "Tobacco Consumption": 1,\n'
        '    "Alcohol Consumption": 0,\n    "Performance Status": 1,\n    "Treatment": 1,\n'
        '    "HPV Status": 1,\n}\n'
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(path.read_text())
    record = read_clinical_json(path)
    assert record.get(HPV) == 1.0 and record.get("Age") == 62.0 and record.get("CenterID") == 3.0
    assert "trailing comma" in record.notes[0]
    assert record.vector(FEATURE_FIELDS_2026)[-1] == 1.0 and M_STAGE not in FEATURE_FIELDS_2026
    assert HPV not in FEATURE_FIELDS  # 2025: HPV is the Task 3 target, never a model input


def test_commas_inside_strings_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "ehr.json"
    path.write_text('{"Treatment": "radiotherapy,]", "Age": "70",}')
    record = read_clinical_json(path)
    assert record.get("Age") == 70.0 and any("'radiotherapy,]'" in note for note in record.notes)
