#!/usr/bin/env bash
# Create or refresh the project venv (.venv). Skips all work when nothing it depends on changed.
# Everything installed comes from package registries; nothing is cached outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp=$venv/.deps-stamp
inputs=(requirements-torch.txt requirements.txt requirements-python.txt requirements-fleet.txt setup.py setup.cfg tools/ensure_venv.sh tools/build_interfaces.sh
        msg/*.msg interfaces/*/CMakeLists.txt interfaces/*/package.xml interfaces/*/msg/*.msg)
want=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "== setting up $venv (first run, or its requirements changed) =="
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CACHE_DIR="$PWD/.cache/pip"
pip="$venv/bin/python -m pip"
# torch alone first: with it in place no other package can pull a different (CUDA, multi-GB) build here.
$pip install -q -r requirements-torch.txt
$pip install -q -r requirements.txt
# Interfaces: our msg/ always; tf2_msgs only where no ROS distro provides it.
pkgs=(interfaces/depthmaster_interfaces)
if ! "$venv/bin/python" -c "import tf2_msgs.msg" 2>/dev/null; then pkgs=(interfaces/tf2_msgs "${pkgs[@]}"); fi
VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH" tools/build_interfaces.sh "${pkgs[@]}"
$pip install -q --no-deps -e .
echo "$want" > "$stamp"
echo "== $venv ready =="
