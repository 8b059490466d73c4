# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Caches live in the checkout so that tests, demo and CI share one tiny-model build.
export NETFT_CACHE ?= $(CURDIR)/.cache/netft
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/.cache/torch_extensions
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export WANDB_SILENT ?= true

.PHONY: setup demo test test-fast clean
setup: $(VENV)/.netft-setup

# Re-runs only when the dependency list changes.
$(VENV)/.netft-setup: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

demo: setup
	$(VENV)/bin/netft-train model=tiny method=full train.epochs=3 train.lr=1e-3

test: setup
	$(PY) -m pytest -q -ra

# Unit tests only (no end-to-end training runs).
test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow"

clean:
	rm -rf outputs multirun .pytest_cache
