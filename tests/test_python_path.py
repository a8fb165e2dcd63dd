"""The kernels' plain-Python path (NUMBA_DISABLE_JIT=1) gives the hand-computed images.

The per-jet body is plain Python compiled by numba; running it uncompiled
checks the source itself (and keeps the pure-Python fallbacks of fastmath.py
honest). The subprocess runs the small hand-computed and edge-case tests.
"""

import os
import subprocess
import sys
from pathlib import Path

SELECTION = "constituent or pair or edge or invalid or cropped or tie or centre"


def test_hand_computed_jets_without_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(root / "tests" / "test_kernels.py"), "-k", SELECTION],
                         env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "deselected" in run.stdout
