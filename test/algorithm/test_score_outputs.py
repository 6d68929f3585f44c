"""Every file the algorithm or a trainer writes is scorable as it is with ``score-folder``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from algorithm.pipeline import Algorithm, parse_tasks
from evaluation.cli import main as evaluation_main
from synthetic import generate_case, write_grand_challenge_layout


@pytest.fixture(scope="module")
def algorithm_outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``outputs/<PID>/`` of the bundled algorithm on two synthetic cases, and their ground truth."""
    root = tmp_path_factory.mktemp("gc")
    cases = [generate_case("CHUM-001", seed=21, size="small"), generate_case("MDA-002", seed=22, size="small")]
    write_grand_challenge_layout(cases, root)
    algorithm = Algorithm(parse_tasks("all"), device="cpu")
    for case_dir in sorted((root / "inputs").iterdir()):
        algorithm.run(case_dir, root / "outputs" / case_dir.name)
    return root / "outputs", root / "ground_truth"


def _known(ground_truth: Path, column: str) -> int:
    with (ground_truth / "outcomes.csv").open(newline="") as handle:
        return sum(1 for row in csv.DictReader(handle) if row[column].strip())


@pytest.mark.parametrize(
    ("task", "key"), [(1, "GTVp_mean_dice"), (2, "c_index"), (3, "balanced_accuracy")], ids=["task1", "task2", "task3"]
)
def test_score_folder_reads_the_algorithms_output_folders(algorithm_outputs, tmp_path, task, key) -> None:
    outputs, ground_truth = algorithm_outputs
    metrics_path = tmp_path / "metrics.json"
    argv = ["score-folder", "--predictions", str(outputs), "--data", str(ground_truth), "--task", str(task)]
    assert evaluation_main([*argv, "--output", str(metrics_path), "--bootstrap", "0"]) == 0
    metrics = json.loads(metrics_path.read_text())
    known = {1: 2, 2: _known(ground_truth, "Relapse"), 3: _known(ground_truth, "HPV Status")}[task]
    assert known >= 1 and metrics["aggregates"][f"task{task}_n_cases"] == known
    assert metrics["aggregates"].get(f"task{task}_n_missing_predictions", 0) == 0
    assert key in metrics["aggregates"]


def test_a_case_folder_without_the_output_is_a_missing_prediction(algorithm_outputs, tmp_path) -> None:
    outputs, ground_truth = algorithm_outputs
    broken = tmp_path / "outputs"
    for case in outputs.iterdir():
        (broken / case.name).mkdir(parents=True)
        if case.name == "CHUM-001":
            (broken / case.name / "rfs.json").write_text((case / "rfs.json").read_text())
    metrics_path = tmp_path / "metrics.json"
    argv = ["score-folder", "--predictions", str(broken), "--data", str(ground_truth), "--task", "2"]
    assert evaluation_main([*argv, "--output", str(metrics_path), "--bootstrap", "0"]) == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["aggregates"]["task2_n_missing_predictions"] == 1
    assert any("MDA-002/ has no rfs.json" in p["message"] for p in metrics["problems"])


def test_hpv_cv_predictions_of_older_trainers_with_a_positive_column_are_read(tmp_path) -> None:
    ground_truth = Path(__file__).resolve().parents[2] / "ground_truth_examples" / "ground_truth"
    with (ground_truth / "outcomes.csv").open(newline="") as handle:
        truth = {r["PatientID"]: r["HPV Status"] for r in csv.DictReader(handle) if r["HPV Status"].strip()}
    rows = "".join(f"{pid},{'True' if hpv == '1' else 'False'},0.5\n" for pid, hpv in truth.items())
    (tmp_path / "cv_predictions.csv").write_text("PatientID,positive,probability\n" + rows)
    metrics_path = tmp_path / "metrics.json"
    argv = ["score-folder", "--predictions", str(tmp_path / "cv_predictions.csv"), "--data", str(ground_truth)]
    assert evaluation_main([*argv, "--task", "3", "--output", str(metrics_path), "--bootstrap", "0"]) == 0
    assert json.loads(metrics_path.read_text())["aggregates"]["balanced_accuracy"] == 1.0
