"""Worker processes die with the evaluation: none keeps running (holding memory) after SIGTERM or SIGKILL.

Linux's ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` asks the kernel to kill a process when its parent exits,
however the parent ends (a SIGKILL gives it no chance to clean up). The chain is: the evaluation ->
multiprocessing's forkserver (this module is the first one it preloads, and arms itself on import when the
forkserver's parent is the evaluation that started it, named in :data:`PARENT_ENV`) -> each worker
(armed by :func:`die_with_parent`, the pool's initializer). Elsewhere (not Linux) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: Set by :mod:`evaluation.parallel` to the evaluation's pid before it starts a pool.
PARENT_ENV = "HECKTOR_EVAL_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Have this process SIGKILLed when its parent exits; exit now if the parent is already gone.
    Returns whether the kernel accepted the request."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        accepted = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
    return accepted


# Imported by the forkserver the evaluation started (``python -c "from multiprocessing.forkserver import
# main; ..."``, a direct child of it), not by another program the evaluation's process tree runs.
if sys.argv[:1] == ["-c"] and os.environ.get(PARENT_ENV) == str(os.getppid()):
    die_with_parent()
