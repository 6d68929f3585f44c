"""Task 3 CNN + clinical model (the dataset paper's HPV benchmark): a 3D CNN on a PET/CT crop around the
primary tumour, fused with the clinical vector by an MLP; sigmoid output.

Input crop: a cube of ``crop_mm`` (default 64 mm) at ``spacing_mm`` (default 2 mm), centred on the
centroid of the GTVp (label 1; all lesions when there is no GTVp; the CT's centre when the mask is
empty), CT and PET resampled linearly onto it with the segmentation helpers
(:func:`algorithm.segmentation.resample.array_on`), then normalised as the model's ``input`` block says
(:class:`InputNormalisation`; by default CT clipped to [-200, 300] HU -> [-1, 1], PET log1p(SUV clipped
to 20) / log1p(10)). Encoders (MONAI, ``spatial_dims=3``, 2 input channels):
``resnet18``, ``resnet10``, ``densenet121``, ``seresnet50``, ``efficientnet-b0``; the encoder gives
``embed`` numbers, concatenated with the imputed, standardised clinical vector and mapped by an MLP to
one logit. The decision threshold maximises balanced accuracy on a stratified validation split.

Files: ``model.json`` (``"kind": "cnn"``, format ``hecktor-kit/hpv`` v1: encoder, crop, the input
normalisation, clinical imputer/scaler, threshold, the clinical-only fallback classifier used when no
image is given) and ``cnn.pt`` (a state_dict, loaded with ``weights_only=True``). A file written before
the ``input`` block existed is read with the values the code then had fixed (the defaults of
:class:`InputNormalisation`), so it predicts exactly as before.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from torch import nn

from algorithm.features import CLINICAL_FEATURE_NAMES
from algorithm.model_files import inconsistent, read_kind, sibling_file
from algorithm.segmentation.normalise import normalise_ct, normalise_pet
from algorithm.segmentation.resample import array_on
from algorithm.tabular import Imputer, Scaler, created_stamp, design_row, write_model_json
from hecktor.clinical import ClinicalRecord
from hecktor.geometry import Grid
from hecktor.progress import progress

log = logging.getLogger(__name__)

ENCODERS = ("resnet18", "resnet10", "densenet121", "seresnet50", "efficientnet-b0")
WEIGHTS_FILE = "cnn.pt"


def build_encoder(name: str, embed: int) -> nn.Module:
    """A MONAI 3D classifier with 2 input channels and ``embed`` outputs."""
    from monai.networks import nets

    if name in ("resnet18", "resnet10"):
        factory = nets.resnet18 if name == "resnet18" else nets.resnet10
        return factory(spatial_dims=3, n_input_channels=2, num_classes=embed)
    if name == "densenet121":
        return nets.DenseNet121(spatial_dims=3, in_channels=2, out_channels=embed)
    if name == "seresnet50":
        return nets.SEResNet50(spatial_dims=3, in_channels=2, num_classes=embed)
    if name == "efficientnet-b0":
        return nets.EfficientNetBN(
            "efficientnet-b0", pretrained=False, spatial_dims=3, in_channels=2, num_classes=embed
        )
    raise ValueError(f"unknown encoder {name!r}; expected one of {ENCODERS}")


class FusionNet(nn.Module):
    """Image encoder + clinical vector -> MLP -> one logit."""

    def __init__(self, encoder: str, n_clinical: int, embed: int = 16, hidden: int = 32, dropout: float = 0.2):
        super().__init__()
        self.encoder = build_encoder(encoder, embed)
        self.head = nn.Sequential(
            nn.Linear(embed + n_clinical, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, image: torch.Tensor, clinical: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.encoder(image), clinical], dim=1))[:, 0]


@dataclass(frozen=True)
class InputNormalisation:
    """How the crop's CT and PET become network input (saved in ``model.json`` as ``input``).

    Attributes:
        ct_window_hu: CT window (HU), mapped to [-1, 1].
        pet_transform: ``log1p`` (log1p(SUV) / log1p(pet_scale)) or ``linear`` (SUV / pet_scale).
        pet_scale: PET scale, SUV.
        pet_clip_suv: PET clipped to [0, pet_clip_suv] SUV first.
        ct_outside_hu: CT value outside the scan (HU); the PET's is 0 SUV.
    """

    ct_window_hu: tuple[float, float] = (-200.0, 300.0)
    pet_transform: str = "log1p"
    pet_scale: float = 10.0
    pet_clip_suv: float = 20.0
    ct_outside_hu: float = -1024.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ct_window_hu": list(self.ct_window_hu),
            "pet_transform": self.pet_transform,
            "pet_scale": self.pet_scale,
            "pet_clip_suv": self.pet_clip_suv,
            "ct_outside_hu": self.ct_outside_hu,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputNormalisation:
        """Read an ``input`` block; a key left out takes its default (the values of files without the block)."""
        unknown = sorted(set(data) - set(cls().to_dict()))
        if unknown:
            raise ValueError(f"unknown input normalisation keys: {', '.join(unknown)}")
        lo, hi = (float(v) for v in data.get("ct_window_hu", cls.ct_window_hu))
        transform = str(data.get("pet_transform", cls.pet_transform))
        if not lo < hi or transform not in ("log1p", "linear"):
            raise ValueError(f"unusable input normalisation: CT window [{lo}, {hi}], PET transform {transform!r}")
        return cls(
            (lo, hi),
            transform,
            float(data.get("pet_scale", cls.pet_scale)),
            float(data.get("pet_clip_suv", cls.pet_clip_suv)),
            float(data.get("ct_outside_hu", cls.ct_outside_hu)),
        )


def crop_case(
    ct: sitk.Image,
    pet: sitk.Image,
    label: sitk.Image | None,
    crop_mm: float = 64.0,
    spacing_mm: float = 2.0,
    norm: InputNormalisation | None = None,
) -> np.ndarray:
    """(2, n, n, n) float32 PET/CT crop centred on the GTVp, normalised by ``norm`` (see the module docstring)."""
    norm = norm or InputNormalisation()
    centre = None
    if label is not None:
        lab = sitk.GetArrayViewFromImage(label)
        for wanted in (lab == 1, lab > 0):
            if wanted.any():
                zyx = np.argwhere(wanted).mean(axis=0)
                centre = np.asarray(label.TransformContinuousIndexToPhysicalPoint([float(v) for v in zyx[::-1]]))
                break
    if centre is None:
        size = np.asarray(ct.GetSize(), dtype=float)
        centre = np.asarray(ct.TransformContinuousIndexToPhysicalPoint([float(v) for v in (size - 1) / 2]))
    n = max(4, round(crop_mm / spacing_mm))
    origin = centre - spacing_mm * (n - 1) / 2
    grid = Grid(
        (n, n, n), (spacing_mm,) * 3, tuple(float(o) for o in origin), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    )
    ct_arr = normalise_ct(array_on(ct, grid, sitk.sitkLinear, norm.ct_outside_hu), norm.ct_window_hu)
    pet_arr = normalise_pet(
        array_on(pet, grid, sitk.sitkLinear, 0.0), norm.pet_transform, norm.pet_scale, norm.pet_clip_suv
    )
    return np.stack([ct_arr, pet_arr]).astype(np.float32)


@dataclass
class CnnHPVModel:
    """CNN + clinical HPV classifier (``kind: cnn``) with a clinical-only fallback for cases without images."""

    encoder: str
    clinical_names: list[str]
    imputer: Imputer
    scaler: Scaler
    net: FusionNet
    fallback: Any  # algorithm.hpv.model.Classifier
    threshold: float = 0.5
    crop_mm: float = 64.0
    spacing_mm: float = 2.0
    embed: int = 16
    hidden: int = 32
    prevalence: float = 0.5
    training: dict[str, Any] = field(default_factory=dict)
    norm: InputNormalisation = field(default_factory=InputNormalisation)

    def clinical_vector(self, clinical: ClinicalRecord | None) -> np.ndarray:
        row = design_row(None, clinical, self.clinical_names)[None, :]
        return self.scaler.transform(self.imputer.transform(row)).astype(np.float32)

    def probabilities(self, crops: np.ndarray, clin: np.ndarray) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            logits = self.net(torch.as_tensor(crops, dtype=torch.float32), torch.as_tensor(clin, dtype=torch.float32))
        p = torch.sigmoid(logits).double().numpy()
        return np.clip(np.where(np.isfinite(p), p, self.prevalence), 0.0, 1.0)

    def predict(
        self,
        features: Mapping[str, float] | None,
        clinical: ClinicalRecord | None,
        images: tuple[sitk.Image, sitk.Image, sitk.Image | None] | None = None,
    ) -> tuple[bool, float]:
        """``(is_positive, probability)``; without ``images`` (CT, PET, label) the clinical fallback decides."""
        if images is None:
            p = float(self.fallback.predict_proba(design_row(features, clinical, self.fallback.feature_names)[None])[0])
            return bool(p >= self.fallback.threshold), p if math.isfinite(p) else self.prevalence
        try:
            crop = crop_case(*images, crop_mm=self.crop_mm, spacing_mm=self.spacing_mm, norm=self.norm)[None]
            p = float(self.probabilities(crop, self.clinical_vector(clinical))[0])
        except (RuntimeError, ValueError) as exc:  # never lose the case: fall back to the clinical classifier
            log.warning("CNN HPV model failed (%s); using the clinical-only classifier", exc)
            return self.predict(features, clinical, None)
        return bool(p >= self.threshold), p

    def to_dict(self) -> dict[str, Any]:
        from algorithm.hpv.model import FORMAT, FORMAT_VERSION

        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": "cnn",
            "created": created_stamp(),
            "encoder": self.encoder,
            "architecture": {"embed": self.embed, "hidden": self.hidden, "in_channels": ["CT", "PET"]},
            "crop": {"size_mm": self.crop_mm, "spacing_mm": self.spacing_mm, "centre": "GTVp centroid"},
            "input": self.norm.to_dict(),
            "clinical_names": list(self.clinical_names),
            "imputer": self.imputer.to_dict(),
            "scaler": self.scaler.to_dict(),
            "threshold": self.threshold,
            "prevalence": self.prevalence,
            "weights": WEIGHTS_FILE,
            "fallback": self.fallback.to_dict(),
            "training": self.training,
        }

    def save(self, model_dir: str | Path) -> Path:
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, Path(model_dir) / WEIGHTS_FILE)
        return write_model_json(model_dir, self.to_dict())

    def describe(self) -> dict[str, Any]:
        """Task, kind, encoder, crop and input normalisation, the training record's headline."""
        return {
            "task": "hpv",
            "kind": "cnn",
            "encoder": self.encoder,
            "crop_mm": self.crop_mm,
            "spacing_mm": self.spacing_mm,
            "input": self.norm.to_dict(),
            "threshold": self.threshold,
            "trained_on": self.training.get("data"),
        }

    @classmethod
    def load(cls, model_dir: str | Path, **options: Any) -> CnnHPVModel:
        """Load ``model_dir/model.json`` and its ``cnn.pt``.

        Raises:
            ModelError: missing, invalid, of another format/version/kind, or inconsistent.
        """
        data = read_kind(model_dir, "hpv", "cnn")
        with inconsistent(model_dir, "CNN HPV model"):
            return cls.from_dict(data, model_dir)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], model_dir: str | Path) -> CnnHPVModel:
        from algorithm.hpv.model import Classifier

        names = [str(n) for n in data["clinical_names"]]
        arch = dict(data.get("architecture", {}))
        embed, hidden = int(arch.get("embed", 16)), int(arch.get("hidden", 32))
        net = FusionNet(str(data["encoder"]), len(names), embed, hidden)
        weights = sibling_file(model_dir, data.get("weights", WEIGHTS_FILE), "weights")
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        crop = dict(data.get("crop", {}))
        return cls(
            encoder=str(data["encoder"]),
            clinical_names=names,
            imputer=Imputer.from_dict(data["imputer"]),
            scaler=Scaler.from_dict(data["scaler"]),
            net=net,
            fallback=Classifier.from_dict(data["fallback"]),
            threshold=float(data["threshold"]),
            crop_mm=float(crop.get("size_mm", 64.0)),
            spacing_mm=float(crop.get("spacing_mm", 2.0)),
            embed=embed,
            hidden=hidden,
            prevalence=float(data.get("prevalence", 0.5)),
            training=dict(data.get("training", {})),
            norm=InputNormalisation.from_dict(dict(data.get("input", {}))),
        )


