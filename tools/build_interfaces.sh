#!/usr/bin/env bash
# Generate ROS 2 interface packages into the active venv (no ROS distro needed).
# usage: tools/build_interfaces.sh PKG_DIR [PKG_DIR...]
set -euo pipefail
venv=${VIRTUAL_ENV:?activate the venv first}
export AMENT_PREFIX_PATH=$venv
py_include=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
np_include=$("$venv/bin/python" -c "import numpy; print(numpy.get_include())")
# The ROS wheels export CMake targets that point at their build container's Python; repoint them here.
grep -rlZE '/opt/python/cp3[0-9]+-cp3[0-9]+/' "$venv/share" --include='*.cmake' | xargs -0 -r sed -i -E \
  -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$py_include#g" \
  -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$np_include#g" || true
build_root=${BUILD_DIR:-build/interfaces}
mkdir -p "$build_root"
for pkg in "$@"; do
  name=$(basename "$pkg")
  log="$build_root/$name.log"
  echo "building interfaces: $name (log: $log)"
  if ! { cmake -S "$pkg" -B "$build_root/$name" -G Ninja -DCMAKE_PREFIX_PATH="$venv" \
          -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF \
        && cmake --build "$build_root/$name" --target install -j2; } > "$log" 2>&1; then
    tail -30 "$log" >&2
    echo "interface build failed for $name; full log in $log" >&2
    exit 1
  fi
done
