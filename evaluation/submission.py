"""Read ``predictions.json`` and locate each patient's prediction for a task.

Grand Challenge gives the evaluation a list of algorithm jobs (in no particular order); each job's
outputs are at ``<input>/<pk>/output/<relative_path>``. A job is mapped to its patient through the
original name of its CT input image (:func:`hecktor.patients.patient_id_from_image_name`); both the
2025 ``interface`` and the 2026 ``socket`` keys are read (:mod:`hecktor.payloads`).

Policy (documented in docs/evaluation.md):

- A job whose status is not ``Succeeded``, a job without the task's output, and a ground-truth patient
  without any job are **missing predictions** (empty mask / tied risk / wrong HPV call) with an error.
- Several jobs for one patient: a succeeded job is preferred, then the smallest ``pk`` (string order);
  the others are ignored with a warning naming them.
- A job whose patient has no ground truth for the task, or whose CT name does not give a patient, is
  ignored with a warning.
- A job output that resolves outside ``--input`` (a symbolic link, or a ``pk`` folder linked elsewhere) is
  never read: it is an unusable prediction (``outside_input``). A job whose output folder cannot be
  looked at (e.g. a ``pk`` longer than the file system allows in a name) is an unusable prediction too
  (``unreadable_prediction``); the other jobs are scored.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.problems import Problem, StructuralError
from hecktor import interface
from hecktor.errors import InputError
from hecktor.imageio import find_single_image
from hecktor.patients import DEFAULT_CT_NAME_PATTERN, patient_id_from_image_name
from hecktor.payloads import entry_image_name, entry_relative_path

PREDICTIONS_JSON = "predictions.json"
SUCCEEDED = "succeeded"


class _Missing:
    """Sentinel: the job provided no value at all (distinct from a JSON ``null``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Job:
    """One algorithm job of ``predictions.json``. ``outputs`` maps relative paths to value entries."""

    pk: str
    status: str
    ct_name: str | None
    patient_id: str | None
    outputs: Mapping[str, Mapping[str, Any]]

    @property
    def succeeded(self) -> bool:
        return self.status.strip().lower() == SUCCEEDED

    def tasks(self, edition: str = interface.DEFAULT_EDITION) -> list[int]:
        """Tasks whose key output this job has, in ``edition``."""
        return interface.tasks_of_outputs(set(self.outputs), edition)


@dataclass
class CaseSubmission:
    """What the submission provides for one patient and task.

    Attributes:
        status: ``"ok"``; or a missing prediction: ``"no_job"``, ``"failed_job"``, ``"no_output"``,
            ``"invalid"`` (set later when the prediction is unusable).
        image_path: Task 1 label map file (``None`` when missing).
        value: Task 2 risk (2026: the ``rfs.json`` value) / Task 3 HPV call / 2026 T stage as raw JSON, or
            :data:`MISSING`.
        n_stage: 2026 N stage as raw JSON, or :data:`MISSING`.
        probability: Task 3 HPV probability as raw JSON, or :data:`MISSING`.
        curve: Task 2 survival curve (``rfs-survival-curve.json``) as raw JSON, or :data:`MISSING`.
    """

    patient_id: str
    job_pk: str | None = None
    status: str = "ok"
    image_path: Path | None = None
    value: Any = MISSING
    probability: Any = MISSING
    curve: Any = MISSING
    n_stage: Any = MISSING
    problems: list[Problem] = field(default_factory=list)


def read_predictions_json(path: str | Path) -> list[Any]:
    """The list of jobs in ``predictions.json``.

    Raises:
        StructuralError: the file is missing, is not JSON, or is not a list.
    """
    path = Path(path)
    if not path.is_file():
        raise StructuralError(f"{path} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise StructuralError(f"{path} cannot be read as JSON (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StructuralError(f"{path} cannot be read as JSON ({reason})") from None
    if not isinstance(data, list):
        raise StructuralError(f"{path} holds a JSON {type(data).__name__}, expected a list of algorithm jobs")
    return data


def parse_jobs(raw_jobs: list[Any], ct_name_pattern: str = DEFAULT_CT_NAME_PATTERN) -> tuple[list[Job], list[Problem]]:
    """Jobs (sorted by pk) and problems with unusable entries (skipped)."""
    jobs: list[Job] = []
    problems: list[Problem] = []
    for index, raw in enumerate(raw_jobs):
        if not isinstance(raw, Mapping):
            problems.append(Problem("warning", "bad_job_entry", f"job #{index} is not a JSON object; ignored"))
            continue
        pk_raw = raw.get("pk")
        pk = str(pk_raw) if isinstance(pk_raw, str | int) and not isinstance(pk_raw, bool) else ""
        if not pk or "/" in pk or pk in {".", ".."}:
            problems.append(Problem("warning", "bad_job_entry", f"job #{index} has no usable pk; ignored"))
            continue
        status = raw.get("status") if isinstance(raw.get("status"), str) else ""
        ct_name = None
        for entry in _entries(raw.get("inputs")):
            if entry_relative_path(entry) == interface.CT.relative_path:
                ct_name = entry_image_name(entry)
                break
        patient_id = patient_id_from_image_name(ct_name, ct_name_pattern) if ct_name else None
        if patient_id is None:
            what = f"CT input name {ct_name!r}" if ct_name else "no CT input image name"
            problems.append(
                Problem("warning", "unmapped_job", f"{what}: cannot tell the patient; job ignored", job_pk=pk)
            )
        outputs: dict[str, Mapping[str, Any]] = {}
        for entry in _entries(raw.get("outputs")):
            relative_path = entry_relative_path(entry)
            if relative_path and relative_path not in outputs:
                outputs[relative_path] = entry
        jobs.append(Job(pk, status, ct_name, patient_id, outputs))
    jobs.sort(key=lambda j: j.pk)
    return jobs, problems


def _entries(value: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (e for e in value if isinstance(e, Mapping))


def _output_paths(jobs: Iterable[Job]) -> set[str]:
    paths: set[str] = set()
    for job in jobs:
        paths.update(job.outputs)
    return paths


def detect_edition(jobs: Iterable[Job]) -> str | None:
    """``"2026"`` when some job has a 2026-only output, ``"2025"`` when some job has a 2025 task's key
    output, else ``None`` (:func:`hecktor.interface.edition_of_outputs`)."""
    return interface.edition_of_outputs(_output_paths(jobs))


def detect_tasks(jobs: Iterable[Job], edition: str = interface.DEFAULT_EDITION) -> list[int]:
    """Tasks recognised from the jobs' output relative paths (:func:`hecktor.interface.tasks_of_outputs`)."""
    return interface.tasks_of_outputs(_output_paths(jobs), edition)


def jobs_for_task(
    jobs: Iterable[Job], task: int, scored_tasks: list[int], edition: str = interface.DEFAULT_EDITION
) -> list[Job]:
    """Jobs that belong to ``task``: those with its key output, plus jobs with no key output of any
    scored task (failed jobs usually have no outputs). In 2026 one job writes every output: every job
    belongs to every task (an output it lacks is a ``missing_output`` of that task)."""
    if edition == "2026":
        return list(jobs)
    selected = []
    for job in jobs:
        own = [t for t in job.tasks(edition) if t in scored_tasks]
        if task in own or not own:
            selected.append(job)
    return selected


def submissions_for_task(
    jobs: Iterable[Job],
    task: int,
    input_root: str | Path,
    patients: Iterable[str],
    edition: str = interface.DEFAULT_EDITION,
) -> tuple[dict[str, CaseSubmission], list[Problem]]:
    """One :class:`CaseSubmission` per ground-truth patient of ``task`` (outputs of ``edition``) and the
    job-level problems."""
    input_root = Path(input_root)
    wanted = sorted(set(patients))
    wanted_set = set(wanted)
    problems: list[Problem] = []
    by_patient: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        if job.patient_id is None:
            continue
        if job.patient_id not in wanted_set:
            problems.append(
                Problem(
                    "warning",
                    "unknown_patient",
                    f"job for patient {job.patient_id}, who has no Task {task} ground truth; ignored",
                    task=task,
                    patient_id=job.patient_id,
                    job_pk=job.pk,
                )
            )
            continue
        by_patient[job.patient_id].append(job)

    cases: dict[str, CaseSubmission] = {}
    for patient_id in wanted:
        candidates = sorted(by_patient.get(patient_id, []), key=lambda j: (not j.succeeded, j.pk))
        case = CaseSubmission(patient_id)
        if not candidates:
            case.status = "no_job"
            case.problems.append(
                Problem("error", "missing_prediction", "no job for this patient; scored as missing", task, patient_id)
            )
            cases[patient_id] = case
            continue
        job = candidates[0]
        case.job_pk = job.pk
        if len(candidates) > 1:
            others = ", ".join(j.pk for j in candidates[1:])
            case.problems.append(
                Problem(
                    "warning",
                    "duplicate_job",
                    f"{len(candidates)} jobs for this patient: scoring job {job.pk}, ignoring {others}",
                    task,
                    patient_id,
                    job.pk,
                )
            )
        if not job.succeeded:
            case.status = "failed_job"
            case.problems.append(
                Problem(
                    "error",
                    "failed_job",
                    f"job status is {job.status or 'unknown'!r}; scored as missing",
                    task,
                    patient_id,
                    job.pk,
                )
            )
        else:
            try:
                _locate_outputs(case, job, task, input_root, edition)
            except OSError as exc:  # e.g. a pk longer than a file name may be (ENAMETOOLONG)
                _unusable(case, task, "unreadable_prediction", f"job output folder cannot be read ({exc.strerror})")
        cases[patient_id] = case
    return cases, problems


def _locate_outputs(case: CaseSubmission, job: Job, task: int, input_root: Path, edition: str) -> None:
    """Fill ``case`` from a succeeded job's outputs."""
    key = interface.key_outputs(edition)[task]
    job_output = input_root / job.pk / "output"
    if task == 1:
        folder = job_output / key.relative_path
        if key.relative_path not in job.outputs and not folder.exists():
            _missing_output(case, key, task)
            return
        try:
            image_path = find_single_image(folder, "segmentation")
        except InputError as exc:
            _unusable(case, task, "unreadable_prediction", _relative(exc, input_root))
            return
        if not is_inside(image_path, input_root):
            where = image_path.relative_to(input_root).as_posix()
            _unusable(case, task, "outside_input", f"{where} resolves outside the input folder; not read")
            return
        case.image_path = image_path
        return
    case.value = json_output_value(job, key, job_output, input_root)
    if task == interface.STAGING_TASK:
        case.n_stage = json_output_value(job, interface.N_STAGE, job_output, input_root)
        if case.value is MISSING and case.n_stage is MISSING:
            _missing_output(case, key, task)
        return
    if case.value is MISSING:
        _missing_output(case, key, task)
    if task == 2:
        case.curve = json_output_value(job, interface.RFS_SURVIVAL_CURVE, job_output, input_root)
    if task == 3:
        case.probability = json_output_value(job, interface.HPV_PROBABILITY, job_output, input_root)


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path``, with every symbolic link resolved, lies inside ``root`` (also resolved)."""
    return path.resolve().is_relative_to(root.resolve())


def _unusable(case: CaseSubmission, task: int, code: str, message: str) -> None:
    what = "scored as empty" if task == 1 else "scored as missing"
    case.status = "invalid"
    case.problems.append(Problem("error", code, f"{message}; {what}", task, case.patient_id, case.job_pk))


def _missing_output(case: CaseSubmission, socket: interface.Socket, task: int) -> None:
    case.status = "no_output"
    case.problems.append(
        Problem(
            "error",
            "missing_output",
            f"job has no {socket.relative_path} output; scored as missing",
            task,
            case.patient_id,
            case.job_pk,
        )
    )


def json_output_value(job: Job, socket: interface.Socket, job_output: Path, input_root: Path | None = None) -> Any:
    """A JSON output's raw value: the entry's ``value`` when not null, else the file's content
    (NaN/Infinity literals are parsed), else ``None`` (null); :data:`MISSING` when the job has neither
    the entry nor the file. A file resolving outside ``input_root`` is not read (an unusable value)."""
    entry = job.outputs.get(socket.relative_path)
    if entry is not None and entry.get("value") is not None:
        return entry["value"]
    path = job_output / socket.relative_path
    if path.is_file():
        if input_root is not None and not is_inside(path, input_root):
            return _Unparsable(path.name, "resolves outside the input folder, not read")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _Unparsable(path.name)
    return None if entry is not None else MISSING


@dataclass(frozen=True)
class _Unparsable:
    """A JSON output file that is not JSON, or may not be read (interpreted as an unusable value)."""

    name: str
    reason: str = "not JSON"

    def __repr__(self) -> str:
        return f"<{self.name}: {self.reason}>"


def _relative(exc: InputError, root: Path) -> str:
    """The error's message with the input root removed from paths (stable across mount points)."""
    return str(exc).replace(f"{root}/", "")
