#!/usr/bin/env bash
# Runs notebooks top to bottom in quick mode (as CI does) and saves the outputs
# in place, keeping execution counts, so nbval can compare the marked cells.
# A notebook whose metadata holds {"freezelab": {"saved_figures": "jpeg"}} is run
# with an IPython startup file that saves its figures as small JPEGs (80 dpi), to
# keep a picture-heavy saved notebook light; learners running it get PNGs.
# Usage: tools/execute_notebook.sh notebooks/01_what_freezing_does.ipynb [...]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
for nb in "$@"; do
  ipython_dir=""
  if "$here/.venv/bin/python" -c 'import json, sys
meta = json.load(open(sys.argv[1], encoding="utf-8")).get("metadata", {})
sys.exit(0 if meta.get("freezelab", {}).get("saved_figures") == "jpeg" else 1)' "$nb"; then
    ipython_dir="$(mktemp -d)"
    mkdir -p "$ipython_dir/profile_default/startup"
    cat >"$ipython_dir/profile_default/startup/00-jpeg-figures.py" <<'PY'
import matplotlib.pyplot as plt
from matplotlib_inline.backend_inline import set_matplotlib_formats

set_matplotlib_formats("jpeg")
plt.rcParams["figure.dpi"] = 80
PY
  fi
  env ${ipython_dir:+IPYTHONDIR="$ipython_dir"} \
    FREEZELAB_QUICK=1 TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=module://matplotlib_inline.backend_inline \
    "$here/.venv/bin/jupyter" nbconvert --to notebook --execute --inplace \
    --ExecutePreprocessor.timeout=900 --ExecutePreprocessor.kernel_name=python3 "$nb"
  if [ -n "$ipython_dir" ]; then rm -rf "$ipython_dir"; fi
done
