"""Learners: a device paired with its learning rule, in the form :func:`circuitlearn.learn.loop.fit` trains.

* :class:`NetlistLearner` -- a task over the user's own netlist
  (:mod:`circuitlearn.learn.task`) on a
  :class:`~circuitlearn.device.netlist_device.NetlistDevice`: EP or coupled
  learning (:mod:`circuitlearn.learn.rules`), one flat conductance vector;
* :class:`LayeredLearner` -- a layered DRN device
  (:class:`~circuitlearn.device.simulator.LayeredSimulator`, or
  :class:`~circuitlearn.device.simulator.CircuitDevice` on numba or ngspice)
  trained by EP (:mod:`circuitlearn.learn.ep`): per-layer weights and biases.

:func:`fit_task` runs a netlist task end to end (initialisation, optimiser, loop).
"""
from __future__ import annotations

import math

import numpy as np

from circuitlearn.errors import BackendError, TrainingError
from circuitlearn.learn import ep, forward_only, loop, optim, rules
from circuitlearn.learn.losses import Loss

#: keys of a netlist task a resumed run may change (the others must equal the checkpoint's)
TASK_RESUMABLE = {("train", "epochs"), ("optim", "lr"), ("optim", "decay"), ("train", "n_check"),
                  ("circuit", "backend")}


# ------------------------------------------------------------------ netlist tasks
def task_loss(cfg) -> rules.TaskLoss:
    a = cfg["algorithm"]
    return rules.TaskLoss(a["loss"], cfg["data"]["kind"], a["target_scale"], a["scale"])


def run_step(cfg, device, x, t, loss, rng) -> rules.StepResult:
    """One step of the task's rule (``algorithm.rule``) on a batch."""
    a = cfg["algorithm"]
    if a["rule"] == "coupled":
        return rules.coupled_step(device, x, t, loss, a["eta"])
    if a["rule"] == "exact":
        return rules.exact_step(device, x, t, loss)
    if a["rule"] == "weight-perturbation":
        c = cfg["circuit"]
        return rules.weight_perturbation_step(device, x, t, loss,
                                              a["perturbation"] * (c["g_max"] - c["g_min"]),
                                              a["samples"], rng, a["zo_estimator"])
    if a["rule"] == "node-perturbation":
        return rules.node_perturbation_step(device, x, t, loss, a["node_perturbation"],
                                            a["samples"], rng, a["zo_estimator"])
    if a["rule"] == "activation-relaxation":
        return forward_only.activation_relaxation_step(device, x, t, loss, a["beta"])
    if a["rule"] == "pepita":
        F = forward_only.feedback_matrix(device.input_index.size, device.n_outputs,
                                         a["feedback_scale"], cfg["train"]["seed"])
        return forward_only.pepita_step(device, x, t, loss, F)
    if a["rule"] == "forward-forward":
        return forward_only.forward_forward_step(device, x, t, loss, rng)
    return rules.ep_step(device, x, t, loss, ep.EPConfig(a["estimator"], a["nudging"], a["beta"]),
                         rng)


def evaluate_task(device, x, t, loss: rules.TaskLoss, batch_size: int = 256) -> dict:
    """Free-state metrics: mean loss, and ``error`` (classification) or ``mse``
    (regression, mean over samples and outputs of the squared error)."""
    return evaluate_outputs(lambda xb: device.readout(rules.free_state(device, xb)), x, t, loss,
                            batch_size)


def evaluate_outputs(forward, x, t, loss: rules.TaskLoss, batch_size: int = 256) -> dict:
    """:func:`evaluate_task`'s metrics of any ``forward(x_batch) -> y`` (read-out)."""
    tot, sq, wrong = 0.0, 0.0, 0
    for idx in loop.batches(len(x), batch_size):
        y = forward(x[idx])
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


