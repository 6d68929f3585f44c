"""``train prognosis --edition 2026``: the 2026 RFS model from a synthetic 2026 layout (HPV an input, no M-stage)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algorithm.prognosis import PrognosisModel
from algorithm.training import prognosis as train_prognosis
from algorithm.training.cases import DatasetError, load_cases
from synthetic import generate_cohort, write_training_layout

FAST = ["--folds", "3", "--bootstrap", "20", "--model", "cox"]


@pytest.fixture(scope="module")
def layout_2026(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layout2026")
    write_training_layout(generate_cohort(16, seed=7), out, edition="2026")
    return out


def test_the_2026_layout_is_read_with_hpv_as_an_input(layout_2026: Path) -> None:
    cases, _notes = load_cases(layout_2026, 2, edition="2026")
    assert len(cases) == 16 and all(c.ct and c.pet and c.label for c in cases)
    assert all(c.targets["rfs_days"] > 0 and c.targets["relapse"] in (0.0, 1.0) for c in cases)
    assert any(c.clinical.get("HPV Status") is not None for c in cases)
    assert all(c.clinical.get("M-stage") is None for c in cases)
    assert not any("T-stage" in n or "N-stage" in n for c in cases for n in c.clinical.notes)  # not read as inputs
    with pytest.raises(DatasetError, match="no HECKTOR_2026"):
        load_cases(layout_2026 / "CHUM-001", 2, edition="2026")
    with pytest.raises(DatasetError, match="Task 3"):
        load_cases(layout_2026, 3, edition="2026")


@pytest.mark.slow  # training: left out of `make test-fast`
def test_train_prognosis_edition_2026(layout_2026: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rfs"
    args = ["--edition", "2026", "--data", str(layout_2026), "--out", str(out), "--holdout", str(layout_2026)]
    assert train_prognosis.main([*args, *FAST]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("2026 RFS cox: 16 cases") and "generator oracle" in printed
    model = PrognosisModel.load(out)
    assert model.training["edition"] == "2026" and model.training["n_cases"] == 16
    names = [*model.main.feature_names, *model.dropped_features]
    assert "clinical_hpv_status" in names and "clinical_m_stage" not in names
    assert "oracle_c_index" in model.training["holdout"]
    assert json.loads((out / "model.json").read_text())["format"] == "hecktor-kit/prognosis"


def test_model_card_bench_scores_both_models_and_the_ceilings(
    layout_2026: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.rfs_2026_card import main as card

    assert card(["--holdout", str(layout_2026), "--cache", str(tmp_path)]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["n_cases"] == 16
    for key in ("rfs_2026", "prognosis_2025", "oracle", "achievable_2025", "achievable_2026"):
        assert 0.0 <= row[key] <= 1.0, key
