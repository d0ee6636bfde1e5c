#!/usr/bin/env bash
# Runs notebooks top to bottom in quick mode (as CI does) and saves the outputs
# in place, keeping execution counts, so nbval can compare the marked cells.
# Usage: tools/execute_notebook.sh notebooks/01_what_freezing_does.ipynb [...]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
for nb in "$@"; do
  FREEZELAB_QUICK=1 TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=module://matplotlib_inline.backend_inline \
    "$here/.venv/bin/jupyter" nbconvert --to notebook --execute --inplace \
    --ExecutePreprocessor.timeout=900 --ExecutePreprocessor.kernel_name=python3 "$nb"
done
