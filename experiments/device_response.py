"""Pulse response of a programmable-device model: ``pulses`` up-pulses, then as many down.

    python experiments/device_response.py --model soft-bounds --dw-min 0.01 \
        --dw-min-std 0.3 --up-down 0.0 --w-min -1 --w-max 1 --devices 1000 \
        --pulses 200 --out resp.json

Every parameter of :class:`circuitlearn.device.physics.PulseModel` is a flag (aihwkit's
names, ``_`` written ``-``); ``--piecewise-csv FILE`` reads a measured response (columns
``up``, ``down``) for ``--model piecewise-step``.  The last stdout line is one JSON object
with ``mean`` and ``std`` (one value per pulse) of the weight over the devices, also
written to ``--out``.

``--reference aihwkit`` runs aihwkit's own device with the same parameters in the same run
(``aihwkit.utils.visualization.compute_pulse_response`` on a tile of ``--devices``
devices) and records both responses and their largest difference in the mean.  aihwkit is
not a dependency (and has no wheel for this machine, so that path was not run here).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from circuitlearn.device.physics import MODELS, PulseModel, piecewise_from_csv, pulse_response  # noqa: E402
from circuitlearn.errors import CircuitLearnError  # noqa: E402
from circuitlearn.results import provenance, write_json  # noqa: E402

#: aihwkit device class for each model (the parameters share names)
AIHWKIT_CLASSES = {"constant-step": "ConstantStepDevice", "linear-step": "LinearStepDevice",
                   "soft-bounds": "SoftBoundsDevice", "exp-step": "ExpStepDevice",
                   "pow-step": "PowStepDevice", "piecewise-step": "PiecewiseStepDevice"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=MODELS, default="soft-bounds")
    for f in dataclasses.fields(PulseModel):
        if f.name in ("model", "piecewise_up", "piecewise_down"):
            continue
        kind = int if f.name == "levels" else float
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=None)
    p.add_argument("--piecewise-csv", help="measured response: CSV with columns up, down")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--pulses", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON file to write")
    p.add_argument("--reference", choices=["aihwkit"], help="run aihwkit's device beside ours")
    return p.parse_args(argv)


def model_of(args) -> PulseModel:
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(PulseModel)
          if getattr(args, f.name, None) is not None}
    kw["model"] = args.model
    if args.piecewise_csv:
        kw["piecewise_up"], kw["piecewise_down"] = piecewise_from_csv(args.piecewise_csv)
    return PulseModel(**kw)


def aihwkit_response(model: PulseModel, devices: int, pulses: int) -> dict:
    """The same experiment on aihwkit's own device (its pulse-response utility)."""
    from aihwkit.simulator.configs import SingleRPUConfig, devices as adev
    from aihwkit.utils.visualization import compute_pulse_response, get_tile_for_plotting
    cls = getattr(adev, AIHWKIT_CLASSES[model.model])
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {k: v for k, v in dataclasses.asdict(model).items() if k in names}
    tile = get_tile_for_plotting(SingleRPUConfig(device=cls(**kw)), devices)
    direction = np.concatenate([np.ones(pulses), -np.ones(pulses)])
    w = np.asarray(compute_pulse_response(tile, direction)).reshape(2 * pulses, -1)
    return {"mean": w.mean(axis=1).tolist(), "std": w.std(axis=1).tolist(),
            "parameters_used": sorted(kw)}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.devices < 1 or args.pulses < 1:
            raise CircuitLearnError("--devices and --pulses must be >= 1")
        model = model_of(args)
        t0 = time.perf_counter()
        out = pulse_response(model, args.devices, args.pulses, args.seed)
        out.update(model=dataclasses.asdict(model), devices=args.devices, pulses=args.pulses,
                   seed=args.seed, seconds=time.perf_counter() - t0)
        if args.reference == "aihwkit":
            try:
                ref = aihwkit_response(model, args.devices, args.pulses)
            except ImportError as exc:
                raise CircuitLearnError(f"--reference aihwkit: aihwkit is not importable "
                                        f"({exc}); install it beside circuitlearn") from None
            out["reference"] = ref
            out["max_mean_difference"] = float(np.max(np.abs(np.subtract(out["mean"],
                                                                         ref["mean"]))))
        if args.out:
            write_json(args.out, out | {"provenance": provenance()})
    except CircuitLearnError as exc:
        print(f"device_response: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"device_response: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    print(json.dumps({"mean": out["mean"], "std": out["std"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
