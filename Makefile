# hms_kit: `make demo` and `make test` set up .venv themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp
# torch is pinned to the build this machine serves from disk; Kaggle's image has its own.
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
DEMO_OUT ?= demo_out

.PHONY: help setup demo test lint format wheel bench clean

help:
	@echo "make demo   - the whole story on the embedded synthetic competition"
	@echo "make test   - the test suite"
	@echo "make lint | wheel | bench | push-dataset | push-kernel [KERNEL=train|infer] | status | submit"

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m hms_kit demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check hms_kit tests kernels
	$(BIN)/ruff format --check hms_kit tests kernels

format: $(STAMP)
	$(BIN)/ruff check --fix hms_kit tests kernels
	$(BIN)/ruff format hms_kit tests kernels

clean:
	rm -rf build dist *.egg-info $(DEMO_OUT)
