"""``python -m evaluation``: the Grand Challenge evaluation entry point (see :mod:`evaluation.cli`)."""

import os
import sys

# One BLAS thread: the evaluation does no linear algebra worth threading, and OpenBLAS reserves memory
# per thread when it loads; under an address-space cap (``ulimit -v``) a multi-threaded OpenBLAS spins
# forever instead of failing. Set before numpy/scipy load; the workers inherit it.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from evaluation.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
