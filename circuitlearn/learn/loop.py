"""The training loop for a netlist task: epochs, evaluation, checkpoints, resume, divergence.

:func:`fit` trains a :class:`~circuitlearn.device.netlist_device.NetlistDevice`
by the task's rule (:mod:`circuitlearn.learn.rules`) and writes into ``out``:

* ``checkpoint.npz`` after every epoch (conductances, optimiser velocity, RNG
  state, epoch, history, config): ``resume=True`` continues from it and gives
  bit-identical results to an uninterrupted run;
* ``results.json`` (config, per-epoch train/test loss, error or MSE, seconds)
  and ``curves.png``.

Divergence stops the run with :class:`~circuitlearn.errors.TrainingError`
(non-finite or exploding loss, non-finite gradient, unstable ``-beta``
nudging); the checkpoint of the last good epoch is left as it was.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time

import numpy as np

from circuitlearn.errors import BackendError, ConfigError, DataError, TrainingError
from circuitlearn.learn import optim, rules
from circuitlearn.learn.ep import EPConfig
from circuitlearn.learn.train import batches

#: a batch loss above this multiple of the first epoch's mean loss counts as diverged
EXPLODE_FACTOR = 1e4
#: keys a resumed run may change (the others must equal the checkpoint's)
RESUMABLE = {("train", "epochs"), ("optim", "lr"), ("optim", "decay"), ("train", "n_check"),
             ("circuit", "backend")}


def task_loss(cfg) -> rules.TaskLoss:
    a = cfg["algorithm"]
    return rules.TaskLoss(a["loss"], cfg["data"]["kind"], a["target_scale"], a["scale"])


def run_step(cfg, device, x, t, loss, rng) -> rules.StepResult:
    """One step of the task's rule (``algorithm.rule``) on a batch."""
    a = cfg["algorithm"]
    if a["rule"] == "coupled":
        return rules.coupled_step(device, x, t, loss, a["eta"])
    return rules.ep_step(device, x, t, loss, EPConfig(a["estimator"], a["nudging"], a["beta"]), rng)


def evaluate(device, x, t, loss: rules.TaskLoss, batch_size: int = 256) -> dict:
    """Free-state metrics: mean loss, and ``error`` (classification) or ``mse``
    (regression, mean over samples and outputs of the squared error)."""
    tot, sq, wrong = 0.0, 0.0, 0
    for idx in batches(len(x), batch_size):
        y = device.readout(rules.free_state(device, x[idx]))
        lval, _ = loss(y, t[idx])
        tot += float(np.sum(lval))
        if loss.task == "classification":
            wrong += int(np.sum(loss.predict(y) != t[idx]))
        else:
            sq += float(np.sum((y - t[idx]) ** 2))
    out = {"loss": tot / len(x)}
    if loss.task == "classification":
        out["error"] = wrong / len(x)
    else:
        out["mse"] = sq / (len(x) * t.shape[1])
    if not all(math.isfinite(v) for v in out.values()):
        raise TrainingError("evaluation gave a non-finite loss")
    return out


def _save(path, device, state, rng, epoch, history, cfg, initial):
    arrays = {"g": device.conductances()}
    if state.velocity is not None:
        arrays["velocity"] = state.velocity[0]
    meta = {"epoch": epoch, "sgd_epoch": state.epoch, "sgd_step": state.step,
            "rng": rng.bit_generator.state, "history": history, "config": cfg,
            "initial": initial}
    arrays["meta"] = np.array(json.dumps(meta, default=json_default))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(type(o))


def load_checkpoint(path):
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            g = z["g"].copy()
            vel = z["velocity"].copy() if "velocity" in z.files else None
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable circuitlearn checkpoint ({exc})") from None
    return meta, g, vel


