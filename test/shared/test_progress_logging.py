"""Logging follows the current sys.stdout / sys.stderr, not the objects they were when it was set up."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from hecktor.progress import setup_logging


@pytest.mark.parametrize("split_streams", [False, True])
def test_logging_writes_to_the_current_streams_after_a_redirection_is_closed(
    split_streams: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_out, first_err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", first_out)
    monkeypatch.setattr(sys, "stderr", first_err)
    try:
        setup_logging(split_streams=split_streams)
        first_out.close()
        first_err.close()  # e.g. the capture of the test (or command) that set logging up has ended
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        logging.getLogger("hecktor.test").info("an access line")
        logging.getLogger("hecktor.test").error("the reason")
        assert "Logging error" not in err.getvalue()
        assert err.getvalue().strip().splitlines()[-1].endswith("the reason")
        assert ("an access line" in out.getvalue()) == split_streams
        assert ("an access line" in err.getvalue()) == (not split_streams)
    finally:
        monkeypatch.undo()
        setup_logging()
