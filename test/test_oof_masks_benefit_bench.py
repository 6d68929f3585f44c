"""Smoke test of ``python -m bench.oof_masks_benefit`` (issue 16: Tasks 2/3 fitted on predicted masks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import oof_masks_benefit
from bench.masks import bundled_segmentation, mask_cache


@pytest.mark.slow  # segments 17 tiny cases and fits the Task 2/3 trainers twice: left out of `make test-fast`
def test_bench_fits_on_oof_masks_and_scores_both_views(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("synthetic")
    cache = tmp_path / "cache"
    argv = ["--cache", str(cache), "--train-seed", "8", "--train-cases", "14", "--holdout-seeds", "9"]
    argv += ["--holdout-size", "14", "--holdout-cases", "3", "--bootstrap", "10", "--json", str(tmp_path / "r.json")]
    assert oof_masks_benefit.main(argv) == 0
    printed = capsys.readouterr().out
    assert "bundled segmentation model" in printed and "oof − gt" in printed and "target (issue 16), AUC" in printed
    # the training masks are in the layout `train segmentation` writes and `--masks oof:RUN` reads
    run = mask_cache(cache, "oof_runs", "syn8_14")
    assert len(list((run / "oof").glob("*.nii.gz"))) == 14
    assert set(json.loads((run / "oof" / "folds.json").read_text()).values()) == {0}
    fitted = json.loads((cache / "fits" / "syn8_14" / "oof" / "prognosis" / "model.json").read_text())
    assert fitted["training"]["masks"] == f"out-of-fold ({run / 'oof'})"
    gt = json.loads((cache / "fits" / "syn8_14" / "ground-truth" / "hpv" / "model.json").read_text())
    assert gt["training"]["masks"] == "ground-truth"
    # held-out: the first 3 cases segmented as the container does, both views scored on those same cases
    assert len(list(mask_cache(cache, "predicted", "syn9_14").glob("*.nii.gz"))) == 3
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["n_scored"] == {"syn9_14": 3}
    # the masks' quality beside the figures: every training case out-of-fold, the 3 scored held-out cases
    assert record["mask_quality"]["syn8_14"]["cases"] == 14 and record["mask_quality"]["syn9_14"]["cases"] == 3
    assert 0.0 <= record["mask_quality"]["syn9_14"]["gtvp_mean_dice"] <= 1.0
    assert "syn8_14 (out-of-fold) (14 cases): GTVp mean Dice" in printed
    for view in ("predicted masks", "ground-truth masks"):
        for fit in oof_masks_benefit.FITS:
            c = record["rows"][view]["9"][fit]["c_index"]
            assert 0.0 <= c <= 1.0
        d = record["deltas"][view]["c_index"]["per_seed"][0]
        rows = record["rows"][view]["9"]
        assert d == pytest.approx(rows["oof"]["c_index"] - rows["ground-truth"]["c_index"])
        assert len(record["deltas"][view]["auc"]["pooled_ci"]) == 2
    # each fit's chosen hyper-parameters, and the diagnostics with the same ones in both fits
    assert "ground-truth fit: Cox ridge alpha=" in printed and "oof fit: Cox " in printed
    assert "Cox ridge alpha=100 in both fits: C-index gt fit" in printed and "the oof fit's) in both fits" in printed
    # the matched-penalty refit is the trainer's own fit when given the penalty the trainer chose
    from algorithm.prognosis import PrognosisModel

    model = PrognosisModel.load(cache / "fits" / "syn8_14" / "oof" / "prognosis")
    details = model.main.details
    assert details["l1_ratio"] == 0.0, details  # a ridge fit (the default) on this tiny cohort
    rows = oof_masks_benefit.training_rows(cache / "cohorts" / "syn8_14", f"oof:{run}", cache / "features")
    again = oof_masks_benefit.refit_cox(model, rows, details["alpha"])
    assert again.main.coefficients == pytest.approx(model.main.coefficients, abs=1e-6)
    other = oof_masks_benefit.refit_cox(model, rows, 100.0 if details["alpha"] != 100.0 else 1.0)
    assert other.main.coefficients != pytest.approx(model.main.coefficients, abs=1e-6)
    # a smaller --holdout-cases on the same cache scores that many cases, not every mask the cache holds
    argv[argv.index("--holdout-cases") + 1] = "2"
    assert oof_masks_benefit.main(argv) == 0
    assert json.loads((tmp_path / "r.json").read_text())["n_scored"] == {"syn9_14": 2}
    # --seg-run: a train segmentation run folder (model folder + oof/) gives the training masks, and its
    # fold 0 segments the held-out cases, cached under that model's own fingerprint and fold
    seg_run = tmp_path / "seg_run"
    shutil.copytree(run, seg_run, symlinks=False)
    shutil.copy(bundled_segmentation() / "config.json", seg_run / "config.json")
    argv += ["--seg-run", str(seg_run), "--holdout-folds", "0"]
    assert oof_masks_benefit.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"k-fold train segmentation run {seg_run}" in printed and "fold(s) [0]" in printed
    assert len(list(mask_cache(cache, "predicted", "syn9_14", seg_run, [0]).glob("*.nii.gz"))) == 2
    oof_fits = list((cache / "fits" / "syn8_14").glob("run-*/oof/prognosis/model.json"))
    assert len(oof_fits) == 1 and json.loads(oof_fits[0].read_text())["training"]["masks"].endswith(
        f"({seg_run / 'oof'})"
    )
    assert json.loads((tmp_path / "r.json").read_text())["seg_run"] == str(seg_run)


def test_seg_run_must_hold_an_oof_mask_of_every_training_case(tmp_path: Path) -> None:
    pytest.importorskip("synthetic")
    train = oof_masks_benefit.cohort(tmp_path, 8, 3)
    run = tmp_path / "run"
    with pytest.raises(SystemExit, match="not a finished train segmentation run"):
        oof_masks_benefit.seg_run_masks(run, train)
    (run / "oof").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    from algorithm.training.seg_data import find_cases

    ids = [c.patient_id for c in find_cases(train)]
    (run / "oof" / "folds.json").write_text(json.dumps({pid: 0 for pid in ids[:2]}))
    with pytest.raises(SystemExit, match=f"1 training cases of {train.name} have no out-of-fold mask"):
        oof_masks_benefit.seg_run_masks(run, train)
    (run / "oof" / "folds.json").write_text(json.dumps({pid: k % 2 for k, pid in enumerate(ids)}))
    assert oof_masks_benefit.seg_run_masks(run, train) == run.resolve()


def test_training_record_names_out_of_fold_masks(tmp_path: Path) -> None:
    from algorithm.training.records import masks_label

    (tmp_path / "run" / "oof").mkdir(parents=True)
    (tmp_path / "run" / "oof" / "A-001.nii.gz").write_bytes(b"")
    assert masks_label(f"oof:{tmp_path / 'run'}") == f"out-of-fold ({tmp_path / 'run' / 'oof'})"
    assert masks_label("ground-truth") == "ground-truth"
    assert masks_label(tmp_path / "preds") == "predicted (preds)"


def test_verdict_needs_every_seed_and_the_mean_ci_for_met() -> None:
    def entry(per_seed: list[float]) -> dict[str, list]:
        return {"per_seed": per_seed, "ci": [(d - 0.05, d + 0.05) for d in per_seed]}

    deltas = {
        "c_index": entry([0.02, -0.01, 0.01]),
        "auc": entry([0.08, 0.04, 0.02]),
        "balanced_accuracy": entry([-0.1]),
    }
    c, auc, ba = oof_masks_benefit.verdict(deltas)
    assert "C-index" in c and ": NOT SHOWN (mean +0.007; higher on 2 of 3 seeds, CI above 0 on 0)" in c
    deltas["c_index"]["pooled_ci"] = (-0.0196, 0.0196)  # SE 0.01: detectable (1.96 + 0.84) x 0.01
    assert "mean's CI [-0.020, +0.020], detectable (80 % power) 0.028)" in oof_masks_benefit.verdict(deltas)[0]
    assert ": MET (mean +0.047; higher on 3 of 3 seeds, CI above 0 on 1)" in auc
    assert ": NOT MET (mean -0.100" in ba
    # higher on every seed, but the CI of the mean over seeds includes 0: not shown
    deltas["auc"]["pooled_ci"] = (-0.001, 0.095)
    assert ": NOT SHOWN (mean +0.047; higher on 3 of 3 seeds" in oof_masks_benefit.verdict(deltas)[1]
    deltas["auc"]["pooled_ci"] = (0.001, 0.095)
    assert ": MET (mean +0.047; higher on 3 of 3 seeds" in oof_masks_benefit.verdict(deltas)[1]


def _scored(rng: np.random.Generator, n: int, oof_better: bool) -> dict:
    """A seed's held-out figures: the oof fit's risk and probability are the truth (or equal the gt fit's)."""
    time = rng.uniform(100, 2000, n)
    event = rng.random(n) < 0.4
    hpv = (rng.random(n) < 0.6).astype(int)
    noise, pnoise = rng.normal(size=n), rng.random(n)
    risk = {"ground-truth": noise, "oof": -time if oof_better else noise}
    prob = {"ground-truth": pnoise, "oof": 0.2 + 0.6 * hpv if oof_better else pnoise}
    return {
        "time": time,
        "event": event,
        "risk": risk,
        "hpv": hpv,
        "call": {f: (p >= 0.5, p) for f, p in prob.items()},
    }


def test_pooled_ci_resamples_each_seed_and_brackets_the_mean_difference() -> None:
    rng = np.random.default_rng(3)
    same = [_scored(rng, 40, oof_better=False) for _ in range(3)]
    for key in ("c_index", "auc", "balanced_accuracy"):
        assert oof_masks_benefit.pooled_ci(same, key, 50, 0) == (0.0, 0.0)
    better = [_scored(rng, 40, oof_better=True) for _ in range(3)]
    mean = np.mean(
        [
            oof_masks_benefit.metrics(p, "oof")["auc"] - oof_masks_benefit.metrics(p, "ground-truth")["auc"]
            for p in better
        ]
    )
    lo, hi = oof_masks_benefit.pooled_ci(better, "auc", 200, 0)
    assert 0.0 < lo <= mean <= hi
    lo, hi = oof_masks_benefit.pooled_ci(better, "c_index", 200, 0)
    assert lo > 0.0