class NetlistLearner:
    """A netlist task's device and rule (``cfg`` from :func:`~circuitlearn.learn.task.load_task`)."""
    names = ("g",)
    lrs = None

    @staticmethod
    def circuit_inputs(x):
        """What the circuit's inputs take for features ``x`` (here: ``x`` itself)."""
        return x

    def __init__(self, device, cfg: dict):
        self.device, self.cfg = device, cfg
        self.loss = task_loss(cfg)
        self.task = self.loss.task
        self.hint = "lower optim.lr" + (" or algorithm.beta" if cfg["algorithm"]["rule"] == "ep"
                                        else "")

    def parameters(self):
        return [self.device.conductances()]

    def set_parameters(self, arrays):
        self.device.set_conductances(arrays[0])

    def reset(self):
        pass

    def step(self, x, t, rng) -> loop.Step:
        res = run_step(self.cfg, self.device, x, t, self.loss, rng)
        wrong = int(np.sum(self.loss.predict(res.y) != t)) if self.task == "classification" \
            else None
        return loop.Step([res.grad], res.loss, wrong)

    def program(self, deltas):
        self.device.program(deltas[0])

    def evaluate(self, x, t) -> dict:
        with self.device.costs.paused():          # evaluation is not training cost
            if self.cfg["algorithm"]["rule"] == "forward-forward":
                # predicted by goodness with each class clamped; the loss is the softmax
                # cross-entropy of the goodness (V^2)
                return evaluate_outputs(
                    lambda xb: forward_only.predict_goodness_scores(self.device, xb, self.loss),
                    x, t, rules.TaskLoss("xent", "classification"))
            return evaluate_task(self.device, x, t, self.loss)

    @property
    def devices(self):
        return self.device.devices

    def device_state(self):
        """The device physics' state for the checkpoint (None without it)."""
        return None if self.devices is None else self.devices.state() or None

    def load_device_state(self, st):
        self.devices.load_state(st)
        if self.devices.programmer is not None:
            self.device.sync_programmer()

    def results_extra(self) -> dict:
        """What ``results.json`` adds: the pulses and stuck devices (with device physics)."""
        rep = None if self.devices is None else self.devices.report()
        return {} if rep is None else {"device": rep}


def task_learner(cfg, device, n_features: int):
    """The learner of a task: :class:`NetlistLearner`, or with ``[digital] front >= 1`` an
    ff-EBM (:class:`~circuitlearn.learn.ffebm.FFEBMLearner`: the digital layers, then the
    circuit trained by EP with current nudges or by the exact gradient)."""
    from circuitlearn.learn.task import digital_front
    n = digital_front(cfg)
    if not n:
        return NetlistLearner(device, cfg)
    from circuitlearn.learn import ffebm
    d, a = cfg["digital"], cfg["algorithm"]
    rng = np.random.default_rng([cfg["train"]["seed"], 1])      # the digital weights' init
    widths = [n_features] + [d["hidden"]] * (n - 1) + [device.input_index.size]
    blocks = [ffebm.Digital(widths[i], widths[i + 1], d["activation"],
                            d["scale"] if i == n - 1 else 1.0, rng) for i in range(n)]
    blocks.append(ffebm.Analog(device, ep.EPConfig(a["estimator"], "current", a["beta"])))
    learner = ffebm.FFEBMLearner(ffebm.Chain(blocks, task_loss(cfg)),
                                 "exact" if a["rule"] == "exact" else "ep")
    learner.lrs = (d["lr"],) * (2 * n) + (cfg["optim"]["lr"],)
    return learner


def fit_task(cfg, device, data, out_dir, resume=False, log=print, progress=False, on_epoch=None,
             learner=None):
    """Train a netlist task (``cfg``: :func:`~circuitlearn.learn.task.load_task`, ``device``:
    :func:`~circuitlearn.learn.task.build_device`, ``data``:
    :func:`~circuitlearn.learn.task.load_task_data`) into ``out_dir``; ``learner``: one made
    by :func:`task_learner` (made here when None)."""
    o, t, c = cfg["optim"], cfg["train"], cfg["circuit"]
    learner = learner or task_learner(cfg, device, data[0].shape[1])
    sgd = optim.SGDConfig(lrs=learner.lrs or (o["lr"],), momentum=o["momentum"],
                          decay=o["decay"])
    rng = np.random.default_rng(t["seed"])
    if not resume and c["init"] == "uniform":
        device.set_conductances(rng.uniform(c["g_min"], c["g_max"], device.n_trainable))
    title = f"{cfg.get('task_file', 'task')}: {cfg['algorithm']['rule']} on {device.backend}"
    if learner.names != NetlistLearner.names:
        title += " (ff-EBM)"
    return loop.fit(learner, data, sgd, rng, epochs=t["epochs"],
                    batch_size=t["batch_size"], out_dir=out_dir, config=cfg, resume=resume,
                    log=log, progress=progress, on_epoch=on_epoch, title=title)


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


# ------------------------------------------------------------------ layered DRNs
def check_output_conductance(device, beta: float) -> None:
    """Refuse a ``-beta`` conductance nudge that leaves an output of a layered device with
    less than ``STABILITY_MARGIN`` of its own conductance (the nudged state is then
    ill-conditioned: gradients of 1e10 were seen with ``sum g - beta`` barely positive)."""
    tot = device.conductances()[-1].sum(axis=0)
    bad = np.flatnonzero(tot - beta <= rules.STABILITY_MARGIN * tot)
    if bad.size:
        k = int(bad[0])
        raise TrainingError(
            f"unstable nudging: output o{k} has {tot[k]:.4g} S of conductance and the -beta "
            f"phase takes beta = {beta:.4g} S from it (need beta < "
            f"{1 - rules.STABILITY_MARGIN:.2g} x that); lower algorithm.beta, raise g_min, or "
            "use nudging = 'current'")


