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

.PHONY: setup demo test test-fast bench reliability clean
setup: $(VENV)/.netft-setup

# Re-runs only when the dependency list changes.
$(VENV)/.netft-setup: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

# The forgetting study on the tiny model: full vs LoRA r=8 vs full + 10% general replay,
# 2 epochs each, 2 seeds each, all 107 test items after every epoch; the full runs' weights
# interpolated towards the base (WiSE-FT) at three alphas; then the report (intervals, frontier,
# recommendation under a +10% general-perplexity budget).
DEMO_DIR := outputs/demo/$(shell date +%Y%m%d-%H%M%S)
DEMO_RUNS := forgetting_full,forgetting_full_mix,forgetting_lora_r8
demo: setup
	$(VENV)/bin/netft-train -m +experiment=$(DEMO_RUNS) train.seed=0,1 eval.domain_max_items=0 \
	    eval.max_new_tokens=128 eval.review_items=0 hydra.sweep.dir=$(DEMO_DIR)
	for d in $(DEMO_DIR)/*forgetting_full,train.seed=*; do \
	    $(VENV)/bin/netft interpolate "$$d" --alphas 0.1,0.25,0.5 || exit 1; done
	$(VENV)/bin/netft report $(DEMO_DIR) --budget 10

test: setup
	$(PY) -m pytest -q -ra

# Unit tests only (no end-to-end training runs).
test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow"

# netft's SFT step side by side with TRL's SFTTrainer (docs/benchmarks.md); TRL is the bench
# extra, not a runtime dependency, so this installs it first.
bench: setup
	$(PY) -m pip install --disable-pip-version-check -q -e '.[bench]'
	$(PY) bench/bench_sft.py --steps 4 --warmup 1 --repeats 3 --out docs/benchmarks.md

# The fault-injection suite; rewrites docs/reliability.md from the cases it ran.
reliability: setup
	NETFT_WRITE_RELIABILITY=1 $(PY) -m pytest -q -ra -m faults tests/test_faults.py

clean:
	rm -rf outputs multirun .pytest_cache
