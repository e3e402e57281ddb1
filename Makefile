# hms_kit: `make demo` and `make test` set up .venv themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp
# torch is pinned to the build this machine serves from disk; Kaggle's image has its own.
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
DEMO_OUT ?= demo_out
# Publishing (python -m hms_kit.publish): make push-dataset, wait, push-kernel KERNEL=train, wait,
# pull, push-kernel KERNEL=infer, wait, submit (KERNEL_VERSION=3 for another version).
# push-kernel pushes one train kernel per packaged config (hms-kit-train-<name>[-fold<k>]) and
# an infer kernel that attaches and blends them all. Without CONFIG/CONFIGS: the recipes for
# Kaggle's T4s, kaggle-eeg1d, kaggle-spec2d, kaggle-timm2d (hms_kit.config.KAGGLE_CONFIGS);
# CONFIG=seed (the design document's recipe) or CONFIGS=default,seed choose others;
# CONFIG=dataset runs the dataset's config.yaml in the plain hms-kit-train kernel. Status and
# pull take the same choice. FOLDS=0,1,2 pushes each config's kernel once per fold. At most
# MAX_PARALLEL (2, Kaggle's limit) GPU kernels run at once; `make wait` pushes the rest.
# ACCELERATOR=NvidiaTeslaT4 (machine_shape), TIMEOUT=seconds (session limit), RESUME=1 (attach
# the train kernel's own last output), PIN_TRAIN=1 (with KERNEL=infer only: infer attaches
# owner/slug/N of the train versions `wait` saw complete). POLL / WAIT_TIMEOUT (seconds) for
# wait; RUNS_DIR for pull; PULL_VERSION=N for one kernel (pick it with CONFIG= and FOLDS=).
# DRY_RUN=1 prints the kaggle calls without making them.
DIST ?= dist
KAGGLE_BUILD ?= build/kaggle
KERNEL ?= all
FOLDS ?=
CONFIG ?=
CONFIGS ?=
DATASET_SLUG ?= hms-kit-wheel
WEIGHTS_DATASET ?=
MESSAGE ?=
KERNEL_VERSION ?=
# Build offline when the venv already has setuptools; otherwise pip fetches the backend.
WHEEL_FLAGS ?= $(shell $(PY) -c "import setuptools" 2>/dev/null && echo --no-build-isolation)
PUBLISH = $(PY) -m hms_kit.publish
DRY_RUN ?=
ACCELERATOR ?=
TIMEOUT ?=
MAX_PARALLEL ?= 2
RESUME ?=
PIN_TRAIN ?=
POLL ?= 60
WAIT_TIMEOUT ?= 43200
LOG_LINES ?= 30
RUNS_DIR ?= runs
PULL_VERSION ?=
PULL_FAILED ?=
# Both add to one list of packaged configs (--config is an alias of --configs).
CONFIG_OPTS = $(if $(CONFIG),--config="$(CONFIG)") $(if $(CONFIGS),--configs="$(CONFIGS)")
PUBLISH_OPTS = --build-dir $(KAGGLE_BUILD) --dist-dir $(DIST) --dataset-slug $(DATASET_SLUG) \
	--weights-dataset "$(WEIGHTS_DATASET)" $(if $(DRY_RUN),--dry-run)

.PHONY: help setup demo test test-slow test-compat lint format wheel bench bench-scale bench-quality gpu-check clean push-dataset push-kernel wait pull status submit

