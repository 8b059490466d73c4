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

.PHONY: setup demo test test-fast lint docs bench bench-logits reliability gpu-check clean
setup: $(VENV)/.netft-setup

# Re-runs only when the dependency list changes.
$(VENV)/.netft-setup: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

# The forgetting study on the shipped tiny-netops base (conf/model/tiny_netops.yaml: the tiny
# Llama pre-trained to copy from its context and on configurations; 4.8 MB, no build), trained
# on the shipped set plus 1,300 generated config rows (conf/data/netops_more_configs.yaml): full
# vs LoRA r=32 vs full + 10% general replay, 2 epochs each, one seed, all 107 test items after
# every epoch; the full run's weights interpolated towards the base (WiSE-FT) at three alphas;
# then the report (intervals over the test items, frontier, recommendation under a +10%
# general-perplexity budget; learning = domain-score gain, which has an item interval where the
# validation-loss drop of one seed has none). Two processes side by side, one thread each (a
# model this small gains ~1.5x that way over one process using both cores): the full run and
# its interpolation in one, full + replay and LoRA in the other (output: <dir>/other.log).
# One seed fits the 12-minute budget (~10 min here); `make demo DEMO_SEED=1` runs another.
# DEMO_PIN: the CPU kernels every machine runs (AVX2 paths of torch's own kernels, MKL and
# oneDNN), so an AVX-512 machine computes what an AVX2 one does (bench/determinism.py).
DEMO_DIR := outputs/demo/$(shell date +%Y%m%d-%H%M%S)
DEMO_SEED := 0
DEMO_PIN := ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1
DEMO_TRAIN = $(DEMO_PIN) $(VENV)/bin/netft-train -m model=tiny_netops data=netops_more_configs \
	eval.domain_max_items=0 eval.max_new_tokens=128 eval.review_items=0 train.seed=$(DEMO_SEED)
DEMO_INTERP = $(DEMO_PIN) $(VENV)/bin/netft interpolate --alphas 0.1,0.25,0.5
demo: setup
	mkdir -p $(DEMO_DIR)
	$(DEMO_TRAIN) +experiment=forgetting_full_mix,forgetting_lora_r32 \
	    hydra.sweep.dir=$(DEMO_DIR)/others > $(DEMO_DIR)/other.log 2>&1 & \
	pid=$$!; { $(DEMO_TRAIN) +experiment=forgetting_full hydra.sweep.dir=$(DEMO_DIR)/full \
	    && $(DEMO_INTERP) $(DEMO_DIR)/full/*forgetting_full*; } \
	    || { kill $$pid; exit 1; }; wait $$pid || { tail -20 $(DEMO_DIR)/other.log; exit 1; }
	$(VENV)/bin/netft report $(DEMO_DIR) --budget 10 --learning domain_gain

# Everything (what CI runs): ~45-50 min of tests on a 2-core CPU machine (2,549 s in CI at the last landing).
test: setup
	$(PY) -m pytest -q -ra

# Without the tests marked slow, i.e. no training run (tests/test_tiers.py checks that every
# test starting netft-train / torchrun / netft.train.run is marked slow): a few minutes.
test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow"

# ruff with the rule set in pyproject.toml ([tool.ruff.lint]); CI runs it before the tests.
lint: setup
	$(VENV)/bin/ruff check .

# Rewrites the doc tables the code produces (the `netft plan` blocks of docs/*.md);
# tests/test_docs.py fails when they differ from the code.
docs: setup
	$(PY) scripts/gen_docs.py

# netft's SFT step side by side with TRL's SFTTrainer (docs/benchmarks.md); TRL is the bench
# extra, not a runtime dependency, so this installs it first.
bench: setup
	$(PY) -m pip install --disable-pip-version-check -q -e '.[bench]'
	$(PY) bench/bench_sft.py --steps 4 --warmup 1 --repeats 3 --out docs/benchmarks.md

# Full logits vs the chunked loss at Llama 3's vocabulary (docs/scale.md section 6; ~6 min).
bench-logits: setup
	$(PY) bench/bench_logits.py --chunks 0,1024,256 --steps 2 --warmup 1 --repeats 2 --out docs/scale.md

# The fault-injection suite; rewrites docs/reliability.md from the cases it ran.
reliability: setup
	NETFT_WRITE_RELIABILITY=1 $(PY) -m pytest -q -ra -m faults tests/test_faults.py

# On a GPU node: the CUDA tests, the bf16 update check, qlora with checkpoints, flash vs sdpa,
# a 2-GPU nccl run when two are present, and the throughput/MFU recipe, as one table (< 10 min
# on one GPU). Without CUDA it says so and fails.
GPU_CHECK_OUT ?= outputs/gpu-check.md
gpu-check: setup
	mkdir -p $(dir $(GPU_CHECK_OUT))
	$(PY) scripts/gpu_check.py --out $(GPU_CHECK_OUT)

clean:
	rm -rf outputs multirun .pytest_cache
