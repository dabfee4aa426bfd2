#!/usr/bin/env bash
# Set up brainnet in ./.venv: PyTorch's CPU build first (torch==2.13.0; a plain
# `pip install torch` would pull a CUDA build of several GB), then brainnet
# with its test extras. Also installs Debian's Fashion-MNIST and fortunes, and Chromium with its
# driver (the tests render report.html in it), when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# A .venv that is a link belongs to another checkout (clones sharing one environment):
# installing into it would point its editable brainnet at this clone. Leave it as it
# is; train.sh and test.sh put this checkout's code first on PYTHONPATH.
if [ -L .venv ]; then
  if [ ! -f .venv/brainnet-env.sh ]; then
    echo "scripts/setup.sh: expected the linked environment $(readlink -f .venv) to be set up, got no" \
      "brainnet-env.sh in it. Fix: run scripts/setup.sh in the checkout it belongs to." >&2
    exit 1
  fi
  echo "scripts/setup.sh: .venv links to $(readlink -f .venv), another checkout's environment; left as it is." >&2
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# PYTHONWARNINGS=ignore: setuptools prints a notice box about editable installs in general
# at every install, which says nothing about brainnet.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet -e ".[test]"
# Debian's data packages: Fashion-MNIST, and the fortunes (English: fortunes,
# Chinese: fortunes-zh; texts for the character language model) in
# /usr/share/games/fortunes, whose wisdom and tang300 files tell they are there;
# and chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver), the
# headless browser tests/explain/test_report_browser.py renders report.html in.
if { [ ! -d /usr/share/datasets/fashion-mnist ] || [ ! -f /usr/share/games/fortunes/wisdom ] \
    || [ ! -f /usr/share/games/fortunes/tang300 ] || [ ! -x /usr/bin/chromium ] \
    || [ ! -x /usr/bin/chromedriver ]; } \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist fortunes fortunes-zh \
    chromium chromium-driver >/dev/null
fi
# Real MNIST: ../shared/datasets/mnist when it is there (never copied into the repo).
if [ -z "${BRAINNET_DATA_DIR:-}" ] && [ -d ../shared/datasets/mnist ]; then
  echo "export BRAINNET_DATA_DIR=$(cd ../shared/datasets && pwd)" > .venv/brainnet-env.sh
else
  : > .venv/brainnet-env.sh
fi
