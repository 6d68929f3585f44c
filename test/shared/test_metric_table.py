"""hecktor.metrics.table: one declaration per aggregate; the docs, the evaluation and the table agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

from evaluation.cli import main
from hecktor.labels import GTVN, GTVP, LABEL_NAMES, LABELS
from hecktor.metrics import table

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "ground_truth_examples"


def _documented_keys() -> set[str]:
    text = (ROOT / "docs" / "evaluation.md").read_text(encoding="utf-8")
    section = text.split("### aggregates", 1)[1].split("\n### ", 1)[0]
    keys: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            keys.update(re.findall(r"`([A-Za-z0-9_]+)`", line.split("|")[1]))
    return keys


def test_docs_list_exactly_the_table_keys() -> None:
    assert _documented_keys() == {a.key for a in table.AGGREGATES}


def test_table_is_consistent() -> None:
    keys = [a.key for a in table.AGGREGATES]
    assert len(keys) == len(set(keys))
    for a in table.AGGREGATES:
        assert a.task in (1, 2, 3, 4) and a.direction in ("higher", "lower", "count") and a.definition
        assert (a.fallback is None) == (a.direction == "count" or "_ci_" in a.key or a.key == "integrated_brier_score")
    assert table.ranking_keys(1) == ("GTVp_mean_dice", "GTVn_aggregated_dice", "GTVn_aggregated_f1")
    assert table.ranking_keys(2) == ("c_index",) and table.ranking_keys(3) == ("balanced_accuracy",)
    assert table.fallback_of("c_index") == table.CHANCE and table.fallback_of("GTVn_recall") == table.WORST
    assert (GTVP, GTVN) == LABELS == (1, 2) and [LABEL_NAMES[v] for v in LABELS] == ["GTVp", "GTVn"]


def test_evaluation_writes_only_table_keys(tmp_path: Path) -> None:
    for task in (1, 2, 3):
        out = tmp_path / f"metrics{task}.json"
        argv = ["--input", str(EXAMPLES / "predictions" / f"task{task}"), "--output", str(out)]
        assert main([*argv, "--ground-truth", str(EXAMPLES / "ground_truth"), "--workers", "1"]) == 0
        aggregates = json.loads(out.read_text())["aggregates"]
        written = set(aggregates) - {"by_centre", *table.GENERAL_KEYS}
        assert (
            written <= set(table.BY_KEY)
            and {a.key for a in table.AGGREGATES if a.ranking and a.task == task} <= written
        )
