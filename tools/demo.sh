#!/bin/bash
# usage: tools/demo.sh [BAG] [MODEL]          (what `make demo BAG=... MODEL=...` runs, with the venv ready)
#
# Processes BAG (default: the synthetic sample, written first if absent) with `depthmaster-ros bag` and
# writes into $DEMO_OUT (default demo_out/): depth.mcap (outputs + copied inputs, zstd-compressed,
# replays alone), contact_sheet.png (input | metric depth | error vs ground truth) and summary.json
# (AbsRel/delta1 vs GT, and which weights ran).
#
# MODEL: a hub repo id or a local directory; default the official zysong212/DepthMaster weights.
# A hub id not yet in the cache is downloaded (several GB, with a progress bar) into HF_HOME, by
# default .cache/huggingface inside the repository; short timeouts keep a machine without network
# from waiting. HF_HUB_OFFLINE=1 never tries the hub. When the weights cannot be loaded, the demo
# says so in a loud banner and runs the same pipeline with a tiny random-weight model instead,
# labelling every output as meaningless depth. The bag tool itself never does that: only this demo
# falls back.
#
# Environment: DEMO_OUT, DEMO_FRAMES / DEMO_WIDTH / DEMO_HEIGHT (the sample: 100 frames, 640x480),
# DEMO_PARAMS (default config/depthmaster.yaml), PYTHON (default .venv/bin/python),
# DEMO_EVERY / DEMO_PROCESSING_RES (override the frame step and model resolution).
set -euo pipefail

OUT_DIR="${DEMO_OUT:-demo_out}"
DEFAULT_BAG="$OUT_DIR/sample.mcap"
BAG="${1:-}"
BAG="${BAG:-$DEFAULT_BAG}"
MODEL="${2:-}"
MODEL="${MODEL:-zysong212/DepthMaster}"
PYTHON="${PYTHON:-.venv/bin/python}"
PARAMS="${DEMO_PARAMS:-config/depthmaster.yaml}"
FALLBACK_LABEL="random weights — depth meaningless, pipeline only"
EXIT_MODEL_LOAD=3

# The hub is tried unless HF_HUB_OFFLINE=1; without network it must fail fast, never hang.
export HF_HOME="${HF_HOME:-$PWD/.cache/huggingface}"
export HF_HUB_ETAG_TIMEOUT="${HF_HUB_ETAG_TIMEOUT:-10}"
export HF_HUB_DOWNLOAD_TIMEOUT="${HF_HUB_DOWNLOAD_TIMEOUT:-30}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"

cli() { "$PYTHON" -m depthmaster_ros.cli "$@"; }

hub_offline() {
  case "$(printf '%s' "${HF_HUB_OFFLINE:-}" | tr '[:upper:]' '[:lower:]')" in 1|true|yes|on) return 0 ;; esac
  return 1
}

banner() {
  local line="################################################################################"
  printf '\n%s\n%s\n' "$line" "$line" >&2
  for text in "$@"; do printf '###  %s\n' "$text" >&2; done
  printf '%s\n%s\n\n' "$line" "$line" >&2
}

mkdir -p "$OUT_DIR"
if [ ! -e "$BAG" ]; then
  if [ "$BAG" != "$DEFAULT_BAG" ]; then
    echo "demo: BAG=$BAG does not exist" >&2
    exit 2
  fi
  echo "demo: writing the synthetic sample bag $BAG (${DEMO_FRAMES:-100} frames)"
  cli make-sample "$BAG" --frames "${DEMO_FRAMES:-100}" --width "${DEMO_WIDTH:-640}" --height "${DEMO_HEIGHT:-480}"
fi
if [ ! -f "$PARAMS" ]; then
  echo "demo: parameters file $PARAMS not found (run from the repository root)" >&2
  exit 2
fi

DEVICE="$("$PYTHON" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"

run_bag() {   # run_bag MODEL EVERY PROCESSING_RES [extra args...]
  local model="$1" every="$2" res="$3"
  shift 3
  cli bag "$BAG" "$OUT_DIR/depth.mcap" --force --copy-input --params "$PARAMS" --model "$model" \
    --every "$every" --processing-res "$res" \
    --summary "$OUT_DIR/summary.json" --contact-sheet "$OUT_DIR/contact_sheet.png" "$@"
}

# The full-size model on a CPU takes tens of seconds a frame: a shorter, coarser run keeps the demo short.
if [ "$DEVICE" = cuda ]; then every="${DEMO_EVERY:-1}"; res="${DEMO_PROCESSING_RES:-768}"
else every="${DEMO_EVERY:-10}"; res="${DEMO_PROCESSING_RES:-384}"; fi
echo "demo: model $MODEL on $DEVICE, every ${every}th frame at processing_res $res"
if [ ! -e "$MODEL" ]; then
  if hub_offline; then
    echo "demo: HF_HUB_OFFLINE=$HF_HUB_OFFLINE: $MODEL only from the local cache in $HF_HOME"
  else
    echo "demo: fetching $MODEL from the hub into $HF_HOME unless it is cached there" \
         "(progress below; HF_HUB_OFFLINE=1 skips the hub)"
  fi
fi

set +e
run_bag "$MODEL" "$every" "$res"
rc=$?
set -e

if [ "$rc" -eq "$EXIT_MODEL_LOAD" ]; then
  if [ -e "$MODEL" ]; then why="the directory $MODEL is not a usable checkpoint"
  elif hub_offline; then why="HF_HUB_OFFLINE=$HF_HUB_OFFLINE and they are not in the cache $HF_HOME"
  else why="the hub could not be reached or the download failed, and they are not in the cache $HF_HOME"; fi
  banner "THE DEPTHMASTER WEIGHTS ($MODEL) COULD NOT BE LOADED (see the error above):" \
         "$why." \
         "Running the same pipeline with a TINY RANDOM-WEIGHT model instead:" \
         "$FALLBACK_LABEL." \
         "Alignment is fixed (scale 1, shift 0.3): a LiDAR fit to random output is rightly rejected." \
         "For real depth: run 'make demo' again where the hub can be reached (without HF_HUB_OFFLINE=1)," \
         "it downloads into $HF_HOME; or pass MODEL=/path/to/DepthMaster."
  TINY="$OUT_DIR/tiny_model"
  if [ ! -f "$TINY/model_index.json" ] || [ ! -f "$TINY/RANDOM_WEIGHTS.txt" ]; then
    cli make-tiny-model "$TINY"
  fi
  # The tiny model is cheap at a small processing resolution; one torch thread avoids the slowdown of
  # two threads spinning against other work on a small machine.
  set +e
  OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" run_bag "$TINY" "${DEMO_EVERY:-1}" "${DEMO_PROCESSING_RES:-128}" \
    --label "$FALLBACK_LABEL" -p alignment_mode=fixed -p fixed_scale=1.0 -p fixed_shift=0.3
  rc=$?
  set -e
  banner "DEMO RAN WITH RANDOM WEIGHTS: $FALLBACK_LABEL."
fi
if [ "$rc" -ne 0 ]; then
  echo "demo: depthmaster-ros bag failed (exit $rc)" >&2
  exit "$rc"
fi
echo "demo: outputs in $OUT_DIR/: depth.mcap, contact_sheet.png, summary.json" \
     "(replay: ros2 bag play $OUT_DIR/depth.mcap; view: docs/recordings.md)"
