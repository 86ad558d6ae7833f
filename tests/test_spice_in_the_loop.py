"""SPICE-in-the-loop smoke run: the same EP script trains a DRN on the fast
simulator, the numba Shockley solver and ngspice (real ngspice, no mocks).

Bounds, from what the smoke run measures (2 epochs, 12 SGD steps):

* ngspice vs numba-Shockley: max weight gap 1.7e-15 S, relative 3.7e-15.  Both
  Newton solvers converge on the same equations to roundoff (free-state node
  voltages agree to ~2e-15 V), so EP sees the same voltages.  The bound 1e-10 S
  leaves five orders of margin for platform/ngspice-build roundoff, and is still
  far below the 1e-9-relative tolerance ngspice is asked for (TIGHT_OPTIONS)
  propagated through 12 steps (~lr*|V|*dV/beta*12 ~ 2e-8 S): a solver that only
  met its tolerance, or simulated a different circuit, fails it.
* ideal vs Shockley (the diode *model*): measured 6e-3 S, relative 9e-3 --
  the near-ideal diode (n = 0.01) conducts a few mV past 0 V, which changes
  every EP gradient by ~2 %.  Asserted to be visible (> 1e-4 S) and bounded.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "spice_in_the_loop.py")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("spice_in_the_loop")
    proc = subprocess.run([sys.executable, SCRIPT, "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    with open(out / "spice_in_the_loop.json") as fh:
        full = json.load(fh)
    return summary, full, out


@pytest.mark.ngspice
def test_summary_keys_and_files(smoke):
    summary, full, out = smoke
    for key in ("final_test_acc", "final_train_acc", "initial_test_acc", "seconds_per_epoch",
                "max_weight_gap_ngspice_vs_shockley", "rel_weight_gap_ngspice_vs_shockley",
                "max_weight_gap_shockley_vs_ideal", "rel_weight_gap_shockley_vs_ideal",
                "min_pred_agreement_ngspice_vs_shockley", "speed_ratio_ngspice_over_ideal",
                "speed_ratio_ngspice_over_shockley"):
        assert key in summary, key
    assert full["summary"] == summary
    assert (out / "spice_in_the_loop.png").stat().st_size > 10_000
    for kind in ("ideal", "shockley", "ngspice"):
        assert len(full["epochs"][kind]) == summary["epochs"] + 1


@pytest.mark.ngspice
def test_ngspice_trains_to_the_numba_shockley_weights(smoke):
    summary, full, _ = smoke
    assert summary["max_weight_gap_ngspice_vs_shockley"] < 1e-10
    assert summary["rel_weight_gap_ngspice_vs_shockley"] < 1e-9
    assert summary["max_bias_gap_ngspice_vs_shockley"] < 1e-10
    assert summary["min_pred_agreement_ngspice_vs_shockley"] >= 0.95
    assert summary["final_test_acc"]["ngspice"] == summary["final_test_acc"]["shockley"]
    # same start: no gap before the first step
    assert full["gaps"]["ngspice_vs_shockley"][0]["w_max_abs"] == 0.0


@pytest.mark.ngspice
def test_ideal_vs_shockley_gap_is_the_diode_model(smoke):
    summary, _, _ = smoke
    assert 1e-4 < summary["max_weight_gap_shockley_vs_ideal"] < 0.1
    assert summary["rel_weight_gap_shockley_vs_ideal"] < 0.1
    assert summary["min_pred_agreement_shockley_vs_ideal"] >= 0.8


@pytest.mark.ngspice
def test_accuracies_and_timings_are_physical(smoke):
    summary, _, _ = smoke
    for kind in ("ideal", "shockley", "ngspice"):
        for key in ("final_test_acc", "final_train_acc", "initial_test_acc"):
            assert 0.0 <= summary[key][kind] <= 1.0
        # 12 steps lift the test accuracy well above the untrained network's (~chance)
        assert summary["final_test_acc"][kind] > summary["initial_test_acc"][kind] + 0.05
        assert summary["seconds_per_epoch"][kind] > 0
    # ngspice (one operating point per sample and phase, circuit reloaded per phase) is slower
    assert summary["speed_ratio_ngspice_over_ideal"] > 1.0
