#!/usr/bin/env bash
# Make Avalanche's own environment for the benchmark suite's peers (a large install:
# torch 2.14.1 + torchvision 0.29.1 + avalanche-lib 0.6.0, with their dependencies).
# It lives in .venv-avalanche/ (ignored by git), apart from riscmoe's environment.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-avalanche
.venv-avalanche/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1 avalanche-lib==0.6.0
.venv-avalanche/bin/python -c "import avalanche, torch; print('avalanche', avalanche.__version__, 'torch', torch.__version__)"
