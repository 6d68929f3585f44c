"""One case, end to end: read -> check -> segment -> features -> risk / HPV -> write.

Models load once, in :class:`Algorithm`'s constructor (the invoke server keeps the instance), and
:meth:`Algorithm.run` processes the case staged in the input folder. The platform scores a
submission only if every case's job succeeded, so every *readable* case yields valid outputs: when a
stage fails, a documented fallback takes over and is logged and returned in
:attr:`CaseResult.fallbacks`:

- segmentation fails -> an empty mask on the CT grid (Task 1), features from no lesion (Tasks 2/3);
- feature extraction fails -> the models predict from clinical data alone (imputed);
- missing clinical fields -> imputed by the fitted models.

HECKTOR 2026 (``edition="2026"``): one job writes the mask to ``images/head-neck-tumor-segmentation``,
``t-stage.json``, ``n-stage.json`` (:mod:`algorithm.staging`; empty mask -> the training set's most frequent
stages) and ``rfs.json`` from the 2026 RFS model (``rfs/``: HPV status an input, no M-stage; a model folder
without one uses its 2025 ``prognosis/``, logged). ``rfs_output``: ``"time"``, the default, writes a predicted RFS
in days, :func:`rfs_time_days`; ``"risk"`` the risk itself. ``HPV Status`` is read from ``ehr.json`` as an input.
Every 2026 output is written for every readable case: a failing stage falls back (logged) instead.

Only unreadable or unusable input (no CT, a corrupt PET, PET and CT that do not overlap) stops a case,
with a one-line :class:`hecktor.errors.InputError` that names the file.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from algorithm.models import BUNDLED_MODEL_DIR, resolve_component_dir
from algorithm.reading import CaseInputs, read_case
from algorithm.tasks import ALL_TASKS, parse_tasks  # noqa: F401 (parse_tasks: re-exported)
from algorithm.writing import write_json_value, write_segmentation
from hecktor import interface
from hecktor.errors import HecktorError
from hecktor.progress import peak_rss_gib, stage

log = logging.getLogger(__name__)


@dataclass
class CaseResult:
    """What one case produced: output files, the values written, fallbacks taken and stage timings (s)."""

    outputs: dict[str, Path] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class CheckedCase:
    """A case read and checked (:func:`read_and_check`), with the result its outputs will be added to."""

    case: CaseInputs
    result: CaseResult


def uses_treatment_plan(tasks: set[int], edition: str) -> bool:
    """Whether a job of ``tasks`` in ``edition`` reads the planning CT and RT dose (the RFS features use the dose)."""
    return 2 in tasks or edition == "2026"


def read_and_check(input_dir: str | Path, treatment_plan: bool = True) -> CheckedCase:
    """Read the case in ``input_dir`` and check it (:func:`algorithm.checks.validate_case`); needs no model.

    ``treatment_plan``: read the planning CT and RT dose too (see :func:`uses_treatment_plan`).

    Raises:
        InputError: unreadable or unusable input, naming the file.
    """
    from algorithm.checks import validate_case

    result = CaseResult()
    with stage("read inputs", log, result.timings):
        case = read_case(input_dir, treatment_plan)
    result.notes.extend(case.notes)
    with stage("check inputs", log, result.timings):
        result.notes.extend(validate_case(case))
    return CheckedCase(case, result)


#: ``rfs_output="time"``: rfs.json = RFS_TIME_SCALE_DAYS * exp(-risk), a strictly decreasing map of the risk
#: (so the C-index is that of the risk); the scale is the synthetic cohorts' median follow-up (~1,000 days).
RFS_TIME_SCALE_DAYS = 1000.0


def rfs_time_days(risk: float) -> float:
    """The predicted RFS time (days) written for ``risk`` (log-hazard scale; clipped to +-50 so it stays finite)."""
    return RFS_TIME_SCALE_DAYS * math.exp(-min(max(risk, -50.0), 50.0))


class Algorithm:
    """The HECKTOR algorithm for a set of tasks; models load once here.

    Args:
        tasks: which tasks' outputs to write (1 segmentation, 2 RFS risk, 3 HPV status); 2026: all.
        edition: ``"2025"`` (three tasks) or ``"2026"`` (mask, T, N, RFS from one job).
        rfs_output: 2026 meaning of ``rfs.json``: ``"time"`` (days, higher = later) or ``"risk"``.
        model_dir: folder with ``segmentation/``, ``prognosis/``, ``hpv/`` (see :mod:`algorithm.models`).
        device: ``"auto"`` (CUDA when available), ``"cuda"`` or ``"cpu"``.
        tta: mirror test-time augmentation for the segmentation.
    """

    def __init__(
        self,
        tasks: set[int] | None = None,
        model_dir: str | Path | None = None,
        device: str = "auto",
        tta: bool = False,
        edition: str = interface.DEFAULT_EDITION,
        rfs_output: str = interface.DEFAULT_RFS_OUTPUT_2026,
    ) -> None:
        from algorithm.model_files import load_model

        self.edition = edition
        self.rfs_output = rfs_output
        self.staging = None
        if edition == "2026":
            tasks = {1, 2}  # the mask and the RFS of the 2025 tasks, plus the staging below
        self.tasks = set(ALL_TASKS if tasks is None else tasks)
        if not self.tasks or not self.tasks <= ALL_TASKS:
            raise ValueError(f"tasks must be a non-empty subset of {{1, 2, 3}}, got {sorted(self.tasks)}")
        self.timings: dict[str, float] = {}
        # (issue 19) torch and MONAI take 5-20 s to import on a busy machine: a stage of its own, not a silent gap.
        with stage("import torch and MONAI", log, self.timings):
            import algorithm.segmentation  # noqa: F401 (the segmentation's modules import torch and MONAI)
        with stage("load models", log, self.timings):
            # Every task uses the segmentation: Task 1 writes it, Tasks 2 and 3 take features from it.
            seg_dir = resolve_component_dir("segmentation", model_dir)
            self.segmenter = load_model("segmentation", seg_dir, device=device, tta=tta)
            self.prognosis = (
                load_model("prognosis", self._prognosis_dir(model_dir, edition)) if 2 in self.tasks else None
            )
            self.hpv = load_model("hpv", resolve_component_dir("hpv", model_dir)) if 3 in self.tasks else None
            if edition == "2026":
                self.staging = load_model("staging", resolve_component_dir("staging", model_dir))
                log.info("staging: %s", self.staging.describe()["summary"])
                log.info("RFS: %s", rfs_summary(self.prognosis))
        if edition == "2026":
            log.info(
                "HECKTOR 2026: mask, T stage, N stage and rfs.json as %s (%s) ready on %s",
                rfs_output,
                "predicted RFS in days, higher = later" if rfs_output == "time" else "risk, higher = earlier relapse",
                self.segmenter.device,
            )
        else:
            log.info("tasks %s ready on %s", ",".join(map(str, sorted(self.tasks))), self.segmenter.device)

    @staticmethod
    def _prognosis_dir(model_dir: str | Path | None, edition: str) -> Path:
        """The RFS model's folder: ``prognosis/`` (2025); ``rfs/`` (2026), else ``prognosis/`` with a warning."""
        if edition != "2026":
            return resolve_component_dir("prognosis", model_dir)
        folder = resolve_component_dir("rfs", model_dir)
        fallback = resolve_component_dir("prognosis", model_dir)
        # A mounted model tarball with its own prognosis/ but no rfs/ means the participant's model, not the
        # image's bundled demo rfs/: the two components come from the same source.
        bundled_rfs_only = folder.parent == BUNDLED_MODEL_DIR and fallback.parent != BUNDLED_MODEL_DIR
        if (folder / "model.json").is_file() and not bundled_rfs_only:
            log.info("RFS model (2026): %s", folder)
            return folder
        log.warning(
            "no 2026 RFS model at %s: rfs.json comes from the 2025 prognosis model at %s (M-stage imputed, HPV unused)",
            folder,
            fallback,
        )
        return fallback

    def run(self, input_dir: str | Path, output_dir: str | Path, *, checked: CheckedCase | None = None) -> CaseResult:
        """Process the case in ``input_dir`` and write every enabled task's outputs to ``output_dir``.

        ``checked``: the case already read and checked by :func:`read_and_check` (exec mode does that before
        the models load, so bad input fails in a second); ``input_dir`` is then not read again.
        """
        from algorithm.checks import implausible_volumes

        start = time.perf_counter()
        output_dir = Path(output_dir)
        checked = checked or read_and_check(input_dir, uses_treatment_plan(self.tasks, self.edition))
        case, result = checked.case, checked.result

        label = self._segment(case, result)
        for note in implausible_volumes(label):  # written as predicted, but said (issue 19)
            log.warning("%s", note)
            result.notes.append(note)
        if self.edition == "2026":
            self._run_2026(case, label, result, output_dir)
        elif 1 in self.tasks:
            with stage("write segmentation", log, result.timings):
                result.outputs[interface.SEGMENTATION.relative_path] = write_segmentation(label, output_dir)
        if self.edition != "2026" and self.tasks & {2, 3}:
            features = self._features(case, label, result)
            if self.prognosis is not None:
                risk = float(self.prognosis.predict_risk(features, case.clinical))
                if not math.isfinite(risk):
                    self._fallback(result, f"prognosis model returned {risk}; wrote the neutral risk 0.0")
                    risk = 0.0
                result.values["rfs_risk"] = risk
                result.outputs[interface.RFS.relative_path] = write_json_value(risk, output_dir, interface.RFS)
                curve = self.prognosis.predict_survival(features, case.clinical)
                if curve is not None:  # DeepHit / MTLR models: the curve feeds the integrated Brier score
                    times, survival = curve
                    result.outputs[interface.RFS_SURVIVAL_CURVE.relative_path] = write_json_value(
                        {"times_days": times, "survival": survival}, output_dir, interface.RFS_SURVIVAL_CURVE
                    )
            if self.hpv is not None:
                images = (case.ct, case.pet, label)  # used by the CNN + clinical model (algorithm.hpv.cnn)
                positive, probability = self.hpv.predict(features, case.clinical, images=images)
                probability = float(probability)
                if not math.isfinite(probability):
                    self._fallback(result, f"HPV model returned probability {probability}; wrote 0.5")
                    probability = 0.5
                result.values["hpv_status"] = bool(positive)
                result.values["hpv_probability"] = probability
                result.outputs[interface.HPV_STATUS.relative_path] = write_json_value(
                    bool(positive), output_dir, interface.HPV_STATUS
                )
                result.outputs[interface.HPV_PROBABILITY.relative_path] = write_json_value(
                    probability, output_dir, interface.HPV_PROBABILITY
                )
        result.timings["total"] = time.perf_counter() - start
        log.info(
            "case done in %.1f s (peak RSS %.2f GiB); wrote %s%s",
            result.timings["total"],
            peak_rss_gib(),
            ", ".join(sorted(result.outputs)),
            f"; {len(result.fallbacks)} fallback(s)" if result.fallbacks else "",
        )
        return result

    def _run_2026(self, case: CaseInputs, label: sitk.Image, result: CaseResult, output_dir: Path) -> None:
        """The four 2026 outputs: mask, T stage, N stage, RFS (each with its logged fallback)."""
        with stage("write segmentation", log, result.timings):
            path = write_segmentation(label, output_dir, interface.SEGMENTATION_2026)
            result.outputs[interface.SEGMENTATION_2026.relative_path] = path
        hpv = case.clinical.get("HPV Status")
        log.info("HPV Status (input, ehr.json): %s", {1.0: "positive", 0.0: "negative"}.get(hpv, "missing (imputed)"))
        t_stage, n_stage = self._stages(case, label, result)
        for socket, value in ((interface.T_STAGE, t_stage), (interface.N_STAGE, n_stage)):
            result.values[socket.slug] = value
            result.outputs[socket.relative_path] = write_json_value(value, output_dir, socket)
        features = self._features(case, label, result)
        try:
            risk = float(self.prognosis.predict_risk(features, case.clinical)) if self.prognosis else math.nan
        except Exception as exc:  # a readable case must still get its rfs.json
            log.exception("prognosis failed")
            risk = math.nan
            result.notes.append(f"prognosis failed: {type(exc).__name__}: {exc}")
        if not math.isfinite(risk):
            self._fallback(result, f"prognosis model returned {risk}; used the neutral risk 0.0")
            risk = 0.0
        value = rfs_time_days(risk) if self.rfs_output == "time" else risk
        result.values["rfs_risk"] = risk
        result.values["rfs"] = value
        log.info("rfs.json = %.6g (%s; risk %.4f)", value, self.rfs_output, risk)
        result.outputs[interface.RFS.relative_path] = write_json_value(value, output_dir, interface.RFS)

    def _stages(self, case: CaseInputs, label: sitk.Image, result: CaseResult) -> tuple[str, str]:
        from algorithm.staging import staging_geometry

        assert self.staging is not None
        try:
            with stage("staging", log, result.timings):
                geometry = staging_geometry(case.ct, label)
        except Exception as exc:
            log.exception("staging geometry failed")
            self._fallback(result, f"staging geometry failed ({type(exc).__name__}: {exc})")
            geometry = None
        prediction = self.staging.predict(geometry, case.clinical)
        for message in prediction.fallbacks:
            self._fallback(result, f"staging: {message}")
        log.info("stages: %s %s", prediction.t_stage, prediction.n_stage)
        return prediction.t_stage, prediction.n_stage

    def _segment(self, case: CaseInputs, result: CaseResult) -> sitk.Image:
        from algorithm.segmentation.memory import SegmentationOutOfMemory, is_out_of_memory

        try:
            return self.segmenter.segment(case.ct, case.pet, timings=result.timings)
        except SegmentationOutOfMemory as exc:  # every cheaper inference plan was tried (memory module)
            self._fallback(result, f"segmentation failed: the mask is EMPTY because the case ran out of memory: {exc}")
            return empty_label_like(case.ct)
        except HecktorError:
            raise
        except Exception as exc:  # a readable case must still get outputs
            if is_out_of_memory(exc):
                self._fallback(
                    result,
                    "segmentation failed: the mask is EMPTY because the case ran out of memory outside the network"
                    f" ({type(exc).__name__}: {str(exc)[:160]})",
                )
                return empty_label_like(case.ct)
            log.exception("segmentation failed")
            self._fallback(result, f"segmentation failed ({type(exc).__name__}: {exc}); wrote an empty mask")
            return empty_label_like(case.ct)

    def _features(self, case: CaseInputs, label: sitk.Image, result: CaseResult) -> dict[str, float] | None:
        from algorithm.features import extract_features

        try:
            with stage("features", log, result.timings):
                return extract_features(case.ct, case.pet, label, rt_dose=case.rt_dose)
        except Exception as exc:
            log.exception("feature extraction failed")
            self._fallback(result, f"feature extraction failed ({type(exc).__name__}: {exc}); clinical data only")
            return None

    @staticmethod
    def _fallback(result: CaseResult, message: str) -> None:
        log.warning("fallback: %s", message)
        result.fallbacks.append(message)


def rfs_summary(model: object) -> str:
    """One line naming a prognosis model: its kind, edition, inputs that matter in 2026 and training data."""
    describe = getattr(model, "describe", None)
    info = describe() if callable(describe) else {}
    training = getattr(model, "training", {}) or {}
    names = list(getattr(getattr(model, "main", None), "feature_names", []) or [])
    clinical = [n.removeprefix("clinical_") for n in names if n.startswith("clinical_")]
    return (
        f"{info.get('main', {}).get('kind', type(model).__name__)} model of edition {training.get('edition', '2025')}"
        f" trained on {training.get('data', 'unknown data')} ({training.get('n_cases', '?')} cases);"
        f" {len(names)} inputs, clinical: {', '.join(clinical) or 'none'}"
    )


def empty_label_like(ct: sitk.Image) -> sitk.Image:
    """An all-background uint8 label map on exactly the CT grid."""
    size = ct.GetSize()
    label = sitk.GetImageFromArray(np.zeros(size[::-1], dtype=np.uint8))
    label.CopyInformation(ct)
    return label
