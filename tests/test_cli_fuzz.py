"""Fuzz the command line (issue 12): any value for any flag ends in a result, a located
error (exit 1) or a usage error (exit 2) -- never an uncaught exception."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuitlearn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECKS = [os.path.join(ROOT, "netlists", n) for n in ("divider.cir", "diode_clipper.cir",
                                                     "drn_small.cir")]
HOSTILE = st.sampled_from(["0", "-1", "1", "2", "0.5", "1e-300", "1e300", "1e999", "nan",
                           "inf", "-inf", "abc", "", "3,4", "8.5", "-0", "0x10", "1_000"])


def _call(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:           # argparse: usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc in (0, 1, 2), (argv, rc, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    return rc


SOLVE_FLAGS = ["--tol", "--maxiter", "--diodes", "--backend", "--sources"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deck=st.sampled_from(DECKS),
       flags=st.lists(st.tuples(st.sampled_from(SOLVE_FLAGS), HOSTILE), max_size=3),
       json_out=st.booleans())
def test_solve_survives_any_flag_values(deck, flags, json_out, capsys):
    argv = ["solve", deck] + [x for f, v in flags for x in (f, v)]
    if json_out:
        argv.append("--json")
    _call(argv, capsys)


TRAIN_FLAGS = ["--hidden", "--gain", "--g-min", "--g-max", "--beta", "--lr", "--momentum",
               "--decay", "--epochs", "--batch-size", "--seed", "--estimator", "--nudging",
               "--loss", "--loss-scale", "--init-gain", "--sweeps", "--output", "--device"]


@pytest.mark.ngspice
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=st.lists(st.tuples(st.sampled_from(TRAIN_FLAGS), HOSTILE), min_size=1, max_size=3))
def test_train_survives_any_flag_values(flags, tmp_path_factory, capsys):
    out = str(tmp_path_factory.mktemp("fz"))
    argv = ["train", "--out", out, "--n-train", "24", "--n-test", "12", "--hidden", "8",
            "--epochs", "1", "--no-progress"] + [x for f, v in flags for x in (f, v)]
    _call(argv, capsys)