def fit_cnn_hpv(
    crops: np.ndarray,
    clinical_x: np.ndarray,
    y: np.ndarray,
    *,
    encoder: str = "resnet18",
    epochs: int = 20,
    batch_size: int = 8,
    lr: float = 1e-3,
    val_fraction: float = 0.25,
    seed: int = 0,
    crop_mm: float = 64.0,
    spacing_mm: float = 2.0,
    fallback: Any = None,
    norm: InputNormalisation | None = None,
) -> tuple[CnnHPVModel, dict[str, Any]]:
    """Train on ``crops`` (n, 2, s, s, s, made with ``norm``), clinical rows (n, len(CLINICAL_FEATURE_NAMES))
    and labels ``y``.

    A stratified ``val_fraction`` of the cases is held out; the threshold maximises balanced accuracy there.
    Returns the model and validation figures.
    """
    from sklearn.model_selection import train_test_split

    from algorithm.hpv.model import best_threshold
    from algorithm.tabular.cv import report_binary

    y = np.asarray(y, dtype=int)
    names = list(CLINICAL_FEATURE_NAMES)
    idx = np.arange(len(y))
    strat = y if min(int(y.sum()), int((1 - y).sum())) >= 2 else None
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=strat)
    imputer = Imputer.fit(clinical_x[tr], names)
    scaler = Scaler.fit(imputer.transform(clinical_x[tr]))
    clin = scaler.transform(imputer.transform(clinical_x)).astype(np.float32)
    torch.manual_seed(seed)
    net = FusionNet(encoder, len(names))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    pos = max(1, int(y[tr].sum()))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(max(1, len(tr) - pos) / pos))
    rng = np.random.default_rng(seed)
    xi, xc, yt = torch.as_tensor(crops), torch.as_tensor(clin), torch.as_tensor(y, dtype=torch.float32)
    n_epochs = max(1, epochs)
    log.info("CNN HPV training: %s encoder, %d epochs on %d cases (%d held out for the threshold)", encoder,
             n_epochs, len(tr), len(va))  # fmt: skip
    for epoch in progress(range(1, n_epochs + 1), "CNN HPV training: epoch", log, every_s=0.0):
        net.train()
        order = rng.permutation(tr)
        losses = []
        for start in range(0, len(order), batch_size):
            b = order[start : start + batch_size]
            if len(b) < 2:  # batch norm needs two samples
                continue
            flips = [d for d in (2, 3, 4) if rng.random() < 0.5]
            image = torch.flip(xi[b], flips) if flips else xi[b]
            opt.zero_grad()
            loss = loss_fn(net(image, xc[b]), yt[b])
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        log.info("CNN HPV epoch %d/%d: mean training loss %.4f", epoch, n_epochs, float(np.mean(losses or [np.nan])))
    model = CnnHPVModel(encoder, names, imputer, scaler, net, fallback, 0.5, crop_mm, spacing_mm)
    model.norm = norm or InputNormalisation()
    model.prevalence = float(y[tr].mean())
    p_val = model.probabilities(crops[va], clin[va])
    model.threshold = best_threshold(y[va], p_val)
    dec = p_val >= model.threshold
    val = {k: round(float(v), 4) for k, v in report_binary(y[va], dec, p_val).items()}
    val["f1_macro"] = round(f1_macro(y[va], dec), 4)
    return model, {"n_train": len(tr), "n_validation": len(va), **val}


def f1_macro(y: np.ndarray, decision: np.ndarray) -> float:
    """Mean of the F1 scores of the two classes (a class absent from both truth and calls scores 1)."""
    y, d = np.asarray(y, dtype=bool), np.asarray(decision, dtype=bool)
    scores = []
    for truth, call in ((y, d), (~y, ~d)):
        tp, denom = float((truth & call).sum()), float(truth.sum() + call.sum())
        scores.append(1.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(scores))


def crops_of(
    cases: Sequence[Any], crop_mm: float = 64.0, spacing_mm: float = 2.0, norm: InputNormalisation | None = None
) -> np.ndarray:  # cases: TrainingCase
    """Crops of training cases (images read from their paths)."""
    from hecktor.imageio import read_image

    out = []
    for case in cases:
        label = read_image(case.label, "mask") if case.label is not None else None
        if label is not None and label.GetPixelID() != sitk.sitkUInt8:
            label = sitk.Cast(sitk.Round(label), sitk.sitkUInt8)
        ct, pet = read_image(case.ct, "CT"), read_image(case.pet, "PET")
        out.append(crop_case(ct, pet, label, crop_mm, spacing_mm, norm))
    return np.stack(out)