help:
	@echo "make demo   - the whole story on the embedded synthetic competition"
	@echo "make test   - the fast test suite (under 5 minutes; skips the slow tier)"
	@echo "make test-slow - the slow tier (pytest -m slow: long end-to-end runs; CI runs it too)"
	@echo "make test-compat - the fast suite at the oldest supported versions (tests/compat/floor.txt)"
	@echo "make bench-scale [SCALE=300,1200,4800] [SCALE_WORK=dir] - cost at scale -> BENCHMARKS.md"
	@echo "make bench-quality [QUALITY_PLAN='300:13,14 1200:13'] [QUALITY_ARGS=--report-only|--estimate|'--compare A:B'|'--blend [A:]B'] - learning curves"
	@echo "make gpu-check [GPU_CHECK_ARGS=--tiny] - a short epoch of each kaggle-* config on the GPU"
	@echo "     -> the GPU section of BENCHMARKS.md and gpu_check.json (what plan uses)"
	@echo "make lint | wheel | bench | push-dataset | push-kernel [KERNEL=train|infer] [FOLDS=0,1]"
	@echo "     [CONFIG=seed | CONFIGS=default,seed | CONFIG=dataset] (default: the kaggle-* configs)"
	@echo "     [ACCELERATOR=NvidiaTeslaT4] [TIMEOUT=s] [RESUME=1] [KERNEL=infer PIN_TRAIN=1] | wait | pull [PULL_VERSION=N: one kernel] [PULL_FAILED=1] | status | submit"

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# The demo runs the kernels exactly as Kaggle would: they install the wheel built here.
demo: wheel
	$(PY) -m hms_kit demo --out $(DEMO_OUT) --wheel $$(ls -t $(DIST)/hms_kit-*-py3-none-any.whl | head -1)

# Benchmarks -> BENCHMARKS.md; BENCH_ARGS=--tiny is the test suite's quick run.
BENCH_OUT ?= BENCHMARKS.md
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) -m hms_kit bench --out $(BENCH_OUT) $(BENCH_ARGS)

# Cost at scale: seconds, peak memory and disk per stage and size (synth --profile real),
# slopes and the full-competition projection -> the "5 cost at scale" section of BENCHMARKS.md.
# One thread per process: timings on a shared machine are noisy enough without oversubscription.
SCALE ?= 300,1200,4800
SCALE_WORK ?=
SCALE_ARGS ?=
bench-scale: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m hms_kit bench --scale $(SCALE) --out $(BENCH_OUT) \
		$(if $(SCALE_WORK),--work-dir $(SCALE_WORK)) $(SCALE_ARGS)

# Learning curves (issue 21): each family's CPU config on synthetic competitions of growing
# size and several generator seeds -> the "7 learning curves" section of BENCHMARKS.md and
# benchmarks/learning_curve.png. Hours of CPU; resumable (finished runs in QUALITY_WORK are
# kept): run nothing else beside it. QUALITY_PLAN='300:13,14 1200:13' chooses the points;
# QUALITY_ARGS=--report-only renders what has finished; QUALITY_ARGS=--estimate prints the
# plan's cost (measured runs, the rest projected) and trains nothing; QUALITY_ARGS='--compare
# eeg1d:eeg1d-stage1' prints B - A (OOF and test, patient bootstrap) on the plan's finished points.
QUALITY_WORK ?= bench_quality
QUALITY_PLAN ?=
QUALITY_ARGS ?=
bench-quality: $(STAMP)
	$(PY) -m hms_kit bench --quality --out $(BENCH_OUT) --work-dir $(QUALITY_WORK) \
		$(if $(QUALITY_PLAN),--plan "$(QUALITY_PLAN)") $(QUALITY_ARGS)

# The device check: a short epoch of each kaggle-* config on this machine's GPU (at most 8
# minutes): samples/s with AMP on and off, peak GPU memory, data pipeline against model only
# -> the "6 GPU check" section of BENCHMARKS.md and gpu_check.json, whose measured throughput
# `python -m hms_kit plan` uses in place of its assumption. Without CUDA it stops with an
# error; GPU_CHECK_ARGS=--tiny runs it on the CPU in seconds (small models, for tests).
GPU_CHECK_JSON ?= gpu_check.json
GPU_CHECK_ARGS ?=
gpu-check: $(STAMP)
	timeout 480 $(PY) -m hms_kit gpu-check --out $(BENCH_OUT) --json $(GPU_CHECK_JSON) \
		$(GPU_CHECK_ARGS)

# The fast suite: every test not marked slow (pyproject.toml's markers), on one pytest-xdist
# worker per core (at most TEST_WORKERS), a test file per worker at a time (tests/conftest.py:
# why; it gives each worker one torch thread). TEST_WORKERS=0 runs it in this process. The slow
# tier holds the long end-to-end runs, one at a time; CI (.ci/run) runs both.
TEST_WORKERS ?= 4
TEST_PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,-n auto --maxprocesses $(TEST_WORKERS) --dist loadfile)
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(TEST_PARALLEL) --durations=15

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow --durations=10

