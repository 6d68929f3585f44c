"""Model files: one ``model.json`` per component, plain JSON with a format name and version (no pickles)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hecktor.errors import HecktorError

MODEL_FILE = "model.json"


class ModelFileError(HecktorError):
    """A model file is missing, not valid JSON, or not of the expected format/version."""


def _check_finite(value: Any, where: str = "$") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"non-finite number at {where}; model files must hold finite numbers")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")


def created_stamp() -> str:
    """The ``created`` field of a ``model.json``: the current UTC time, ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_model_json(model_dir: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``model_dir/model.json`` (strict JSON: NaN/Infinity refused), returning the path."""
    _check_finite(payload)
    path = Path(model_dir) / MODEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_model_json(model_dir: str | Path, fmt: str, versions: tuple[int, ...]) -> dict[str, Any]:
    """Read ``model_dir/model.json`` (or ``model_dir`` itself when it is a file) and check its format.

    Raises:
        ModelFileError: missing file, invalid JSON, another format, or an unsupported version.
    """
    path = Path(model_dir)
    if path.is_dir() or not path.suffix:
        path = path / MODEL_FILE
    if not path.is_file():
        raise ModelFileError(f"{path}: model file is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ModelFileError(f"{path}: expected a {fmt!r} model, found format {got!r}")
    if data.get("format_version") not in versions:
        raise ModelFileError(
            f"{path}: {fmt} format version {data.get('format_version')!r} is not supported (supported: {versions})"
        )
    return data


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (for summaries, not model parameters)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
