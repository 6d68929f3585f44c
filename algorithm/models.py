"""Where the trained models live: the image's own resources, or a mounted ``/opt/ml/model``.

A model folder holds one sub-folder per component (``segmentation/``, ``prognosis/``, ``hpv/``, and for
HECKTOR 2026 ``staging/`` and ``rfs/``, the 2026 RFS model: ``train prognosis --edition 2026``), each
self-describing (its config and parameters side by side). Resolution, per component:
1. ``--model-dir DIR`` (or ``HECKTOR_MODEL_DIR``): ``DIR/<component>``;
2. a model tarball unpacked by Grand Challenge at ``/opt/ml/model/<component>`` when it is not empty;
3. the weights baked into the image: ``algorithm/resources/model/<component>``.
"""

from __future__ import annotations

import os
from pathlib import Path

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "resources" / "model"
MOUNTED_MODEL_DIR = Path("/opt/ml/model")
COMPONENTS = ("segmentation", "prognosis", "hpv", "staging", "rfs")


def resolve_component_dir(component: str, model_dir: str | Path | None = None) -> Path:
    """The folder of one model component, following the order in the module docstring."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown model component {component!r}; expected one of {COMPONENTS}")
    explicit = model_dir or os.environ.get("HECKTOR_MODEL_DIR")
    if explicit:
        return Path(explicit) / component
    mounted = MOUNTED_MODEL_DIR / component
    if mounted.is_dir() and any(mounted.iterdir()):
        return mounted
    return BUNDLED_MODEL_DIR / component
