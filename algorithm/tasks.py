"""Which tasks' outputs to write: the ``--tasks`` / ``HECKTOR_TASKS`` setting (no heavy imports)."""

from __future__ import annotations

ALL_TASKS = frozenset({1, 2, 3})


def parse_tasks(text: str | None) -> set[int]:
    """``"1,2,3"``, ``"2"``, ``"all"`` or ``None`` (= all) -> a set of task numbers."""
    if text is None or text.strip().lower() in {"", "all"}:
        return set(ALL_TASKS)
    tasks = set()
    for part in text.replace(" ", "").split(","):
        if part not in {"1", "2", "3"}:
            raise ValueError(f"unknown task {part!r}: expected 1, 2, 3 or 'all'")
        tasks.add(int(part))
    return tasks
