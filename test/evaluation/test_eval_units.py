"""Unit tests of the pure parts: value interpretation, outcome parsing, job parsing, workers, fallbacks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from eval_helpers import write_outcomes

from evaluation.config import resolve_workers
from evaluation.fallbacks import finite_or
from evaluation.ground_truth import load_ground_truth, parse_binary, parse_outcome_row
from evaluation.problems import StructuralError
from evaluation.results import build_metrics, dumps_metrics
from evaluation.submission import detect_tasks, parse_jobs, read_predictions_json
from evaluation.values import interpret_hpv, interpret_probability, interpret_risk
from hecktor import interface
from hecktor.payloads import job_entry, socket_value


@pytest.mark.parametrize(
    ("raw", "value", "severity"),
    [
        (0.3, 0.3, None),
        (-2, -2.0, None),
        ("1.5", 1.5, "warning"),
        (math.nan, None, "error"),
        (math.inf, None, "error"),
        (None, None, "error"),
        (True, None, "error"),
        ([1.0], None, "error"),
        ("high", None, "error"),
        ("nan", None, "error"),
    ],
)
def test_interpret_risk(raw: object, value: float | None, severity: str | None) -> None:
    result = interpret_risk(raw)
    assert result.value == value and result.severity == severity


@pytest.mark.parametrize(
    ("raw", "value", "severity"),
    [
        (True, True, None),
        (False, False, None),
        (1, True, "warning"),
        (0.0, False, "warning"),
        (" True ", True, "warning"),
        ("0", False, "warning"),
        (2, None, "error"),
        ("yes please", None, "error"),
        ([True], None, "error"),
        (math.nan, None, "error"),
        (None, None, "error"),
    ],
)
def test_interpret_hpv(raw: object, value: bool | None, severity: str | None) -> None:
    result = interpret_hpv(raw)
    assert result.value == value and result.severity == severity


def test_interpret_probability_out_of_range_is_kept() -> None:
    assert interpret_probability(0.2).severity is None
    result = interpret_probability(1.7)
    assert result.value == 1.7 and result.code == "probability_out_of_range"


def test_parse_outcome_row() -> None:
    row = {"PatientID": "CHUM-001", "CenterID": "3.0", "RFS": "1200.0", "Relapse": "1.0", "HPV Status": ""}
    outcome, bad = parse_outcome_row(row)
    assert (outcome.center_id, outcome.rfs_days, outcome.relapse, outcome.hpv, bad) == ("3", 1200.0, True, None, [])
    outcome, bad = parse_outcome_row({"PatientID": "X-1", "RFS": "-5", "Relapse": "maybe", "HPV Status": "NaN"})
    assert (outcome.rfs_days, outcome.relapse, outcome.hpv) == (None, None, None)
    assert bad == ["RFS", "Relapse"]
    assert parse_binary("false") is False and parse_binary("2") is None


def test_ground_truth_layouts(tmp_path: Path) -> None:
    with pytest.raises(StructuralError, match="missing"):
        load_ground_truth(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StructuralError, match="neither"):
        load_ground_truth(tmp_path / "empty")
    # A tarball with one top folder is tolerated.
    write_outcomes(tmp_path / "wrapped" / "GT" / "outcomes.csv", [{"PatientID": "CHUM-001", "HPV Status": 1}])
    gt = load_ground_truth(tmp_path / "wrapped")
    assert gt.root.name == "GT" and gt.patients(3) == ["CHUM-001"] and gt.patients(2) == []
    assert gt.supported_tasks() == [3]


def test_organiser_csvs_are_merged(tmp_path: Path) -> None:
    (tmp_path / "Task 1" / "CHUM-001").mkdir(parents=True)
    write_outcomes(tmp_path / "HECKTOR_2025_Training_Task_2.csv", [{"PatientID": "CHUM-001", "RFS": 10, "Relapse": 0}])
    (tmp_path / "HECKTOR_2025_Training_Task_3.csv").write_text("PatientID,CenterID,HPV Status\nCHUM-001,1,0\n")
    gt = load_ground_truth(tmp_path)
    assert gt.layout == "organisers"
    o = gt.outcomes["CHUM-001"]
    assert (o.rfs_days, o.relapse, o.hpv, o.center_id) == (10.0, False, False, "1")


def _job(pk: str, ct_name: str | None, outputs: list, status: str = "Succeeded") -> dict:
    inputs = [socket_value(interface.CT, image_name=ct_name)] if ct_name else []
    return job_entry(pk, inputs, outputs, status=status)


def test_parse_jobs_and_detect_tasks() -> None:
    raw = [
        _job("b", "CHUM-002__CT.nii.gz", [socket_value(interface.RFS, value=0.5)]),
        _job("a", "CHUM-001.mha", [socket_value(interface.RFS, value=0.1)]),
        "garbage",
        {"status": "Succeeded"},
        _job("c", None, []),
    ]
    jobs, problems = parse_jobs(raw)
    assert [j.pk for j in jobs] == ["a", "b", "c"]
    assert [j.patient_id for j in jobs] == ["CHUM-001", "CHUM-002", None]
    assert sorted(p.code for p in problems) == ["bad_job_entry", "bad_job_entry", "unmapped_job"]
    assert detect_tasks(jobs) == [2]
    assert detect_tasks([]) == []


def test_read_predictions_json_structural(tmp_path: Path) -> None:
    with pytest.raises(StructuralError, match="missing"):
        read_predictions_json(tmp_path / "predictions.json")
    (tmp_path / "p.json").write_text("{not json")
    with pytest.raises(StructuralError, match="cannot be read as JSON"):
        read_predictions_json(tmp_path / "p.json")
    (tmp_path / "p.json").write_text('{"jobs": []}')
    with pytest.raises(StructuralError, match="expected a list"):
        read_predictions_json(tmp_path / "p.json")
    (tmp_path / "p.json").write_text("[]")
    assert read_predictions_json(tmp_path / "p.json") == []


def test_resolve_workers() -> None:
    assert resolve_workers(3, {}) == (3, "--workers")
    env = {"HECKTOR_EVAL_WORKERS": "2", "GRAND_CHALLENGE_MAX_WORKERS": "8"}
    assert resolve_workers(None, env) == (2, "HECKTOR_EVAL_WORKERS")
    assert resolve_workers(None, {"HECKTOR_EVAL_WORKERS": "x", "GRAND_CHALLENGE_MAX_WORKERS": "8"}) == (
        8,
        "GRAND_CHALLENGE_MAX_WORKERS",
    )
    workers, source = resolve_workers(None, {})
    assert source == "default" and 1 <= workers <= 4


def test_finite_or_records_fallback() -> None:
    problems: list = []
    assert finite_or(0.7, 0.0, key="k", task=1, problems=problems) == 0.7
    assert finite_or(None, 0.5, key="c_index", task=2, problems=problems, why="no pair") == 0.5
    assert finite_or(math.nan, 0.0, key="x", task=1, problems=problems) == 0.0
    assert [p.code for p in problems] == ["undefined_aggregate"] * 2
    assert "no pair" in problems[0].message
    assert [p.severity for p in problems] == ["warning"] * 2
    finite_or(None, 0.5, key="c_index", task=2, problems=problems, why="no pair", centre="CHUM")
    assert problems[-1].severity == "note" and "of centre CHUM" in problems[-1].message  # informational only


def test_metrics_document_is_canonical() -> None:
    metrics = build_metrics([], {"b": 1, "a": 2}, [], [1])
    text = dumps_metrics(metrics)
    assert list(json.loads(text)) == ["aggregates", "conventions", "problems", "results", "version"]
    assert text.endswith("\n") and text == dumps_metrics(json.loads(text))
    with pytest.raises(ValueError, match="non-finite"):
        dumps_metrics({"aggregates": {"x": math.nan}})


def _half(x: int) -> float:
    if x == 3:
        raise MemoryError("too big")
    return x / 2


def test_map_cases_reports_failures_through_on_failure() -> None:
    import logging

    from evaluation.parallel import map_cases

    out = map_cases(_half, [1, 3, 4], 1, logging.getLogger("t"), "case", lambda item, why: f"{item}: {why}")
    assert out == [0.5, "3: MemoryError: too big", 2.0]
