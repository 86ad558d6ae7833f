#!/usr/bin/env bash
# CI: the package as a user installs it. Builds the wheel, installs it (not editable)
# into a fresh virtual environment, and from a directory outside the checkout runs the
# README's job (demo), check of a bundled deck, a deck of the user's that includes a
# bundled model library by name, and short trainings from bundled configs (a DRN config
# and a netlist task with its deck and data), a sweep on a LocalCluster and its plots.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 -m pip wheel -q --disable-pip-version-check --no-deps -w "$WORK/dist" .
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check "$WORK"/dist/circuitlearn-*.whl
CL="$WORK/venv/bin/circuitlearn"
mkdir "$WORK/elsewhere"
cd "$WORK/elsewhere"
set -x
"$CL" --version
"$WORK/venv/bin/python" -c "import circuitlearn, sys; assert 'site-packages' in circuitlearn.__file__, circuitlearn.__file__"
"$CL" check netlists/bridge.cir
"$CL" check zener_regulator.cir
printf 'clipper of mine\n.include diodes.lib\nV1 in 0 5\nR1 in out 1k\nD1 out 0 d1n4148\n.end\n' > mine.cir
"$CL" check mine.cir
"$CL" demo --epochs 2 --out demo_run | tail -1
"$CL" train --config experiments/configs/digits.toml --epochs 1 --n-train 200 --n-test 100 \
    --no-progress --out digits_run | tail -1
"$CL" train --config crossbar_regression.toml --epochs 1 --no-progress --out xbar_run | tail -1
printf 'base = "crossbar_regression"\nseeds = [0, 1]\n[grid]\n"optim.lr" = [1e-6, 2e-6]\n"train.epochs" = [1]\n"train.n_check" = [0]\n' > sweep.toml
"$CL" sweep sweep.toml --out sweep_run --workers 2 --no-progress | tail -1
"$CL" plot sweep_run --no-voltages | tail -1
test -s demo_run/demo.json && test -s digits_run/results.json && test -s xbar_run/trained.cir
test -s sweep_run/table.csv && test -s sweep_run/curves_regression.png
set +x
echo "wheel check: OK"
