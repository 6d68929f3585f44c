"""``python -m bench.prognosis_ceiling``: its risk formula is the generator's, and the table prints."""

from __future__ import annotations

import pytest

from bench import prognosis_ceiling


def test_observable_risk_is_the_generators_and_missing_values_move_it() -> None:
    pytest.importorskip("synthetic")
    plans = prognosis_ceiling._plans(40, 3)
    for plan in plans:
        assert prognosis_ceiling.observable_risk(plan, True) == pytest.approx(plan.achievable_risk, abs=1e-12)
    with_blanks = [p for p in plans if any(v is None for v in p.clinical.values())]
    assert with_blanks and any(
        prognosis_ceiling.observable_risk(p, False) != pytest.approx(p.achievable_risk) for p in with_blanks
    )


def test_table_has_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("synthetic")
    argv = ["--holdout-seeds", "5", "--holdout-cases", "40", "--train-seeds", "6", "--train-cases", "80"]
    assert prognosis_ceiling.main(argv) == 0
    out = capsys.readouterr().out
    for row in ("achievable (generator)", "recorded inputs, true coefficients", "true lesions, Cox fitted on 80"):
        assert row in out
