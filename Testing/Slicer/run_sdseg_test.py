"""Run the SDSeg module's in-Slicer tests (SDSegTest in SDSegExtension/SDSeg.py) and exit.

From a source checkout (no build needed; Python-only extension)::

    Slicer --no-main-window --testing --additional-module-paths SDSegExtension \\
           --python-script Testing/Slicer/run_sdseg_test.py

With the extension installed from the Extensions Manager, drop ``--additional-module-paths``.
The exit code is 0 when every test passed. ``--testing`` makes ``slicer.app.testingEnabled()``
true: no dialogs, and missing Python packages fail the test instead of being installed.
"""

from __future__ import annotations

import sys
import unittest

import slicer

try:
    import SDSeg
except ImportError as exc:  # the module path is missing
    print(f"cannot import the SDSeg module ({exc}); pass --additional-module-paths SDSegExtension", file=sys.stderr)
    slicer.util.exit(2)
else:
    suite = unittest.TestLoader().loadTestsFromTestCase(SDSeg.SDSegTest)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    slicer.util.exit(0 if result.wasSuccessful() else 1)
