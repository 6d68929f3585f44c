"""One flag vocabulary across every command line, help text on every option, documented once (docs/cli.md)."""

from __future__ import annotations

import argparse

import pytest
from cli_reference import DOC, commands, document, options

COMMANDS = dict(commands())
OUTPUT_SPELLINGS = {"--out", "--output"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_text(name: str) -> None:
    missing = [a.option_strings or [a.dest] for a in options(COMMANDS[name]) if not (a.help or "").strip()]
    assert not missing, f"{name}: options without help text: {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_output_options_accept_both_spellings(name: str) -> None:
    for action in options(COMMANDS[name]):
        if OUTPUT_SPELLINGS & set(action.option_strings):
            assert set(action.option_strings) >= OUTPUT_SPELLINGS, f"{name}: {action.option_strings}"


def _parse(name: str, argv: list[str]) -> argparse.Namespace:
    top, *sub = name.split()
    root = {"hecktor-algorithm": "hecktor-algorithm", "hecktor-synthetic": "hecktor-synthetic"}.get(top, name)
    prefix = sub if root != name else []
    return COMMANDS[root].parse_args([*prefix, *argv])


@pytest.mark.parametrize("trainer", ["prognosis", "hpv"])
def test_folds_count_spellings_agree_and_segmentation_takes_indices(trainer: str) -> None:
    base = ["--data", "d", "--out", "o"]
    new = _parse(f"hecktor-algorithm train {trainer}", [*base, "--n-folds", "3"])
    old = _parse(f"hecktor-algorithm train {trainer}", [*base, "--folds", "3"])
    assert new.folds == old.folds == 3
    seg = _parse("hecktor-algorithm train segmentation", [*base, "--n-folds", "3", "--folds", "0", "2"])
    assert seg.n_folds == 3 and seg.folds == [0, 2]
    assert _parse("hecktor-algorithm train segmentation", [*base, "--output", "x"]).out.name == "x"


def test_every_command_is_in_docs_cli_md_and_it_is_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, parser in COMMANDS.items():
        if options(parser):
            assert f"### `{name}`" in text
    assert text == document(), "docs/cli.md is out of date: run .venv/bin/python test/cli_reference.py"
