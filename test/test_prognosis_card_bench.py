"""Smoke test of ``python -m bench.prognosis_card`` (the model card's Task 2 / 3 table) on tiny cohorts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import prognosis_card
from bench.masks import mask_cache


@pytest.mark.slow  # fits four models and segments two cases: left out of `make test-fast`
def test_card_table_puts_every_model_against_the_oracle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synthetic = pytest.importorskip("synthetic")
    cohorts = []
    for seed in (8, 9):
        out = tmp_path / f"syn{seed}"
        synthetic.write_training_layout(synthetic.generate_cohort(24, seed=seed), out)
        cohorts.append(out)
    argv = ["--train", str(cohorts[0]), "--holdout", *map(str, cohorts), "--cache", str(tmp_path / "cache")]
    argv += ["--bags", "4", "--predicted-masks", "--predicted-cases", "2", "--json", str(tmp_path / "card.json")]
    assert prognosis_card.main(argv) == 0
    printed = capsys.readouterr().out
    for row in ("achievable C-index", "bundled Task 2 model", "ICARE, package rule", "Cox, default ridge fit"):
        assert row in printed
    card = json.loads((tmp_path / "card.json").read_text())
    assert set(card["oracles"]) == {"syn8", "syn9"}
    views = card["results"]
    assert "predicted masks (first 2 cases)" in views and "ground-truth masks (same 2 cases)" in views
    for cohort in ("syn8", "syn9"):
        assert 0.0 <= views["ground-truth masks"][cohort]["bundled Task 2 model"] <= 1.0
    assert len(list(mask_cache(tmp_path / "cache", "predicted", "syn8").iterdir())) == 2
    # the subset views are put against the oracle of the same cases; on every case it is the oracle block
    assert "oracle (same 2 cases)" in printed
    assert card["subset_oracles"]["oracle (same 2 cases)"]["syn8"]["n_cases"] == 2
    every = {c["PatientID"] for c in json.loads((cohorts[0] / "synthetic_metadata.json").read_text())["cases"]}
    whole = prognosis_card.subset_oracle(cohorts[0], every)
    assert whole["c_index_achievable"] == pytest.approx(card["oracles"]["syn8"]["c_index_achievable"])
    assert whole["hpv_auc_achievable"] == pytest.approx(card["oracles"]["syn8"]["hpv_auc_achievable"])
