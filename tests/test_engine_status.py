"""Which engine runs is stated, built or not (issue 20): `convcli --version`'s engine line."""

from __future__ import annotations

import subprocess
import sys

# Runs convcli with its native extension unimportable, as after an install with no compiler.
NOT_BUILT = """\
import importlib.abc, sys

class NotBuilt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "convcli.engine._native":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotBuilt())
import numpy as np
import convcli
from convcli.engine import native
print(native.describe())
x = np.zeros((9, 9)); x[4, 4] = 1
print(convcli.filter2d(x, np.arange(9.0).reshape(3, 3), pad_mode="zeros")[3:6, 3:6].tolist())
"""


def test_without_the_extension_the_numpy_engine_runs_and_says_why():
    """No extension (no compiler at install): the numpy engine runs, and the line says why."""
    env_free = {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", NOT_BUILT], capture_output=True, text=True, env=env_free, check=True
    )
    first, result = proc.stdout.splitlines()
    assert first == (
        "engine: numpy (native extension not built: No module named 'convcli.engine._native')"
    )
    # the impulse response of a correlation is the kernel rotated by 180 degrees
    assert result == "[[8.0, 7.0, 6.0], [5.0, 4.0, 3.0], [2.0, 1.0, 0.0]]"
