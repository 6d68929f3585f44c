"""The one loader of a Task 3 model folder: ``model.json`` says which kind, the kind's class loads it.

``"kind": "features"`` (or no kind) -> :class:`algorithm.hpv.model.HPVModel` (features + clinical
classifier); ``"kind": "cnn"`` -> :class:`algorithm.hpv.cnn.CnnHPVModel` (torch and MONAI, imported only
then). Both answer ``predict(features, clinical, images=None) -> (is_positive, probability)``; the kinds
are listed in :data:`algorithm.model_files.KINDS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from algorithm.model_files import load_model


def load_hpv_model(model_dir: str | Path) -> Any:
    """Load ``model_dir/model.json`` as the model kind it names (an ``HPVModel`` or a ``CnnHPVModel``).

    Raises:
        ModelError: missing, invalid, of another format/version/kind, or inconsistent.
    """
    return load_model("hpv", model_dir)
