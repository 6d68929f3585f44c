"""Radiological T and N stages of HECKTOR 2026: the value sets and their normalisation, defined once.

The organisers' template (``BioMedIA-MBZUAI/HECKTOR2026``, README "Expected outputs") asks for AJCC/UICC
7th edition stages as JSON strings: ``"T1"``..``"T4"`` and ``"N0"``..``"N3"`` with the N2 sub-stages
collapsed to ``"N2"``. :func:`normalise_stage` maps what participants and tables actually write onto those
sets:

- case and spaces are ignored (``" t2 "``, ``"T 2"``); a bare digit is read as that stage (``2`` -> ``"T2"``);
- sub-stages collapse onto their stage: ``N2a/N2b/N2c`` -> ``N2``, ``T4a/T4b`` -> ``T4``, ``N3a/N3b`` -> ``N3``,
  ``T1a``/``T2b``... likewise (the 2026 value sets have no sub-stages);
- ``Tx``/``Nx``, blanks and words such as ``unknown`` are an explicit **unknown** (:attr:`Stage.unknown`);
- anything else (``T0``, ``Tis``, ``T5``, ``N4``, ``"N2 T3"``, a T value where an N is expected ...) is
  **invalid**: :attr:`Stage.value` is ``None`` and :attr:`Stage.reason` says why.

Whether a normalisation was needed is reported (:attr:`Stage.normalised`) so callers can warn about it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

StageKind = Literal["T", "N"]

T_STAGES: tuple[str, ...] = ("T1", "T2", "T3", "T4")
N_STAGES: tuple[str, ...] = ("N0", "N1", "N2", "N3")
STAGES: dict[str, tuple[str, ...]] = {"T": T_STAGES, "N": N_STAGES}

#: Words read as an unknown stage (after lower-casing and removing spaces).
UNKNOWN_WORDS: frozenset[str] = frozenset(
    {"", "x", "na", "n/a", "nan", "none", "null", "unknown", "unk", "missing", "?"}
)
#: Optional clinical/pathological prefix (``cT2``, ``pN1``), the letter, the digit, an optional sub-stage.
_PATTERN = re.compile(r"(?P<prefix>yc|yp|c|p|r)?(?P<kind>[tn])?(?P<digit>\d)(?P<sub>[a-c]?)")


@dataclass(frozen=True)
class Stage:
    """A normalised stage: ``value`` in :data:`STAGES`, or ``None`` (unknown or invalid).

    Attributes:
        value: the canonical stage (``"T2"``, ``"N2"``) or ``None``.
        unknown: the input explicitly said "unknown" (``Tx``, ``Nx``, blank, null, ``"unknown"``).
        normalised: the input was not already the canonical spelling (``"n2b"``, ``" T3"``, ``3``).
        reason: why an invalid input is invalid (empty when valid or unknown).
    """

    value: str | None
    unknown: bool = False
    normalised: bool = False
    reason: str = ""

    @property
    def invalid(self) -> bool:
        return self.value is None and not self.unknown


def normalise_stage(raw: Any, kind: StageKind) -> Stage:
    """Normalise a T (``kind="T"``) or N (``kind="N"``) stage; see the module docstring for the rules."""
    allowed = STAGES[kind]
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return Stage(None, unknown=True)
    if isinstance(raw, bool):
        return Stage(None, reason=f"{raw!r} is not a {kind} stage")
    if isinstance(raw, int | float):
        if float(raw).is_integer():
            raw = str(int(raw))
        else:
            return Stage(None, reason=f"{raw!r} is not a {kind} stage")
    if not isinstance(raw, str):
        return Stage(None, reason=f"a {type(raw).__name__} is not a {kind} stage")
    text = re.sub(r"\s+", "", raw).lower()
    if text in UNKNOWN_WORDS or text == f"{kind.lower()}x":
        return Stage(None, unknown=True, normalised=raw != f"{kind}x")
    match = _PATTERN.fullmatch(text)
    if match is None:
        return Stage(None, reason=f"{raw!r} is not one of {', '.join(allowed)}")
    if match.group("kind") not in (None, kind.lower()):
        return Stage(None, reason=f"{raw!r} is a {match.group('kind').upper()} stage, expected {kind}")
    value = f"{kind}{match.group('digit')}"
    if value not in allowed:
        return Stage(None, reason=f"{raw!r} is not one of {', '.join(allowed)}")
    return Stage(value, normalised=raw != value)
