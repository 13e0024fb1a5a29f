#!/usr/bin/env bash
# `make wheelhouse`: the Python packages the model and the device check need beyond torch and numpy
# (diffusers, transformers, safetensors, tokenizers, huggingface-hub and what they require), as
# wheels in wheelhouse/ (git-ignored), at the versions of .venv, for x86_64 Linux CPython
# $WHEELHOUSE_PYTHONS. tools/device_check.sh installs from it on a machine without network access.
# Fails when the folder exceeds $WHEELHOUSE_MAX_MIB: everything carried to a GPU machine must be small.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=wheelhouse
pythons=${WHEELHOUSE_PYTHONS:-3.11 3.12}
max_mib=${WHEELHOUSE_MAX_MIB:-60}
rm -rf "$dest" && mkdir -p "$dest"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CACHE_DIR="$PWD/.cache/pip"
# name==version for the closure, from the venv's own metadata (torch, numpy and torch's own
# requirements excluded: the GPU machine brings them).
.venv/bin/python tools/wheelhouse_closure.py > "$dest/pins.txt"
sed 's/==.*//' "$dest/pins.txt" | grep -xiE 'diffusers|transformers|safetensors|tokenizers|huggingface[-_]hub' \
  > "$dest/requirements.txt"
while read -r pin; do
  name=${pin%%==*} version=${pin#*==}
  specs=("$pin" "$name<=$version")
  [ "$name" = "$pin" ] && specs=("$name")
  for py in $pythons; do
    # The venv's version where it has a wheel for this Python, else the newest older one that does.
    for spec in "${specs[@]}"; do
      if .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --dest "$dest" \
           --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform any \
           --implementation cp --python-version "$py" "$spec" 2>/dev/null; then
        break
      fi
      [ "$spec" = "${specs[-1]}" ] && echo "wheelhouse: no wheel of $name for CPython $py" >&2
    done
  done
done < "$dest/pins.txt"
size_kib=$(du -sk "$dest" | cut -f1)
echo "wheelhouse: $(ls "$dest"/*.whl | wc -l) wheels, $((size_kib / 1024)) MiB (limit $max_mib MiB), Pythons $pythons"
if [ "$size_kib" -gt $((max_mib * 1024)) ]; then
  echo "wheelhouse: larger than $max_mib MiB" >&2
  exit 1
fi