# The wheel installs with --no-deps onto whatever Kaggle's image holds, so the fast suite also
# runs in a second venv at the oldest versions setup.py declares (the floors are in the
# constraints). The slow tier calls the same library functions as the fast one, only longer,
# so CI runs it once, in the newest versions.
COMPAT_VENV := .venv-compat
COMPAT_PY := $(COMPAT_VENV)/bin/python
COMPAT_CONSTRAINTS := tests/compat/floor.txt
COMPAT_STAMP := $(COMPAT_VENV)/.installed-stamp

$(COMPAT_STAMP): setup.py pyproject.toml $(COMPAT_CONSTRAINTS)
	test -x $(COMPAT_PY) || $(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_PY) -m pip install -q --upgrade pip
	$(COMPAT_PY) -m pip install -q -c $(COMPAT_CONSTRAINTS) $(TORCH_PIN)
	$(COMPAT_PY) -m pip install -q -c $(COMPAT_CONSTRAINTS) -e ".[dev]"
	$(COMPAT_PY) -m pip list --format=freeze > $(COMPAT_VENV)/versions.txt
	touch $(COMPAT_STAMP)

test-compat: $(COMPAT_STAMP)
	$(COMPAT_PY) -m pytest -q -m "not slow" $(TEST_PARALLEL)

lint: $(STAMP)
	$(BIN)/ruff check hms_kit tests kernels
	$(BIN)/ruff format --check hms_kit tests kernels

format: $(STAMP)
	$(BIN)/ruff check --fix hms_kit tests kernels
	$(BIN)/ruff format hms_kit tests kernels

# setuptools never prunes build/lib, so a module deleted from the source would ship again.
wheel: $(STAMP)
	rm -rf build/lib build/bdist.* $(DIST)/hms_kit-*.whl
	$(PY) -m pip wheel -q --no-deps $(WHEEL_FLAGS) -w $(DIST) .
	@ls $(DIST)/hms_kit-*-py3-none-any.whl

push-dataset: wheel
	$(PUBLISH) push-dataset $(PUBLISH_OPTS) $(if $(MESSAGE),--message "$(MESSAGE)")

push-kernel: $(STAMP)
	$(PUBLISH) push-kernel --kernel $(KERNEL) $(if $(FOLDS),--folds="$(FOLDS)") $(CONFIG_OPTS) \
		$(PUBLISH_OPTS) \
		--max-parallel $(MAX_PARALLEL) $(if $(ACCELERATOR),--accelerator "$(ACCELERATOR)") \
		$(if $(TIMEOUT),--session-timeout "$(TIMEOUT)") $(if $(RESUME),--resume) \
		$(if $(PIN_TRAIN),--pin-train)

wait: $(STAMP)
	$(PUBLISH) wait $(PUBLISH_OPTS) --max-parallel $(MAX_PARALLEL) --poll $(POLL) \
		--timeout $(WAIT_TIMEOUT) --log-lines $(LOG_LINES)

# KERNEL defaults to all elsewhere; pull means the train kernel(s) unless KERNEL says infer.
pull: $(STAMP)
	$(PUBLISH) pull --kernel $(if $(filter all,$(KERNEL)),train,$(KERNEL)) \
		$(if $(FOLDS),--folds="$(FOLDS)") $(CONFIG_OPTS) $(PUBLISH_OPTS) --runs-dir "$(RUNS_DIR)" \
		$(if $(PULL_VERSION),--version $(PULL_VERSION)) $(if $(PULL_FAILED),--allow-failed)

status: $(STAMP)
	$(PUBLISH) status --kernel $(KERNEL) $(if $(FOLDS),--folds="$(FOLDS)") $(CONFIG_OPTS) \
		$(PUBLISH_OPTS)

submit: $(STAMP)
	$(PUBLISH) submit $(PUBLISH_OPTS) $(if $(MESSAGE),--message "$(MESSAGE)") \
		$(if $(KERNEL_VERSION),--version $(KERNEL_VERSION))

clean:
	rm -rf build dist *.egg-info $(DEMO_OUT)
