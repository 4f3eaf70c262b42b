"""``python -m SDSegLogic ...`` runs the ``sdseg`` command line (see :mod:`SDSegLogic.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
