"""Smoke test of ``python -m bench.oof_masks_benefit`` (issue 16: Tasks 2/3 fitted on predicted masks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import oof_masks_benefit


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
    run = cache / "oof_runs" / "syn8_14"
    assert len(list((run / "oof").glob("*.nii.gz"))) == 14
    assert set(json.loads((run / "oof" / "folds.json").read_text()).values()) == {0}
    fitted = json.loads((cache / "fits" / "syn8_14" / "oof" / "prognosis" / "model.json").read_text())
    assert fitted["training"]["masks"] == f"out-of-fold ({run / 'oof'})"
    gt = json.loads((cache / "fits" / "syn8_14" / "ground-truth" / "hpv" / "model.json").read_text())
    assert gt["training"]["masks"] == "ground-truth"
    # held-out: the first 3 cases segmented as the container does, both views scored on those same cases
    assert len(list((cache / "predicted" / "syn9_14").glob("*.nii.gz"))) == 3
    record = json.loads((tmp_path / "r.json").read_text())
    for view in ("predicted masks", "ground-truth masks"):
        for fit in oof_masks_benefit.FITS:
            c = record["rows"][view]["9"][fit]["c_index"]
            assert 0.0 <= c <= 1.0
        d = record["deltas"][view]["c_index"]["per_seed"][0]
        rows = record["rows"][view]["9"]
        assert d == pytest.approx(rows["oof"]["c_index"] - rows["ground-truth"]["c_index"])


def test_training_record_names_out_of_fold_masks(tmp_path: Path) -> None:
    from algorithm.training.records import masks_label

    (tmp_path / "run" / "oof").mkdir(parents=True)
    (tmp_path / "run" / "oof" / "A-001.nii.gz").write_bytes(b"")
    assert masks_label(f"oof:{tmp_path / 'run'}") == f"out-of-fold ({tmp_path / 'run' / 'oof'})"
    assert masks_label("ground-truth") == "ground-truth"
    assert masks_label(tmp_path / "preds") == "predicted (preds)"


def test_verdict_needs_every_seed_for_met() -> None:
    def entry(per_seed: list[float]) -> dict[str, list]:
        return {"per_seed": per_seed, "ci": [(d - 0.05, d + 0.05) for d in per_seed]}

    deltas = {
        "c_index": entry([0.02, -0.01, 0.01]),
        "auc": entry([0.08, 0.04, 0.02]),
        "balanced_accuracy": entry([-0.1]),
    }
    c, auc, ba = oof_masks_benefit.verdict(deltas)
    assert "C-index" in c and ": NOT SHOWN (mean +0.007; higher on 2 of 3 seeds, CI above 0 on 0)" in c
    assert ": MET (mean +0.047; higher on 3 of 3 seeds, CI above 0 on 1)" in auc
    assert ": NOT MET (mean -0.100" in ba
