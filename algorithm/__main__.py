"""``python -m algorithm``: see :mod:`algorithm.cli`."""

import sys

from algorithm.cli import main

sys.exit(main())
