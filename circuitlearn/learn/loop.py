"""The one training loop: epochs, batches, evaluation, checkpoints, resume, divergence.

:func:`fit` trains any *learner* -- an object that pairs a device with a
learning rule (:mod:`circuitlearn.learn.learners`: a netlist task, a layered
DRN) -- by SGD (:mod:`circuitlearn.learn.optim`).  A learner offers:

* ``task``: ``"classification"`` or ``"regression"``; ``names``: one name per
  parameter array (the checkpoint's array names); ``hint``: what to lower when
  the run diverges;
* ``parameters()`` / ``set_parameters(arrays)``: the programmable state;
* ``reset()``: forget warm-start state (called at every epoch start, so an
  epoch depends only on what a checkpoint stores);
* ``step(x, t, rng) -> Step``: gradient estimates from measured voltages;
  ``program(deltas)``: apply SGD's changes;
* ``evaluate(x, t) -> dict``: free-state ``loss`` and ``error`` or ``mse``.
* optional, for device physics: ``device_state()`` / ``load_device_state(st)`` (the
  devices' arrays and random streams, checkpointed) and ``results_extra()`` (keys added
  to ``results.json``, e.g. ``device``: pulses applied, devices stuck).

:func:`fit` writes into ``out_dir``:

* ``checkpoint.npz`` after every epoch (parameters, optimiser velocity, RNG
  state, epoch, history, config): ``resume=True`` continues from it and gives
  bit-identical results to an uninterrupted run;
* ``results.json`` after every epoch (config, the metrics before training,
  per-epoch train/test loss, error or MSE, seconds) and ``curves.png`` (every
  ``PLOT_EVERY_S`` seconds and at the end).

Divergence stops the run with :class:`~circuitlearn.errors.TrainingError`
(non-finite or exploding loss, non-finite gradient, a failed solve, unstable
nudging) naming the last good checkpoint, which is left as it was.
"""
from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from circuitlearn import results
from circuitlearn.errors import BackendError, ConfigError, DataError, TrainingError
from circuitlearn.learn import optim

#: a batch loss above this multiple of the mean loss before training counts as diverged
EXPLODE_FACTOR = 1e4
#: curves.png is redrawn at most this often during a run (and always at its end):
#: drawing it costs ~0.2 s, far more than an epoch of a small circuit
PLOT_EVERY_S = 10.0


@dataclass(frozen=True, eq=False)
class Step:
    """What one learner step returns: ``grads`` (list of arrays, like ``parameters()``),
    ``loss`` float64[B] at the free state, ``wrong`` (misclassified samples of the batch,
    classification; else None), ``unstable`` (nudged outputs reported unstable)."""
    grads: list
    loss: np.ndarray
    wrong: int | None = None
    unstable: int = 0


