"""``python -m evaluation``: the Grand Challenge evaluation entry point (see :mod:`evaluation.cli`)."""

import sys

from evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