def resumed_config(saved: dict, overrides: dict, resumable=RESUMABLE) -> dict:
    """The checkpoint's config with the compatible ``overrides`` applied; an override of
    a key not in ``resumable`` that differs from the checkpoint is refused (ConfigError)."""
    out = copy.deepcopy(saved)
    for (sec, key), val in overrides.items():
        if out[sec][key] == val:
            continue
        if (sec, key) not in resumable:
            raise ConfigError(f"cannot change {sec}.{key} when resuming (checkpoint: "
                              f"{out[sec][key]!r}, given: {val!r}); start a new --out instead",
                              "command line", f"{sec}.{key}")
        out[sec][key] = val
    return out


def fit(device, data, cfg, out_dir, resume=False, log=print, progress=False):
    """Train per ``cfg`` (:func:`circuitlearn.learn.task.load_task`); returns the results dict."""
    x_tr, t_tr, x_te, t_te = data
    os.makedirs(out_dir, exist_ok=True)
    ckpt = os.path.join(out_dir, "checkpoint.npz")
    loss = task_loss(cfg)
    t = cfg["train"]
    o = cfg["optim"]
    sgd = optim.SGDConfig(lrs=(o["lr"],), momentum=o["momentum"], decay=o["decay"])
    rng = np.random.default_rng(t["seed"])
    if resume:
        if not os.path.exists(ckpt):
            raise ConfigError(f"no checkpoint to resume from ({ckpt})", None, "--resume")
        meta, g, vel = load_checkpoint(ckpt)
        device.set_conductances(g)
        state = optim.SGDState(meta["sgd_epoch"], meta["sgd_step"],
                               (vel,) if vel is not None else None)
        if sgd.momentum and state.velocity is None:
            state = optim.SGDState(state.epoch, state.step, (np.zeros_like(g),))
        rng.bit_generator.state = meta["rng"]
        history, start = meta["history"], meta["epoch"]
        initial = meta["initial"]
    else:
        if cfg["circuit"]["init"] == "uniform":
            c = cfg["circuit"]
            device.set_conductances(rng.uniform(c["g_min"], c["g_max"], device.n_trainable))
        state = optim.sgd_init(sgd, [device.conductances()])
        history, start = [], 0
        initial = {"train": evaluate(device, x_tr, t_tr, loss), "test": evaluate(device, x_te, t_te, loss)}
        log("before training: " + _describe(initial["test"]))
    ref = max(initial["train"]["loss"], 1e-300)
    for epoch in range(start, t["epochs"]):
        t0 = time.perf_counter()
        tot, seen = 0.0, 0
        bar = None
        if progress:
            from tqdm import tqdm
            import sys
            bar = tqdm(total=len(x_tr), desc=f"epoch {epoch + 1}/{t['epochs']}", unit="sample",
                       leave=False, file=sys.stderr, mininterval=0.5)
        for idx in batches(len(x_tr), t["batch_size"], rng):
            try:
                res = run_step(cfg, device, x_tr[idx], t_tr[idx], loss, rng)
            except (BackendError, FloatingPointError) as exc:
                raise TrainingError(f"epoch {epoch + 1}: {exc}. The last good checkpoint "
                                    f"({_last_good(epoch)}) is {ckpt}") from None
            lsum = float(np.sum(res.loss))
            if not math.isfinite(lsum) or lsum / len(idx) > EXPLODE_FACTOR * ref:
                raise TrainingError(
                    f"epoch {epoch + 1}: the training loss diverged ({lsum / len(idx):.4g} per "
                    f"sample, {ref:.4g} before training); lower optim.lr"
                    + ("" if cfg["algorithm"]["rule"] != "ep" else " or algorithm.beta")
                    + f". The last good checkpoint ({_last_good(epoch)}) is {ckpt}")
            if not np.all(np.isfinite(res.grad)):
                raise TrainingError(f"epoch {epoch + 1}: non-finite gradient estimate; the "
                                    f"last good checkpoint ({_last_good(epoch)}) is {ckpt}")
            deltas, state = optim.sgd_update(sgd, state, [res.grad], consume=True)
            device.program(deltas[0])
            tot += lsum
            seen += len(idx)
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        state = optim.next_epoch(state)
        seconds = time.perf_counter() - t0
        test = evaluate(device, x_te, t_te, loss)
        rec = {"epoch": epoch + 1, "train_loss": tot / seen, "seconds": seconds,
               **{f"test_{k}": v for k, v in test.items()}}
        history.append(rec)
        log(f"epoch {epoch + 1}: train loss {rec['train_loss']:.4g} | test "
            f"{_describe(test)} | {seconds:.2f} s")
        _save(ckpt, device, state, rng, epoch + 1, history, cfg, initial)
        _write_results(out_dir, cfg, initial, history)
    _write_results(out_dir, cfg, initial, history)
    return {"config": cfg, "initial": initial, "epochs": history}


