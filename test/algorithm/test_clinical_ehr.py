"""Every ehr.json oddity parses (through hecktor.clinical.read_clinical_json on real files) and feeds the models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from algorithm.features import ANY_CLINICAL_FEATURE_NAMES, CLINICAL_FEATURE_NAMES, clinical_features
from algorithm.tabular import design_row
from hecktor.clinical import AGE, ALCOHOL, GENDER, M_STAGE, PERFORMANCE, TOBACCO, TREATMENT, read_clinical_json

FULL = {
    "Age": 56,
    "Gender": 1,
    "Tobacco Consumption": 0,
    "Alcohol Consumption": 1,
    "Performance Status": 0,
    "Treatment": 0,
    "M-stage": "M0",
}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ehr.json"
    path.write_text(text, encoding="utf-8")
    return path


def _read(tmp_path: Path, obj: object) -> dict[str, float | None]:
    return read_clinical_json(_write(tmp_path, json.dumps(obj))).values


def test_full_record(tmp_path: Path) -> None:
    rec = read_clinical_json(_write(tmp_path, json.dumps(FULL)))
    assert rec.vector() == [56.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert rec.missing == []


def test_absent_keys_are_missing(tmp_path: Path) -> None:
    values = _read(tmp_path, {"Age": 70})
    assert values[AGE] == 70.0
    assert all(values[k] is None for k in (GENDER, TOBACCO, ALCOHOL, PERFORMANCE, TREATMENT, M_STAGE))


def test_empty_object(tmp_path: Path) -> None:
    rec = read_clinical_json(_write(tmp_path, "{}"))
    assert all(math.isnan(v) for v in rec.vector())


def test_null_values(tmp_path: Path) -> None:
    values = _read(tmp_path, dict.fromkeys(FULL))
    assert all(v is None for v in values.values())


def test_json_nan_and_infinity(tmp_path: Path) -> None:
    rec = read_clinical_json(_write(tmp_path, '{"Age": NaN, "Gender": Infinity, "Treatment": -Infinity}'))
    assert rec.get(AGE) is None and rec.get(GENDER) is None and rec.get(TREATMENT) is None


def test_numbers_as_strings(tmp_path: Path) -> None:
    values = _read(tmp_path, {"Age": "56", "Gender": "1", "Tobacco Consumption": "0", "Performance Status": "2"})
    assert values[AGE] == 56.0 and values[GENDER] == 1.0 and values[TOBACCO] == 0.0 and values[PERFORMANCE] == 2.0
    values = _read(tmp_path, {"Age": " 61.5 ", "Treatment": "1.0", "Alcohol Consumption": "0,0"})
    assert values[AGE] == 61.5 and values[TREATMENT] == 1.0 and values[ALCOHOL] == 0.0


def test_gender_letters_and_words(tmp_path: Path) -> None:
    assert _read(tmp_path, {"Gender": "M"})[GENDER] == 1.0
    assert _read(tmp_path, {"Gender": "F"})[GENDER] == 0.0
    assert _read(tmp_path, {"Gender": "female"})[GENDER] == 0.0
    assert _read(tmp_path, {"Gender": "X?"})[GENDER] is None


def test_key_spelling_variants(tmp_path: Path) -> None:
    values = _read(
        tmp_path,
        {
            "age": 50,
            "sex": "M",
            "Tabacco Consumption": 1,
            "alcohol_consumption": 0,
            "Performance status": "ECOG 1",
            "treatment ": 1,
            "M stage": "M1",
            "CenterID": "3",
        },
    )
    assert [values[k] for k in (AGE, GENDER, TOBACCO, ALCOHOL, PERFORMANCE, TREATMENT, M_STAGE)] == [
        50.0,
        1.0,
        1.0,
        0.0,
        1.0,
        1.0,
        1.0,
    ]
    assert values["CenterID"] == 3.0


def test_m_stage_variants(tmp_path: Path) -> None:
    assert _read(tmp_path, {"M-stage": "Mx"})[M_STAGE] is None
    assert _read(tmp_path, {"M-stage": "m1a"})[M_STAGE] == 1.0
    assert _read(tmp_path, {"M-stage": 0})[M_STAGE] == 0.0


def test_booleans_words_and_missing_words(tmp_path: Path) -> None:
    values = _read(tmp_path, {"Tobacco Consumption": True, "Alcohol Consumption": "no", "Treatment": "unknown"})
    assert values[TOBACCO] == 1.0 and values[ALCOHOL] == 0.0 and values[TREATMENT] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Radiotherapy only", 0.0),
        ("RT", 0.0),
        ("chemoradiotherapy", 1.0),
        ("Chemo-RT", 1.0),
        ("CRT", 1.0),
        ("1", 1.0),
        (0, 0.0),
        ("surgery + radiotherapy", None),
    ],
)
def test_treatment_words_and_codes(tmp_path: Path, value: object, expected: float | None) -> None:
    """1 = chemoradiotherapy, 0 = radiotherapy only (the organisers' two values); anything else is missing."""
    rec = read_clinical_json(_write(tmp_path, json.dumps({"Treatment": value})))
    assert rec.get(TREATMENT) == expected
    assert (expected is None) == any("Treatment" in note for note in rec.notes)


def test_out_of_range_and_nested_values(tmp_path: Path) -> None:
    values = _read(tmp_path, {"Age": 250, "Performance Status": 7, "Gender": [1], "Treatment": {"x": 1}})
    assert all(values[k] is None for k in (AGE, PERFORMANCE, GENDER, TREATMENT))


def test_unknown_keys_are_noted_not_fatal(tmp_path: Path) -> None:
    rec = read_clinical_json(_write(tmp_path, json.dumps({**FULL, "Favourite colour": "blue"})))
    assert rec.vector() == [56.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert any("Favourite colour" in n for n in rec.notes)


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '"Age"', "null", "{'Age': 5}"])
def test_broken_files_give_all_missing(tmp_path: Path, text: str) -> None:
    rec = read_clinical_json(_write(tmp_path, text))
    assert all(math.isnan(v) for v in rec.vector())
    assert rec.notes


def test_byte_order_mark_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "ehr.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(FULL).encode())
    assert read_clinical_json(path).vector()[0] == 56.0
    assert all(math.isnan(v) for v in read_clinical_json(tmp_path / "absent.json").vector())


def test_clinical_features_and_design_row(tmp_path: Path) -> None:
    rec = read_clinical_json(_write(tmp_path, json.dumps({"Age": "61", "Gender": "F", "M-stage": "Mx"})))
    feats = clinical_features(rec)
    assert list(feats) == list(ANY_CLINICAL_FEATURE_NAMES)  # 2025's inputs, then HPV status (a 2026 input)
    assert list(feats)[: len(CLINICAL_FEATURE_NAMES)] == list(CLINICAL_FEATURE_NAMES)
    assert feats["clinical_age"] == 61.0 and feats["clinical_gender"] == 0.0 and math.isnan(feats["clinical_m_stage"])
    row = design_row(
        {"gtvp_suv_max": "7.5", "gtvn_count": None, "junk": object()},
        rec,
        ["gtvp_suv_max", "gtvn_count", "clinical_age"],
    )
    assert row[0] == 7.5 and math.isnan(row[1]) and row[2] == 61.0
    assert np.isnan(design_row(None, None, list(CLINICAL_FEATURE_NAMES))).all()
