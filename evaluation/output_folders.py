"""Read a folder of the algorithm's own output folders, one per patient, for ``score-folder``.

Layout (what ``python -m algorithm run --output OUT/<PatientID>`` and ``python -m algorithm demo`` write)::

    OUT/<PatientID>/images/tumor-lymph-node-segmentation/<one>.mha   Task 1
    OUT/<PatientID>/rfs.json [rfs-survival-curve.json]               Task 2
    OUT/<PatientID>/hpv-status.json [hpv-probability.json]           Task 3

The folder name is the PatientID. A patient folder without the task's output is a missing prediction
(scored as missing, with a problem naming the file), exactly as a Grand Challenge job without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evaluation.problems import Problem
from evaluation.submission import MISSING, CaseSubmission
from hecktor import interface
from hecktor.errors import InputError
from hecktor.imageio import find_single_image


def _all_output_paths() -> set[str]:
    return {s.relative_path for sockets in interface.TASK_OUTPUTS.values() for s in sockets}


def is_output_folders(folder: Path) -> bool:
    """True when some subfolder of ``folder`` holds one of the algorithm's outputs (any task)."""
    if not folder.is_dir():
        return False
    paths = _all_output_paths()
    return any(sub.is_dir() and any((sub / p).exists() for p in paths) for sub in folder.iterdir())


def _json_value(path: Path) -> Any:
    """The JSON file's value (NaN/Infinity literals parsed); :data:`MISSING` when absent; the text
    ``"<name: not JSON>"`` (an unusable value) when it does not parse."""
    if not path.is_file():
        return MISSING
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return f"<{path.name}: not JSON>"


def read_output_folders(folder: Path, task: int) -> tuple[dict[str, CaseSubmission], list[Problem]]:
    """One :class:`CaseSubmission` per patient subfolder of ``folder`` (see the module docstring)."""
    subs: dict[str, CaseSubmission] = {}
    key = interface.TASK_KEY_OUTPUT[task]
    for case_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        pid = case_dir.name
        sub = CaseSubmission(pid)
        if task == 1:
            target = case_dir / key.relative_path
            if target.is_dir():
                try:
                    sub.image_path = find_single_image(target, "segmentation")
                except InputError as exc:
                    sub.status = "invalid"
                    sub.problems.append(Problem("error", "unreadable_prediction", f"{exc}; scored as empty", task, pid))
        else:
            sub.value = _json_value(case_dir / key.relative_path)
            if task == 2:
                sub.curve = _json_value(case_dir / interface.RFS_SURVIVAL_CURVE.relative_path)
            else:
                sub.probability = _json_value(case_dir / interface.HPV_PROBABILITY.relative_path)
        if (task == 1 and sub.image_path is None and sub.status == "ok") or (task != 1 and sub.value is MISSING):
            sub.status = "no_output"
            sub.problems.append(
                Problem(
                    "error",
                    "missing_output",
                    f"{pid}/ has no {key.relative_path} output; scored as missing",
                    task,
                    pid,
                )
            )
        subs[pid] = sub
    return subs, []