def _last_good(epoch):
    return f"epoch {epoch}" if epoch else "none written yet"


def _describe(m):
    return (f"error {100 * m['error']:.2f}%" if "error" in m else f"MSE {m['mse']:.4g}") + \
        f", loss {m['loss']:.4g}"


def strict_json(o):
    """``o`` with infinite floats written as "inf"/"-inf" (strict JSON)."""
    if isinstance(o, dict):
        return {k: strict_json(v) for k, v in o.items()}
    if isinstance(o, list):
        return [strict_json(v) for v in o]
    if isinstance(o, float) and math.isinf(o):
        return "inf" if o > 0 else "-inf"
    return o


def _write_results(out_dir, cfg, initial, history):
    res = strict_json({"config": cfg, "initial": initial, "epochs": history})
    with open(os.path.join(out_dir, "results.json"), "w") as fh:
        json.dump(res, fh, indent=1, default=json_default, allow_nan=False)
    if history:
        plot_task_curves(initial, history, os.path.join(out_dir, "curves.png"))


def plot_task_curves(initial, history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    key = "test_error" if "test_error" in history[0] else "test_mse"
    first = initial["test"]["error" if key == "test_error" else "mse"]
    ep = [0] + [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].plot(ep, [first] + [h[key] for h in history], "o-")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel(key.replace("_", " "))
    if key == "test_mse":
        ax[0].set_yscale("log")
    ax[1].plot(ep[1:], [h["train_loss"] for h in history], "o-", label="train")
    ax[1].plot(ep, [initial["test"]["loss"]] + [h["test_loss"] for h in history], "s-",
               label="test")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("loss")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def ngspice_check(device, x, n: int) -> dict:
    """Re-solve ``n`` samples of ``x`` on the trained deck in real ngspice.

    ngspice runs the deck's ``.model`` cards (it has no ideal diode), so two gaps are
    reported: ``max_abs_dy_same_model`` -- ngspice vs circuitlearn's Shockley solver on
    the same deck (the simulator's accuracy) -- and ``max_abs_dy`` / ``agree_argmax`` --
    ngspice vs the model the network was trained with (the model gap; equal to the
    first when training used Shockley diodes)."""
    from circuitlearn.solve import solve
    n = min(n, len(x))
    if n == 0:
        return {"checked": 0}
    c = device.trained_circuit()
    S = device.source_vectors(x[:n])
    try:
        spice = solve(c, S, diodes="shockley", backend="ngspice")
    except BackendError as exc:
        return {"error": str(exc)}
    ys = device.readout(spice.voltages)
    yk = device.readout(solve(c, S, diodes="shockley").voltages)
    yo = yk if device.diodes == "shockley" else device.readout(solve(c, S, diodes="ideal").voltages)
    return {"checked": n, "max_abs_dy_same_model": float(np.max(np.abs(ys - yk))),
            "max_abs_dy": float(np.max(np.abs(ys - yo))),
            "agree_argmax": int(np.sum(np.argmax(ys, 1) == np.argmax(yo, 1))),
            "trained_diodes": device.diodes}
