"""Where ``train prognosis|hpv --masks oof`` finds the out-of-fold predicted masks (no torch here).

``train segmentation --out RUN`` writes, for every trained fold, the predicted mask of each of the fold's
held-out cases to ``RUN/oof/<PID>.nii.gz`` (on the case's CT grid, made by the model of the fold that did
not see the case; ``RUN/oof/folds.json`` says which fold). ``--masks oof:RUN`` names that run;
``--masks oof`` alone means :data:`DEFAULT_RUN` (the README's training output). Fitting the Tasks 2/3
models on these masks gives them the features the container will compute from its own predicted masks.
"""

from __future__ import annotations

from pathlib import Path

from hecktor.errors import HecktorError

#: ``--masks oof`` without a run: the README's ``train segmentation --out`` folder.
DEFAULT_RUN = Path("models/segmentation")
#: Sub-folder of a segmentation run holding the out-of-fold masks.
OOF_DIR = "oof"


def resolve_masks(masks: str | Path) -> str | Path:
    """``masks`` itself, or for ``oof`` / ``oof:RUN`` the folder ``RUN/oof`` of out-of-fold masks.

    Raises:
        HecktorError: ``oof`` names a run without out-of-fold masks (one line naming the folder).
    """
    text = str(masks)
    if text != "oof" and not text.startswith("oof:"):
        return masks
    run = Path(text[4:]) if text.startswith("oof:") else DEFAULT_RUN
    folder = run / OOF_DIR
    if not folder.is_dir() or not any(folder.glob("*.nii.gz")):
        raise HecktorError(
            f"{folder}: no out-of-fold masks (--masks {text}); run `train segmentation --out {run}` on all folds first"
        )
    return folder
