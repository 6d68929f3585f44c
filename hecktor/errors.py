"""Exceptions that carry a one-line, user-facing reason.

Grand Challenge shows a participant only the last line of stderr of a failed job, so every error
raised for bad input says which file is at fault and what is wrong with it, in one line, and never
leaks ground truth.
"""

from __future__ import annotations

from pathlib import Path


class HecktorError(Exception):
    """Base class of the errors this project raises on purpose."""


class InputError(HecktorError):
    """An input file is missing, unreadable or unusable.

    Args:
        path: the file or folder at fault (shown to the user).
        problem: what is wrong, in a few words.
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class UsageError(HecktorError):
    """A flag, a setting (``HECKTOR_*``) or the output folder cannot be used; found before any work.

    Command lines report it in one line and exit with status 2, like argparse's usage errors.
    """
