#!/usr/bin/env bash
# GPU check for a lent machine: full-size DF415 configuration with random weights on one CUDA GPU, < 8 minutes.
# Prints the tables and writes them as Markdown (default gpu_check.md). Never run by CI; see bench/gpu_check.py.
#   bench/gpu_check.sh [--output gpu_check.md] [--steps 3]
#   bench/gpu_check.sh --smoke          # CPU, tiny sizes: every code path in seconds
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
# 480 s: the check is sized to finish well inside 8 minutes; a hang ends as a timeout (status 124), not a stall.
exec timeout 480 "$PYTHON" bench/gpu_check.py "$@"
