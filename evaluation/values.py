"""Interpret the JSON values of Task 2 and Task 3 outputs (pure functions).

Policy (documented in docs/evaluation.md):

- risk (``rfs.json``): a finite JSON number. A numeric string (``"0.7"``) is tolerated with a warning.
  NaN/Infinity, null, booleans, lists, objects and other strings are unusable: the case is scored as a
  missing prediction (tied with everyone) and an error is recorded.
- HPV status (``hpv-status.json``): JSON ``true``/``false``. The numbers ``0``/``1`` and the strings
  ``"true"``/``"false"``/``"1"``/``"0"`` (any case) are tolerated with a warning. Anything else is an
  error and the case is scored as a missing prediction (a wrong call).
- HPV probability (``hpv-probability.json``, optional, used for AUC only): a finite number, tolerated
  as a numeric string with a warning; outside [0, 1] it is kept (AUC only uses the ranking) with a warning.
- survival curve (``rfs-survival-curve.json``, optional, used for the integrated Brier score only):
  ``{"times_days": [...], "survival": [...]}`` of equal, non-zero length, finite numbers, strictly
  increasing times and non-increasing survival in [0, 1]; anything else is ignored with a warning.
- T and N stages (HECKTOR 2026 ``t-stage.json``, ``n-stage.json``): :func:`interpret_stage`.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

from evaluation.problems import Severity
from hecktor.staging import StageKind, normalise_stage


@dataclass(frozen=True)
class Interpretation:
    """A usable value (``None`` when unusable) and, when something was off, a problem to record."""

    value: Any
    severity: Severity | None = None
    code: str = ""
    message: str = ""


def describe(raw: Any, limit: int = 60) -> str:
    """A short JSON-like rendering of a raw value for messages (NaN and Infinity shown as such)."""
    try:
        text = json.dumps(raw, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(raw)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(raw: Any) -> float | None:
    """``raw`` as a float when it is a JSON number (not a boolean), else ``None``."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


def interpret_risk(raw: Any, what: str = "risk") -> Interpretation:
    """A Task 2 risk score (higher = earlier recurrence)."""
    number = _number(raw)
    if number is not None:
        if math.isfinite(number):
            return Interpretation(number)
        return Interpretation(None, "error", "non_finite_value", f"{what} is {describe(raw)}; scored as missing")
    if isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            number = None
        if number is not None and math.isfinite(number):
            return Interpretation(
                number, "warning", "tolerated_string", f"{what} is the string {describe(raw)}; read as {number!r}"
            )
    if raw is None:
        return Interpretation(None, "error", "null_value", f"{what} is null; scored as missing")
    return Interpretation(None, "error", "uninterpretable_value", f"{what} {describe(raw)} is not a number")


def interpret_hpv(raw: Any) -> Interpretation:
    """A Task 3 HPV call (True = positive)."""
    if isinstance(raw, bool):
        return Interpretation(raw)
    number = _number(raw)
    if number is not None and number in (0.0, 1.0):
        return Interpretation(
            number == 1.0, "warning", "tolerated_number", f"HPV status is {describe(raw)}; read as {number == 1.0}"
        )
    if isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in {"true", "false", "1", "0"}:
            value = lowered in {"true", "1"}
            return Interpretation(
                value, "warning", "tolerated_string", f"HPV status is the string {describe(raw)}; read as {value}"
            )
    if raw is None:
        return Interpretation(None, "error", "null_value", "HPV status is null; scored as missing")
    return Interpretation(
        None, "error", "uninterpretable_value", f"HPV status {describe(raw)} is not a boolean; scored as missing"
    )


def interpret_probability(raw: Any) -> Interpretation:
    """A Task 3 HPV-positive probability (used for AUC only)."""
    result = interpret_risk(raw, what="HPV probability")
    if result.value is None or result.severity is not None:
        return result
    if not 0.0 <= float(result.value) <= 1.0:
        return Interpretation(
            result.value,
            "warning",
            "probability_out_of_range",
            f"HPV probability {describe(raw)} is outside [0, 1]; kept for AUC (rank-based)",
        )
    return result


def interpret_curve(raw: Any) -> Interpretation:
    """A Task 2 survival curve: value ``(times_days, survival)`` as float lists, or ``None`` with a warning."""

    def unusable(why: str) -> Interpretation:
        return Interpretation(None, "warning", "invalid_survival_curve", f"survival curve {why}; ignored")

    if not isinstance(raw, dict):
        return unusable(f"is {describe(raw)}, not an object")
    times, survival = raw.get("times_days"), raw.get("survival")
    if not isinstance(times, list) or not isinstance(survival, list) or not times or len(times) != len(survival):
        return unusable("needs 'times_days' and 'survival' lists of equal, non-zero length")
    values = [_number(v) for v in (*times, *survival)]
    if any(v is None or not math.isfinite(v) for v in values):
        return unusable("holds a value that is not a finite number")
    t, s = values[: len(times)], values[len(times) :]
    if any(b <= a for a, b in itertools.pairwise(t)):
        return unusable("times are not strictly increasing")
    if any(not 0.0 <= v <= 1.0 for v in s) or any(b > a + 1e-9 for a, b in itertools.pairwise(s)):
        return unusable("survival is not non-increasing in [0, 1]")
    return Interpretation((t, s))


def interpret_stage(raw: Any, kind: StageKind) -> Interpretation:
    """A HECKTOR 2026 T (``kind="T"``) or N stage: value ``"T1"``..``"T4"`` / ``"N0"``..``"N3"`` or ``None``.

    The canonical string is silent; the sub-stages the template collapses (``"N2b"`` -> ``"N2"``) are a note;
    other spellings normalised by :func:`hecktor.staging.normalise_stage` (``" t3"``, ``3``) a warning; an
    unknown (``"Tx"``, null) or invalid stage an error, scored as a wrong call.
    """
    what = f"{kind} stage"
    stage = normalise_stage(raw, kind)
    if stage.value is not None:
        if not stage.normalised:
            return Interpretation(stage.value)
        if isinstance(raw, str) and raw.strip()[:2] == stage.value:
            return Interpretation(
                stage.value, "note", "collapsed_stage", f"{what} {describe(raw)} read as {stage.value!r}"
            )
        return Interpretation(
            stage.value, "warning", "normalised_stage", f"{what} {describe(raw)} read as {stage.value!r}"
        )
    if raw is None:
        return Interpretation(None, "error", "null_value", f"{what} is null; scored as a wrong call")
    if stage.unknown:
        return Interpretation(
            None, "error", "unknown_stage", f"{what} {describe(raw)} says unknown; scored as a wrong call"
        )
    return Interpretation(None, "error", "invalid_stage", f"{stage.reason}; scored as a wrong call")
