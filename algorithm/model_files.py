"""Model components: one file format, one error class, one small contract and one loader per task.

**The file.** Every model folder (``segmentation/``, ``prognosis/``, ``hpv/``, and the 2026 edition's
``staging/``) holds ``model.json``, a plain JSON descriptor (no pickles, finite numbers only)::

    {"format": "hecktor-kit/<task>", "format_version": 1, "kind": "<kind>", "created": ISO time, ...}

``<task>`` is ``segmentation``, ``prognosis``, ``hpv`` or ``staging``; ``kind`` names the class that reads the rest
(its parameters inline, and the plain names of the files beside ``model.json`` that hold the others: network
weights, the segmentation config). A file without ``kind`` is of the task's first kind in :data:`KINDS`
(the files written before kinds were named); a segmentation folder without ``model.json`` is read from
its ``config.json`` alone (:data:`CONFIG_ONLY`: ensemble members, locators and folders written before the
descriptor), and one that is an nnU-Net v2 trained-model folder (``dataset.json``, ``plans.json``,
``fold_K/checkpoint_*.pth``) is of kind ``nnunet`` as it is. Kind ``ensemble`` averages members of different
kinds (``members/<name>/``: nnU-Net folders and kit MONAI folders; :mod:`algorithm.segmentation.ensemble`); a
``config.json`` alone whose members include an nnU-Net folder is read as that kind. A model's preprocessing
parameters (imputation, scaling, log transforms, the CNN's input normalisation, the segmentation's CT window and
PET transform) travel in its own files, never in code.

**The contract** (:class:`ModelComponent`): a class per kind with

- ``load(model_dir, **options) -> instance`` (a classmethod; raises :class:`ModelError`),
- ``predict(...)``: the task's prediction (segmentation: ``(ct, pet) -> mask``; prognosis:
  ``(features, clinical) -> risk``; hpv: ``(features, clinical, images=None) -> (is_positive, probability)``),
- ``describe() -> dict``: a JSON-able summary (task, kind, inputs, training record) for logs and model cards.

**The loader**: :func:`load_model` reads ``model.json``, checks format and version, and calls the ``load``
of the class :data:`KINDS` names for its ``kind``. A new kind is a class with the contract plus one line
in :data:`KINDS` (classes are imported only when a file of their kind is loaded, so torch stays out of a
features-only run). Prognosis risk models have one more level, the kind of each of the main / fallback
risk models (:data:`algorithm.prognosis.risk.RISK_KINDS`), which works the same way.

**Errors**: :class:`ModelError`, always one line that names the file and the problem.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hecktor.errors import HecktorError

MODEL_FILE = "model.json"
FORMAT_VERSION = 1
#: task -> kind -> "module:Class". The first kind of a task is the one of a file without ``kind``.
KINDS: dict[str, dict[str, str]] = {
    "segmentation": {
        "monai": "algorithm.segmentation.segmenter:Segmenter",
        "nnunet": "algorithm.segmentation.nnunet.segmenter:NnUNetSegmenter",
        "ensemble": "algorithm.segmentation.ensemble:EnsembleSegmenter",
    },
    "prognosis": {"main+fallback": "algorithm.prognosis.model:PrognosisModel"},
    "hpv": {"features": "algorithm.hpv.model:HPVModel", "cnn": "algorithm.hpv.cnn:CnnHPVModel"},
    "staging": {"logistic": "algorithm.staging.model:StagingModel"},
}

#: task -> kind -> the files that make a folder without ``model.json`` one of that kind (its class checks the rest).
FOLDER_KINDS: dict[str, dict[str, tuple[str, ...]]] = {"segmentation": {"nnunet": ("dataset.json", "plans.json")}}

#: Tasks whose folders may hold, instead of ``model.json``, this file alone (read as the first kind).
CONFIG_ONLY: dict[str, str] = {"segmentation": "config.json"}


class ModelError(HecktorError):
    """A model folder or file is missing, invalid, of another format/version/kind, or inconsistent."""


@runtime_checkable
class ModelComponent(Protocol):
    """What every model kind offers (see the module docstring)."""

    @classmethod
    def load(cls, model_dir: str | Path, **options: Any) -> ModelComponent: ...

    def predict(self, *args: Any, **kwargs: Any) -> Any: ...

    def describe(self) -> dict[str, Any]: ...


def format_name(task: str) -> str:
    """The ``format`` of the task's model files: ``hecktor-kit/<task>``."""
    if task not in KINDS:
        raise ValueError(f"unknown model task {task!r}; expected one of {', '.join(KINDS)}")
    return f"hecktor-kit/{task}"