class LayeredLearner:
    """A layered DRN device trained by EP; parameters ``[W_1..W_L, b_1..b_L]``.

    ``eval_batch``: samples per free phase when evaluating."""
    task = "classification"
    hint = "lower the learning rate or beta"

    def __init__(self, device, loss: Loss, ep_cfg: ep.EPConfig, eval_batch: int = 500,
                 devices=None):
        # device physics (device.programming.Devices): its programmer holds every weight,
        # W_1..W_L row-major, starting where the device's conductances are; its reader
        # reads every layer's voltages (ReadThrough, any layered backend)
        self.devices = devices
        if devices is not None and devices.reader is not None:
            from circuitlearn.device.readout import ReadThrough
            device = ReadThrough(device, devices.reader, devices.read_rng)
        self.device, self.loss, self.ep_cfg, self.eval_batch = device, loss, ep_cfg, eval_batch
        self.programmer = None if devices is None else devices.programmer
        if self.programmer is not None:
            self._put(self.programmer.set(self._flat(device.conductances())))
        self.n_layers = len(device.sizes) - 1
        self.names = tuple(f"w{l}" for l in range(self.n_layers)) + \
            tuple(f"b{l}" for l in range(self.n_layers))
        self._negative = ep_cfg.nudging == "conductance" and ep_cfg.estimator != "one-sided"

    def parameters(self):
        return self.device.conductances() + self.device.biases()

    def set_parameters(self, arrays):
        self.device.set_parameters(*optim.split(list(arrays), self.n_layers))

    def reset(self):
        if hasattr(self.device, "reset_state"):
            self.device.reset_state()

    def step(self, x, t, rng) -> loop.Step:
        if self._negative:
            check_output_conductance(self.device, self.ep_cfg.beta)
        res = ep.ep_step(self.device, x, t, self.loss, self.ep_cfg, rng, warn=False)
        wrong = int(np.sum(self.loss.predict(res.free[-1]) != t))
        return loop.Step(res.grad_w + res.grad_b, res.loss, wrong, res.unstable)

    def program(self, deltas):
        if self.programmer is None:
            self.device.program(*optim.split(deltas, self.n_layers))
            return
        dw, db = optim.split(deltas, self.n_layers)
        g = self.programmer.program(self._flat(dw))
        self._put(g, [b + d for b, d in zip(self.device.biases(), db)])

    def _flat(self, ws):
        return np.concatenate([np.asarray(w, dtype=np.float64).ravel() for w in ws])

    def _put(self, g, biases=None):
        shapes = [w.shape for w in self.device.conductances()]
        cuts = np.cumsum([0] + [a * b for a, b in shapes])
        ws = [g[cuts[l]:cuts[l + 1]].reshape(shapes[l]) for l in range(len(shapes))]
        self.device.set_parameters(ws, biases)

    def device_state(self):
        return None if self.devices is None else self.devices.state() or None

    def load_device_state(self, st):
        self.devices.load_state(st)
        if self.programmer is not None:
            self._put(self.programmer.conductances())

    def results_extra(self) -> dict:
        rep = None if self.devices is None else self.devices.report()
        return {} if rep is None else {"device": rep}

    def predict(self, x) -> np.ndarray:
        """Predicted classes of ``x`` from the free state (in batches of ``eval_batch``)."""
        self.reset()
        out = [ep.predict(self.device, x[idx], self.loss)
               for idx in loop.batches(len(x), self.eval_batch)]
        self.reset()
        return np.concatenate(out)

    def evaluate(self, x, t) -> dict:
        """Free-state ``error`` (argmax of the read-out) and mean ``loss``."""
        self.reset()
        wrong, tot = 0, 0.0
        for idx in loop.batches(len(t), self.eval_batch):
            v_out = ep.free_phase(self.device, x[idx])[-1]
            lval, _ = self.loss(v_out, t[idx])
            tot += float(np.sum(lval))
            wrong += int(np.sum(self.loss.predict(v_out) != t[idx]))
        self.reset()
        out = {"loss": tot / len(t), "error": wrong / len(t)}
        if not math.isfinite(out["loss"]):
            raise TrainingError("evaluation gave a non-finite loss")
        return out
