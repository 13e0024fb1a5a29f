# The two set-up commands of the README are `make demo` and `make test`; both create or refresh .venv.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

# Keep every cache inside the repository, and keep DDS discovery on this machine.
export XDG_CACHE_HOME := $(CURDIR)/.cache
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export HF_HOME := $(CURDIR)/.cache/huggingface
export TORCHINDUCTOR_CACHE_DIR := $(CURDIR)/.cache/torchinductor
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

BAG ?= demo_out/sample.mcap
MODEL ?=
PYTEST_ARGS ?=
SOAK_MINUTES ?= 10

.PHONY: venv lint test demo bench bench-alignment bench-nav bench-finetune soak clean wheelhouse device-check

venv:
	@tools/ensure_venv.sh

# Lint and static types: ruff over the repository, mypy over the package (configs: ruff.toml, setup.cfg).
lint: venv
	@$(VENV)/bin/ruff check . && $(VENV)/bin/mypy

# All tests, after the lint. pytest's exit code is kept: 5 means "no tests collected" and fails like any error.
test: venv lint
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; fi; exit $$rc

demo: venv
	@tools/demo.sh "$(BAG)" "$(MODEL)"

bench: venv
	@$(PY) benchmarks/bench.py $(BENCH_ARGS)

# Accuracy, honesty and cost of the metric alignment on ray-cast scenes (no model); BENCH_ARGS=--quick for a short run.
bench-alignment: venv
	@$(PY) benchmarks/alignment_bench.py $(BENCH_ARGS)

# What a costmap makes of depth/points, depth/obstacles and depth/scan on ray-cast scenes (no model); writes bench_out/.
bench-nav: venv
	@$(PY) benchmarks/nav_bench.py $(BENCH_ARGS)

# Fine-tuning on tiny models (CPU): held-out metres before/after, the oracle's share, 1 vs 2 Ray workers; bench_out/finetune.json.
bench-finetune: venv
	@$(PY) benchmarks/finetune_bench.py --json bench_out/finetune.json $(BENCH_ARGS)

# Wheels for tools/device_check.sh on a GPU machine without network access (docs/device_check.md).
wheelhouse: venv
	@tools/wheelhouse.sh

device-check:
	@tools/device_check.sh $(DEVICE_CHECK_ARGS)

soak: venv
	@$(PY) tools/soak.py --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) build .cache .pytest_cache .hypothesis demo_out bench_out soak_out wheelhouse device_check_out .device_check_venv
