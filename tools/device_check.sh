#!/usr/bin/env bash
# The device check in one command (docs/device_check.md). On a bare GPU machine (Python and torch,
# no network): a venv that sees the system torch, our dependencies from wheelhouse/ only, then
# tools/device_check.py (correctness, then speed; at most
# 6 minutes). Here, `tools/device_check.sh --device cpu --tiny` runs the same script in .venv.
# Options go to tools/device_check.py; DEVICE_CHECK_OUT (default device_check_out) is where the
# JSON and the table are written.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEVICE_CHECK_OUT:-device_check_out}
if [ -x .venv/bin/python ] && .venv/bin/python -c "import diffusers, transformers, torch" 2>/dev/null; then
  python=.venv/bin/python
else
  [ -d wheelhouse ] || { echo "device check: no .venv and no wheelhouse/ (run 'make wheelhouse' where there is a network)" >&2; exit 2; }
  base=${PYTHON:-python3}
  "$base" -c "import torch" || { echo "device check: $base has no torch" >&2; exit 2; }
  venv=${DEVICE_CHECK_VENV:-.device_check_venv}
  start=$(date +%s)
  [ -x "$venv/bin/python" ] || "$base" -m venv --system-site-packages "$venv"
  python=$venv/bin/python
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INDEX=1
  # Only what the model and the check need; the system's numpy and torch are kept when present.
  "$python" -m pip install -q --no-index --find-links wheelhouse -r wheelhouse/requirements.txt
  # The project itself is imported from this checkout (device_check.py puts it on sys.path): no
  # install, so no build backend is needed on the bare machine.
  echo "device check: environment ready in $(( $(date +%s) - start )) s ($("$python" -c 'import torch; print("torch", torch.__version__)'))"
fi
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PWD/.cache/torchinductor}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$python" tools/device_check.py --out "$out" "$@"