def kind_of(task: str, data: dict[str, Any]) -> str:
    """The ``kind`` of a descriptor (the task's first kind when it names none)."""
    return str(data.get("kind", next(iter(KINDS[task]))))


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


def model_file(model_dir: str | Path) -> Path:
    """``model_dir/model.json`` (or ``model_dir`` itself when it names a file)."""
    path = Path(model_dir)
    return path / MODEL_FILE if path.is_dir() or not path.suffix else path


def read_model_json(model_dir: str | Path, fmt: str, versions: tuple[int, ...] = (FORMAT_VERSION,)) -> dict[str, Any]:
    """Read ``model_dir/model.json`` (or ``model_dir`` itself when it is a file) and check its format.

    Raises:
        ModelError: missing file, invalid JSON, another format, or an unsupported version.
    """
    path = model_file(model_dir)
    if not path.is_file():
        raise ModelError(f"{path}: model file is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ModelError(f"{path}: expected a {fmt!r} model, found format {got!r}")
    if data.get("format_version") not in versions:
        raise ModelError(
            f"{path}: {fmt} format version {data.get('format_version')!r} is not supported (supported: {versions})"
        )
    return data


def read_kind(model_dir: str | Path, task: str, kind: str) -> dict[str, Any]:
    """Read and check ``model_dir/model.json`` of ``task`` (format, version) and that it is of ``kind``.

    Raises:
        ModelError: as :func:`read_model_json`, or a file of another kind (it names the task's loader).
    """
    data = read_model_json(model_dir, format_name(task))
    if kind_of(task, data) != kind:
        raise ModelError(
            f"{model_file(model_dir)}: a {task} model of kind {kind_of(task, data)!r}, not {kind!r}"
            f" (load it with algorithm.model_files.load_model({task!r}, ...))"
        )
    return data


@contextmanager
def inconsistent(model_dir: str | Path, what: str) -> Iterator[None]:
    """Turn a failure while reading the parameters of ``what`` into one :class:`ModelError` line."""
    try:
        yield
    except (KeyError, TypeError, ValueError, OSError, RuntimeError) as exc:
        raise ModelError(f"{model_file(model_dir)}: inconsistent {what} ({type(exc).__name__}: {exc})") from None


def sibling_file(model_dir: str | Path, name: Any, what: str) -> Path:
    """The file ``name`` beside ``model.json`` (a plain file name, never a path).

    Raises:
        ValueError: ``name`` is not a plain file name.
    """
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(f"{what} file {name!r} must be a plain file name beside {MODEL_FILE}")
    return Path(model_dir) / name


def component_class(task: str, kind: str, where: str | Path) -> type:
    """The class :data:`KINDS` names for ``task`` / ``kind`` (imported now).

    Raises:
        ModelError: an unknown kind (the known ones are listed).
    """
    known = KINDS[task]
    if kind not in known:
        raise ModelError(f"{where}: unknown {task} model kind {kind!r}; known: {', '.join(known)}")
    module, _, name = known[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def load_model(task: str, model_dir: str | Path, **options: Any) -> Any:
    """The model in ``model_dir`` of ``task`` (``segmentation``, ``prognosis``, ``hpv``), as its kind's class.

    ``options`` go to the class's ``load`` (segmentation: ``device``, ``tta``, ``folds``).

    Raises:
        ModelError: missing, invalid, of another format/version/kind, or inconsistent (one line).
    """
    folder_kind = next(
        (
            kind
            for kind, files in FOLDER_KINDS.get(task, {}).items()
            if all((Path(model_dir) / f).is_file() for f in files)
        ),
        None,
    )
    if folder_kind and not model_file(model_dir).is_file():  # e.g. an nnU-Net v2 folder as nnU-Net wrote it
        return component_class(task, folder_kind, model_dir).load(model_dir, **options)
    legacy = CONFIG_ONLY.get(task)
    if legacy and not model_file(model_dir).is_file() and (Path(model_dir) / legacy).is_file():
        data: dict[str, Any] = {}
    else:
        data = read_model_json(model_dir, format_name(task))
    return component_class(task, kind_of(task, data), model_file(model_dir)).load(model_dir, **options)


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