def batches(n: int, batch_size: int, rng: np.random.Generator | None = None):
    """Index arrays covering ``range(n)`` in batches (shuffled when ``rng`` is given).

    The last batch may be smaller."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


@dataclass(frozen=True)
class EpochStats:
    """Running metrics of a training epoch (from the free phases of its batches)."""
    loss: float
    error: float | None
    seconds: float
    unstable: int
    n: int


def run_epoch(learner, x, t, sgd: optim.SGDConfig, state: optim.SGDState,
              rng: np.random.Generator, batch_size: int, ref_loss: float | None = None,
              progress=None):
    """One epoch over ``x, t`` shuffled by ``rng``; returns (sgd_state, EpochStats).

    ``ref_loss``: the mean loss before training; a batch above ``EXPLODE_FACTOR``
    times it raises :class:`TrainingError` (the first batch's loss when None).
    ``progress``: optional callable ``(n_done, running_loss, running_error)``."""
    learner.reset()
    t0 = time.perf_counter()
    tot, wrong, seen, unstable = 0.0, 0, 0, 0
    for idx in batches(len(x), batch_size, rng):
        st = learner.step(x[idx], t[idx], rng)
        lsum = float(np.sum(st.loss))
        if not math.isfinite(lsum):
            raise TrainingError("the training loss is not finite")
        if ref_loss is None:
            ref_loss = max(lsum / len(idx), 1e-300)
        if lsum / len(idx) > EXPLODE_FACTOR * ref_loss:
            raise TrainingError(f"the training loss diverged ({lsum / len(idx):.4g} per sample, "
                                f"{ref_loss:.4g} before training); {learner.hint}")
        if not all(np.all(np.isfinite(g)) for g in st.grads):
            raise TrainingError("non-finite gradient estimate")
        deltas, state = optim.sgd_update(sgd, state, st.grads, consume=True)
        learner.program(deltas)
        tot += lsum
        seen += len(idx)
        unstable += st.unstable
        if st.wrong is not None:
            wrong += st.wrong
        if progress is not None:
            progress(len(idx), tot / seen, wrong / seen)
    err = wrong / seen if learner.task == "classification" else None
    return state, EpochStats(tot / seen, err, time.perf_counter() - t0, unstable, seen)


def fit(learner, data, sgd: optim.SGDConfig, rng: np.random.Generator, *, epochs: int,
        batch_size: int, out_dir: str, config: dict, resume: bool = False, log=print,
        progress: bool = False, extra: dict | None = None, on_epoch=None, title: str = ""):
    """Train ``learner`` on ``data = (x_train, t_train, x_test, t_test)``.

    ``rng`` drives the data order (and random-sign nudging); when resuming its
    state comes from the checkpoint.  ``config`` (JSON-able) is stored in the
    checkpoint and results; ``extra`` adds keys to ``results.json``.
    ``on_epoch(epoch, learner, record)`` is called after the metrics before training
    (epoch 0, record None; not when resuming) and after every epoch.
    Returns ``{"config", "initial", "epochs", **extra}``."""
    x_tr, t_tr, x_te, t_te = data
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError(f"{out_dir} is a file, not a folder", None, "--out")
    os.makedirs(out_dir, exist_ok=True)
    ckpt = os.path.join(out_dir, "checkpoint.npz")
    extra = dict(extra or {})
    if resume:
        if not os.path.exists(ckpt):
            raise ConfigError(f"no checkpoint to resume from ({ckpt})", None, "--resume")
        meta, arrays = load_checkpoint(ckpt)
        params = _checkpoint_parameters(ckpt, arrays, learner.names, learner.parameters())
        vel = _checkpoint_parameters(ckpt, arrays, [f"vel{i}" for i in range(len(params))],
                                     params) if "vel0" in arrays else None
        learner.set_parameters(params)
        if "device" in meta:
            dev = {k[4:]: v for k, v in arrays.items() if k.startswith("dev_")} | meta["device"]
            try:
                learner.load_device_state(dev)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{ckpt}: its device state cannot be restored ({exc})") from None
        state = optim.SGDState(meta["sgd_epoch"], meta["sgd_step"],
                               tuple(vel) if vel is not None else None)
        if sgd.momentum and state.velocity is None:
            state = optim.sgd_init(sgd, learner.parameters())
            state = optim.SGDState(meta["sgd_epoch"], meta["sgd_step"], state.velocity)
        try:
            rng.bit_generator.state = meta["rng"]
        except (TypeError, ValueError, KeyError) as exc:
            raise DataError(f"{ckpt}: its RNG state cannot be restored ({exc})") from None
        history, start, initial = meta["history"], meta["epoch"], meta.get("initial")
    else:
        state = optim.sgd_init(sgd, learner.parameters())
        history, start = [], 0
        te = time.perf_counter()
        initial = {"train": learner.evaluate(x_tr, t_tr), "test": learner.evaluate(x_te, t_te)}
        initial["eval_seconds"] = time.perf_counter() - te
        log("before training: test " + describe(initial["test"]))
        if on_epoch is not None:
            on_epoch(0, learner, None)
    ref = max(initial["train"]["loss"], 1e-300) if initial else None
    last_plot = time.perf_counter()
    for epoch in range(start, epochs):
        good = f"epoch {epoch}, {ckpt}" if epoch else "none written yet"
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(x_tr), desc=f"epoch {epoch + 1}/{epochs}", unit="sample",
                       leave=False, file=sys.stderr, mininterval=0.5)

            def upd(n, loss, err, bar=bar):
                bar.update(n)
                if bar.n % (50 * batch_size) < n:
                    post = {"loss": f"{loss:.4g}"}
                    if learner.task == "classification":
                        post["err"] = f"{100 * err:.2f}%"
                    bar.set_postfix(post, refresh=False)
        try:
            state, stats = run_epoch(learner, x_tr, t_tr, sgd, state, rng, batch_size,
                                     ref, upd if bar is not None else None)
            state = optim.next_epoch(state)
            te = time.perf_counter()
            test = learner.evaluate(x_te, t_te)
        except (TrainingError, BackendError, FloatingPointError) as exc:
            raise TrainingError(f"epoch {epoch + 1}: {exc}. Last good checkpoint: "
                                f"{good}") from None
        finally:
            if bar is not None:
                bar.close()
        rec = {"epoch": epoch + 1, "train_loss": stats.loss}
        if stats.error is not None:
            rec["train_error"] = stats.error
        rec |= {f"test_{k}": v for k, v in test.items()}
        rec |= {"seconds": stats.seconds, "eval_seconds": time.perf_counter() - te,
                "unstable": stats.unstable}
        history.append(rec)
        log(f"epoch {epoch + 1}: train loss {stats.loss:.4g}"
            + (f" err {100 * stats.error:.2f}%" if stats.error is not None else "")
            + f" | test {describe(test)} | {stats.seconds:.2f} s"
            + (f" | {stats.unstable} unstable nudged outputs" if stats.unstable else ""))
        save_checkpoint(ckpt, learner, state, rng, epoch + 1, history, config, initial)
        plot = time.perf_counter() - last_plot > PLOT_EVERY_S
        write_results(out_dir, config, initial, history, extra | _learner_extra(learner), title,
                      plot=plot)
        if plot:
            last_plot = time.perf_counter()
        if on_epoch is not None:
            on_epoch(epoch + 1, learner, rec)
    extra = extra | _learner_extra(learner)
    write_results(out_dir, config, initial, history, extra, title)
    return {"config": config, "initial": initial, "epochs": history, **extra}


def _learner_extra(learner) -> dict:
    """What the learner adds to ``results.json`` now (``results_extra``, optional): e.g.
    the pulses its devices took."""
    return getattr(learner, "results_extra", dict)()


def describe(m: dict) -> str:
    return (f"error {100 * m['error']:.2f}%" if "error" in m else f"MSE {m['mse']:.4g}") + \
        f", loss {m['loss']:.4g}"


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(path, learner, state, rng, epoch, history, config, initial):
    """Parameters by ``learner.names``, velocity as ``vel0..``, and a JSON ``meta``;
    written to a temporary file and renamed (a killed run leaves the old one)."""
    arrays = dict(zip(learner.names, learner.parameters()))
    if state.velocity is not None:
        arrays |= {f"vel{i}": v for i, v in enumerate(state.velocity)}
    meta = {"epoch": epoch, "sgd_epoch": state.epoch, "sgd_step": state.step,
            "rng": rng.bit_generator.state, "history": history, "config": config,
            "initial": initial, "names": list(learner.names)}
    dev = getattr(learner, "device_state", lambda: None)()
    if dev:                  # pulsed devices: their arrays, and the scalars (RNG, clock) in meta
        arrays |= {f"dev_{k}": v for k, v in dev.items() if isinstance(v, np.ndarray)}
        meta["device"] = {k: (v.item() if isinstance(v, np.generic) else v)
                          for k, v in dev.items() if not isinstance(v, np.ndarray)}
    arrays["meta"] = np.array(results.dumps(meta))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_checkpoint(path):
    """(meta dict, {name: array}) of a checkpoint; its config has numbers restored."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k].copy() for k in z.files if k != "meta"}
    except Exception as exc:    # noqa: BLE001 -- a damaged zip fails in many ways (BadZipFile,
        # zlib.error, NotImplementedError for a flipped version field, ...): all mean "damaged"
        raise DataError(f"{path}: not a readable circuitlearn checkpoint (damaged or "
                        f"truncated: {type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: not a circuitlearn checkpoint (its meta is not a table)")
    for key, kind in (("epoch", int), ("sgd_epoch", int), ("sgd_step", int), ("rng", dict),
                      ("history", list), ("config", dict)):
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise DataError(f"{path}: not a circuitlearn checkpoint (meta {key!r} missing or "
                            f"not a{'n' if kind is int else ''} {kind.__name__})")
    if meta["epoch"] < 0 or meta["sgd_epoch"] < 0 or meta["sgd_step"] < 0:
        raise DataError(f"{path}: negative epoch or step counts in its meta")
    meta["config"] = results.decode_config(meta["config"])
    if "velocity" in arrays and "vel0" not in arrays:     # written before vel0.. (one array)
        arrays["vel0"] = arrays.pop("velocity")
    return meta, arrays


def _checkpoint_parameters(path, arrays, names, like):
    """The arrays ``names`` of a checkpoint, each checked against the shape of ``like``
    and for finiteness (a damaged or foreign checkpoint is a DataError, not a run)."""
    out = []
    for name, now in zip(names, like):
        if name not in arrays:
            raise DataError(f"{path}: no array {name!r} (has: {', '.join(sorted(arrays))})")
        a = arrays[name]
        if a.dtype.kind not in "fiu":
            raise DataError(f"{path}: {name} holds {a.dtype} values, not numbers")
        a = a.astype(np.float64)
        if a.shape != np.shape(now):
            raise DataError(f"{path}: {name} has shape {a.shape}, the network needs "
                            f"{np.shape(now)}")
        if not np.all(np.isfinite(a)):
            raise DataError(f"{path}: {name} holds non-finite values")
        out.append(a)
    return out


def resumed_config(saved: dict, overrides: dict, resumable, device: dict | None = None) -> dict:
    """The checkpoint's config with the compatible ``overrides`` applied; an override of
    a key not in ``resumable`` that differs from the checkpoint is refused (ConfigError),
    and so is any change of the ``[device]`` table (``device``: keys to set), whose state
    is in the checkpoint."""
    out = copy.deepcopy(saved)
    have = out.get("device", {})
    if device and {**have, **device} != have:
        raise ConfigError("cannot change [device] when resuming (the devices' state is in "
                          "the checkpoint); start a new --out instead", "command line",
                          "--device-set")
    for (sec, key), val in overrides.items():
        if out[sec][key] == val:
            continue
        if (sec, key) not in resumable:
            raise ConfigError(f"cannot change {sec}.{key} when resuming (checkpoint: "
                              f"{out[sec][key]!r}, given: {val!r}); start a new --out instead",
                              "command line", f"{sec}.{key}")
        out[sec][key] = val
    return out


# ------------------------------------------------------------------ JSON
def write_results(out_dir, config, initial, history, extra=None, title="", plot=True):
    """``results.json`` (atomically, strict JSON with its provenance: see
    :mod:`circuitlearn.results`) and, with ``plot``, ``curves.png``."""
    results.write_json(os.path.join(out_dir, "results.json"),
                       {"provenance": results.provenance(), "config": config,
                        "initial": initial, "epochs": history, **(extra or {})})
    if history and plot:
        plot_curves(initial, history, os.path.join(out_dir, "curves.png"), title)


def plot_curves(initial, history, path, title=""):
    """``curves.png`` of one run (:func:`circuitlearn.plots.curves`)."""
    from circuitlearn.plots import curves
    curves([("run", {"initial": initial, "epochs": history})], path, title or None)
