"""``python -m algorithm demo``: the whole job on the bundled examples, as Grand Challenge would run it.

1. the algorithm processes every case of ``<examples>/inputs/<PatientID>/`` (models loaded once),
   writing ``<out>/outputs/<PatientID>/``;
2. for each task, the outputs become an evaluation input tree (``predictions.json`` + job folders)
   under ``<out>/evaluation/task<N>/input``;
3. the evaluation (``python -m evaluation``) scores each tree against ``<examples>/ground_truth``
   and writes ``<out>/evaluation/task<N>/metrics.json``;
4. a summary of the leaderboard metrics is printed.

HECKTOR 2026 (``--edition 2026``): ``--examples`` is a 2026 Grand Challenge layout (``python -m synthetic --edition
2026 --layout grand-challenge``); the jobs' four outputs become one 2026 predictions tree, scored as a 2026 phase
under ``<out>/evaluation/2026``.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from hecktor import interface
from hecktor.errors import InputError
from hecktor.metrics.table import headline_keys
from hecktor.payloads import entry_image_name, entry_relative_path
from hecktor.predictions_tree import JobSpec, write_predictions_tree
from hecktor.progress import progress

log = logging.getLogger(__name__)

#: Leaderboard columns printed per task (keys of metrics.json's "aggregates"), from the metric table.
SUMMARY_KEYS = {task: headline_keys(task) for task in (1, 2, 3)}


def original_image_names(case_dir: Path) -> tuple[str | None, str | None]:
    """Original CT and PET names from a case's ``inputs.json`` (``None`` when absent)."""
    path = case_dir / "inputs.json"
    if not path.is_file():
        return None, None
    names: dict[str, str | None] = {}
    for entry in json.loads(path.read_text()):
        names[entry_relative_path(entry) or ""] = entry_image_name(entry)
    return names.get(interface.CT.relative_path), names.get(interface.PET.relative_path)


#: Leaderboard columns of a 2026 phase.
SUMMARY_KEYS_2026 = (
    "dice_score",
    "t_stage_balanced_accuracy",
    "n_stage_balanced_accuracy",
    "staging_score",
    "c_index",
    "final_score",
)


def _evaluate(tree: Path, ground_truth: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "evaluation", "--input", str(tree), "--ground-truth", str(ground_truth)]
    subprocess.run([*command, "--output", str(out)], check=True)
    return json.loads((out / "metrics.json").read_text())["aggregates"]


def run_demo(examples: Path, out: Path, args: argparse.Namespace) -> int:
    from algorithm.pipeline import parse_tasks
    from algorithm.settings import make_algorithm

    inputs_root = examples / "inputs"
    ground_truth = examples / "ground_truth"
    if not inputs_root.is_dir() or not ground_truth.is_dir():
        raise InputError(examples, "expected inputs/ and ground_truth/ folders (see ground_truth_examples/README.md)")
    cases = sorted(p for p in inputs_root.iterdir() if p.is_dir())
    tasks = parse_tasks(args.tasks)
    start = time.perf_counter()
    algorithm = make_algorithm(args, tasks)
    jobs = []
    fallbacks = 0
    for case_dir in progress(cases, "algorithm: case", log, every_s=0):
        case_out = out / "outputs" / case_dir.name
        result = algorithm.run(case_dir, case_out)
        fallbacks += len(result.fallbacks)
        ct_name, pet_name = original_image_names(case_dir)
        jobs.append(JobSpec(case_dir.name, case_out, ct_name, pet_name))
    summary: dict[int | str, dict[str, float]] = {}
    if algorithm.edition == "2026":
        phase_dir = out / "evaluation" / "2026"
        write_predictions_tree(phase_dir / "input", jobs, edition="2026")
        log.info("evaluation: scoring the 2026 phase")
        aggregates = _evaluate(phase_dir / "input", ground_truth, phase_dir)
        summary["2026"] = {k: aggregates[k] for k in SUMMARY_KEYS_2026 if isinstance(aggregates.get(k), float)}
        tasks = set()
    for task in sorted(tasks):
        task_dir = out / "evaluation" / f"task{task}"
        write_predictions_tree(task_dir / "input", jobs, task)
        log.info("evaluation: scoring task %d", task)
        aggregates = _evaluate(task_dir / "input", ground_truth, task_dir)
        summary[task] = {k: aggregates[k] for k in SUMMARY_KEYS[task] if k in aggregates}
    what = "edition 2026" if algorithm.edition == "2026" else f"tasks {sorted(tasks)}"
    print(f"\nHECKTOR demo: {len(cases)} cases, {what}, {time.perf_counter() - start:.1f} s")
    where = "2026" if algorithm.edition == "2026" else "task<N>"
    print(f"  outputs: {out / 'outputs'}   metrics: {out / 'evaluation'}/{where}/metrics.json")
    if fallbacks:
        print(f"  fallbacks taken: {fallbacks} (see the log)")
    for task, values in summary.items():
        shown = ", ".join(f"{k} = {v:.3f}" for k, v in values.items())
        print(f"  {'HECKTOR 2026' if task == '2026' else f'Task {task}'}: {shown}")
    print("  (synthetic examples and demo weights trained on synthetic data: not clinical figures)")
    return 0
