"""The one loader of a Task 3 model folder: ``model.json`` says which kind, the kind's class loads it.

``"kind": "cnn"`` -> :class:`algorithm.hpv.cnn.CnnHPVModel` (torch and MONAI, imported only then);
otherwise -> :class:`algorithm.hpv.model.HPVModel` (features + clinical classifier). Both answer
``predict(features, clinical, images=None) -> (is_positive, probability)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from algorithm.hpv.model import FORMAT, FORMAT_VERSION, HPVModel
from algorithm.tabular import ModelFileError, read_model_json


def load_hpv_model(model_dir: str | Path) -> Any:
    """Load ``model_dir/model.json`` as the model kind it names (an :class:`HPVModel` or a ``CnnHPVModel``).

    Raises:
        ModelFileError: missing, invalid, of another format/version, or inconsistent.
    """
    data = read_model_json(model_dir, FORMAT, (FORMAT_VERSION,))
    if data.get("kind") != "cnn":
        return HPVModel.load(model_dir)
    from algorithm.hpv.cnn import CnnHPVModel

    try:
        return CnnHPVModel.from_dict(data, model_dir)
    except (KeyError, TypeError, ValueError, OSError, RuntimeError) as exc:
        raise ModelFileError(f"{model_dir}: inconsistent CNN HPV model ({type(exc).__name__}: {exc})") from None
