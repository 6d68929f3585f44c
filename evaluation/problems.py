"""Problems found while scoring: recorded in ``metrics.json["problems"]``, never raised.

A problem is about one case (``PatientID`` set), one job (``job_pk`` set) or the whole run (neither).
Severities:

- ``error``: a prediction could not be used as submitted (off the CT grid, unreadable, bad labels,
  uninterpretable value); the case is scored as a missing prediction.
- ``warning``: something was tolerated or ignored (a job for an unknown patient, a duplicate job,
  ``"true"`` instead of ``true``) or an aggregate was undefined and replaced by its documented fallback.
- ``note``: information only.

Messages never contain ground-truth values (only the prediction's own properties and the CT grid, which
participants already have).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hecktor.errors import HecktorError

Severity = Literal["error", "warning", "note"]

_SEVERITY_ORDER = {"error": 0, "warning": 1, "note": 2}


@dataclass(frozen=True)
class Problem:
    """One problem. ``code`` is a stable machine-readable slug (documented in docs/evaluation.md)."""

    severity: Severity
    code: str
    message: str
    task: int | None = None
    patient_id: str | None = None
    job_pk: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "task": self.task,
            "PatientID": self.patient_id,
            "job_pk": self.job_pk,
        }

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.task if self.task is not None else 0,
            self.patient_id or "",
            self.job_pk or "",
            _SEVERITY_ORDER.get(self.severity, 9),
            self.code,
            self.message,
        )


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """Problems in a stable order (task, patient, job, severity, code, message), duplicates removed."""
    return sorted(set(problems), key=Problem.sort_key)


class StructuralError(HecktorError):
    """The run cannot go on (no predictions.json, not a list, no ground truth): one line, non-zero exit."""
