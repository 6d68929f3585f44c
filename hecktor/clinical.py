"""The clinical record (``ehr.json`` and the organisers' CSV rows): schema and robust parsing.

Canonical fields and encodings (as in the organisers' CSVs):

==========================  ======================================  ==========================
field                       unit / encoding                          accepted spellings of values
==========================  ======================================  ==========================
``Age``                     years, 0 < age < 120                     56, "56", 56.0
``Gender``                  1 = male, 0 = female                     1/0, "M"/"F", "male"/"female"
``Tobacco Consumption``     1 = yes, 0 = no                          1/0, true/false, "yes"/"no"
``Alcohol Consumption``     1 = yes, 0 = no                          as above
``Performance Status``      ECOG/WHO 0..4                            0..4, "1"
``Treatment``               1 = chemoradiotherapy, 0 = RT only       1/0, "chemoradiotherapy"/"CRT",
                                                                         "radiotherapy only"/"RT"
``M-stage``                 0 = M0, 1 = M1; Mx = unknown (missing)   "M0", "M1", "Mx", 0, 1
``CenterID``                integer centre code                      3, "3"
``HPV Status``              1 = positive, 0 = negative (2026 input)  1/0, "positive"/"negative"
==========================  ======================================  ==========================

``Treatment`` is 0/1 in the organisers' CSVs and in their 2026 sample ``ehr.json``; their data description names
the two values "radiotherapy only or chemoradiotherapy" **[our reading: 1 = chemoradiotherapy]**. The words are
accepted too; anything else (e.g. "surgery + radiotherapy") is missing, with a note, and the models impute the
training set's most frequent treatment.

HECKTOR 2026 gives ``HPV Status`` as an input and no M-stage: :data:`FEATURE_FIELDS_2026`. In 2025 HPV is
the Task 3 target: it is parsed when present but never part of :data:`FEATURE_FIELDS`. ``ehr.json`` files
are read tolerantly (:func:`loads_tolerant`): the organisers' own 2026 sample ends its object with a
trailing comma, which strict JSON refuses.

Missing values are absent keys, ``null``, NaN, empty strings or words like "unknown"; they parse to
``None`` and are imputed by the models that use them (never guessed here). Keys are matched after
lower-casing and dropping everything but letters and digits, through a table of aliases and then a
close-match search, so ``"tobacco_consumption"``, ``"Tabacco Consumption"`` and ``"smoking"`` all land
on ``Tobacco Consumption``. Every oddity becomes a note, never an exception.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hecktor.errors import InputError

AGE = "Age"
GENDER = "Gender"
TOBACCO = "Tobacco Consumption"
ALCOHOL = "Alcohol Consumption"
PERFORMANCE = "Performance Status"
TREATMENT = "Treatment"
M_STAGE = "M-stage"
CENTER = "CenterID"
HPV = "HPV Status"

#: Model input fields (2025), in the order of :meth:`ClinicalRecord.vector`.
FEATURE_FIELDS: tuple[str, ...] = (AGE, GENDER, TOBACCO, ALCOHOL, PERFORMANCE, TREATMENT, M_STAGE)
#: Model input fields of HECKTOR 2026: HPV status is an input, M-stage is gone.
FEATURE_FIELDS_2026: tuple[str, ...] = (AGE, GENDER, TOBACCO, ALCOHOL, PERFORMANCE, TREATMENT, HPV)
#: All fields parsed from a record.
ALL_FIELDS: tuple[str, ...] = (*FEATURE_FIELDS, HPV, CENTER)

_MISSING_WORDS = {"", "mx", "nan", "na", "n/a", "none", "null", "unknown", "unk", "missing", "?", "-", "x"}
_YES = {"1", "yes", "y", "true", "t", "current", "former", "positive", "pos"}
_NO = {"0", "no", "n", "false", "f", "never", "negative", "neg"}


def _norm_key(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


_ALIASES: dict[str, str] = {
    **{_norm_key(f): f for f in ALL_FIELDS},
    "age": AGE,
    "ageyears": AGE,
    "ageatdiagnosis": AGE,
    "sex": GENDER,
    "gender": GENDER,
    "tobacco": TOBACCO,
    "smoking": TOBACCO,
    "smoker": TOBACCO,
    "tobaccouse": TOBACCO,
    "alcohol": ALCOHOL,
    "alcoholuse": ALCOHOL,
    "drinking": ALCOHOL,
    "performance": PERFORMANCE,
    "ps": PERFORMANCE,
    "ecog": PERFORMANCE,
    "whops": PERFORMANCE,
    "therapy": TREATMENT,
    "hpv": HPV,
    "hpvstatus": HPV,
    "p16": HPV,
    "mstage": M_STAGE,
    "m": M_STAGE,
    "metastasis": M_STAGE,
    "centerid": CENTER,
    "centreid": CENTER,
    "center": CENTER,
    "centre": CENTER,
}


@dataclass
class ClinicalRecord:
    """Parsed clinical values (``None`` = missing) and the notes made while parsing."""

    values: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(ALL_FIELDS))
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> float | None:
        return self.values.get(name)

    def vector(self, fields: tuple[str, ...] = FEATURE_FIELDS) -> list[float]:
        """Model inputs in ``fields`` order (2025 default; :data:`FEATURE_FIELDS_2026`), ``nan`` where missing."""
        return [math.nan if self.values.get(f) is None else float(self.values[f]) for f in fields]

    @property
    def missing(self) -> list[str]:
        return [f for f in FEATURE_FIELDS if self.values.get(f) is None]


def canonical_key(key: str) -> str | None:
    """The canonical field a (possibly misspelled) key stands for, or ``None`` when it is unknown."""
    norm = _norm_key(key)
    if not norm:
        return None
    if norm in _ALIASES:
        return _ALIASES[norm]
    close = difflib.get_close_matches(norm, list(_ALIASES), n=1, cutoff=0.8)
    return _ALIASES[close[0]] if close else None


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING_WORDS


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _parse_binary(value: Any) -> float | None:
    if isinstance(value, str) and value.strip().lower() in _YES:
        return 1.0
    if isinstance(value, str) and value.strip().lower() in _NO:
        return 0.0
    number = _as_number(value)
    return number if number in (0.0, 1.0) else None


def _parse_gender(value: Any) -> float | None:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"m", "male", "man", "h", "homme"}:
            return 1.0
        if text in {"f", "female", "woman", "w", "femme"}:
            return 0.0
    number = _as_number(value)
    return number if number in (0.0, 1.0) else None


def _parse_age(value: Any) -> float | None:
    number = _as_number(value)
    return number if number is not None and 0 < number < 120 else None


def _parse_performance(value: Any) -> float | None:
    if isinstance(value, str):
        value = re.sub(r"(?i)^(ecog|ps|who)\s*", "", value.strip())
    number = _as_number(value)
    return number if number is not None and number in {0.0, 1.0, 2.0, 3.0, 4.0} else None


#: Words for the two treatments (after lower-casing and reading ``_``, ``-``, ``+``, ``/`` as spaces).
_RT_ONLY = {"radiotherapy only", "radiotherapy", "rt only", "rt", "radiation only", "irt"}
_CHEMO_RT = {"chemoradiotherapy", "chemoradiation", "crt", "ccrt", "chemo rt", "rt chemo", "radiochemotherapy", "rct"}


def _parse_treatment(value: Any) -> float | None:
    if isinstance(value, str):
        text = re.sub(r"[\s_\-+/]+", " ", value.strip().lower()).strip()
        if text in _RT_ONLY:
            return 0.0
        if text in _CHEMO_RT:
            return 1.0
    return _parse_binary(value)


def _parse_m_stage(value: Any) -> float | None:
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text in {"m0", "0"}:
            return 0.0
        if text.startswith("m1") or text == "1":
            return 1.0
        return None  # "Mx" and anything else: unknown
    number = _as_number(value)
    return number if number in (0.0, 1.0) else None


def _parse_center(value: Any) -> float | None:
    number = _as_number(value)
    return number if number is not None and number == int(number) and number >= 0 else None


_PARSERS = {
    AGE: _parse_age,
    GENDER: _parse_gender,
    TOBACCO: _parse_binary,
    ALCOHOL: _parse_binary,
    PERFORMANCE: _parse_performance,
    TREATMENT: _parse_treatment,
    M_STAGE: _parse_m_stage,
    CENTER: _parse_center,
    HPV: _parse_binary,
}


def parse_clinical(raw: Mapping[str, Any] | None) -> ClinicalRecord:
    """Parse a clinical record dictionary; never raises on odd keys or values.

    Unknown keys are noted and ignored; unparseable or out-of-range values become missing with a
    note; when two keys map to the same field, the first non-missing value wins.
    """
    record = ClinicalRecord()
    if raw is None:
        record.notes.append("no clinical record given; all fields missing")
        return record
    if not isinstance(raw, Mapping):
        record.notes.append(f"clinical record is a {type(raw).__name__}, not an object; all fields missing")
        return record
    for key, value in raw.items():
        name = canonical_key(str(key))
        if name is None:
            record.notes.append(f"ignored unknown clinical key {key!r}")
            continue
        if name != key and _norm_key(key) != _norm_key(name):
            record.notes.append(f"read clinical key {key!r} as {name!r}")
        if _is_missing(value):
            continue
        if isinstance(value, list | dict):
            record.notes.append(f"{name}: ignored a {type(value).__name__} value")
            continue
        parsed = _PARSERS[name](value)
        if parsed is None:
            record.notes.append(f"{name}: could not interpret {value!r}; treated as missing")
            continue
        if record.values.get(name) is None:
            record.values[name] = parsed
    return record


#: A clinical record larger than this (bytes) is not read: a real ``ehr.json`` holds a few hundred bytes.
MAX_CLINICAL_BYTES = 1 << 20


def read_clinical_json(path: str | Path) -> ClinicalRecord:
    """Read and parse an ``ehr.json`` file.

    A missing file, or one that cannot be used (not JSON, not UTF-8, larger than :data:`MAX_CLINICAL_BYTES`,
    nested too deep for the parser, unreadable, or any other failure of the parser) gives a record with
    every field missing and a note naming the file and the reason (a documented fallback: the imaging
    tasks still run); a JSON ``NaN`` is accepted.
    """
    path = Path(path)
    if not path.is_file():
        record = parse_clinical(None)
        record.notes[-1] = f"{path}: clinical record missing; all fields treated as missing"
        return record
    try:
        size = path.stat().st_size
        if size > MAX_CLINICAL_BYTES:
            raise ValueError(f"{size} bytes, more than a clinical record can hold")
        raw, repaired = loads_tolerant(path.read_text(encoding="utf-8-sig"))
        record = parse_clinical(raw)
    except RecursionError:
        reason = "nested too deep to parse"
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = f"not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
    except OSError as exc:
        reason = f"cannot be read ({exc.strerror or exc})"
    except Exception as exc:  # whatever else the parser raises: a documented fallback, never a failed job
        reason = f"cannot be used ({type(exc).__name__}: {str(exc)[:120]})"
    else:
        if repaired:
            record.notes.insert(0, f"{path}: ignored {repaired} trailing comma(s) (not strict JSON)")
        return record
    record = parse_clinical(None)
    record.notes[-1] = f"{path}: {reason}; all fields treated as missing"
    return record


def loads_tolerant(text: str) -> tuple[Any, int]:
    """``json.loads`` that also accepts trailing commas before ``}`` or ``]`` (outside strings).

    Returns the value and how many trailing commas were dropped (0 for strict JSON).

    Raises:
        json.JSONDecodeError: the text is not JSON even without its trailing commas.
    """
    try:
        return json.loads(text), 0
    except json.JSONDecodeError:
        cleaned, dropped = _drop_trailing_commas(text)
        if not dropped:
            raise
        return json.loads(cleaned), dropped


_CLOSING = re.compile(r"\s*[}\]]")


def _drop_trailing_commas(text: str) -> tuple[str, int]:
    """``text`` without the commas that only whitespace separates from a closing ``}``/``]``."""
    out: list[str] = []
    dropped = 0
    in_string = escaped = False
    for i, char in enumerate(text):
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "," and _CLOSING.match(text, i + 1):
            dropped += 1
            continue
        out.append(char)
    return "".join(out), dropped


def require_json_value(path: str | Path) -> Any:
    """Load a JSON file, raising :class:`InputError` naming the file when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(path, "file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None
