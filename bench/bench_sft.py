"""CPU benchmark: netft's SFT training step vs TRL's SFTTrainer, side by side, one invocation.

    .venv/bin/python bench/bench_sft.py [--steps N] [--repeats R] [--out docs/benchmarks.md]

What is compared (same model weights, same rows, same hyperparameters):

* ``netft``            -- netft's own training-step pieces, exactly as netft/train.py uses them:
  ``tokenize_rows`` -> ``plan_epoch(packing=True)`` -> ``collate`` -> ``forward_backward`` +
  ``engine.step()`` on the engine from ``build_torch_engine`` (config composed by Hydra from
  conf/, ``method=full parallel=single``), with netft's default loss path attached as
  ``build_task`` does: ``loss_head.attach`` (output layer + cross-entropy over
  ``train.loss_chunk_tokens``=256 positions at a time, never the whole logits). Loss on
  assistant tokens only (netft's default).
* ``trl``              -- TRL ``SFTTrainer`` with its defaults for a conversational ("messages")
  dataset: padded batches of 8 sequences, ``max_length=512``, loss on every token (TRL's
  default; our template has no ``{% generation %}`` markers, which ``assistant_only_loss``
  would need).
* ``trl_padding_free`` -- the same 8 sequences per step with ``padding_free=True`` and no
  packing: flattened into one sequence without padding. TRL refuses ``max_length`` in that mode
  (it would not truncate), so ``max_length=None``; every row is already <= 512 tokens.
* ``trl_packing``      -- ``packing=True`` (TRL's default strategy "bfd", which turns on
  padding-free batches: the 8 packed rows of a batch are flattened into one sequence).

TRL's chunked loss: in TRL 1.16 it is not a setting but always on. ``SFTTrainer`` patches the
model with ``add_fused_lm_head`` and computes the per-token log-probs tile by tile (4,096 tokens
x 32,768 vocabulary columns, torch ops on CPU) without the full logits; ``loss_type=
"chunked_nll"`` is a deprecated alias of the default ``"nll"``. So every TRL configuration here
already uses it (the worker records the forward's output type to show it). Liger
(``use_liger_kernel``; its fused linear cross-entropy is refused by SFTTrainer 1.16) and the Hub
kernels are Triton/CUDA, and ``activation_offloading`` has nothing to offload to on CPU: none is
used. The generated doc states this with the source files it comes from.

The model is a randomly initialised Llama-architecture model (~11M parameters, so that matmuls
dominate on CPU), saved once to a temp dir so every run loads identical weights; the tokenizer
is netft's cached tiny BPE tokenizer (it has a chat template). Common settings: fp32, sdpa
attention, AdamW lr 1e-4, max_grad_norm 1.0, max_length 512, no gradient checkpointing, no
gradient accumulation, 2 torch threads, dataloader in-process. Rows longer than 512 tokens
(which netft drops) are removed up front, so all configurations see the same rows.

Batch geometry: TRL gets 8 sequences per device batch (per optimizer step). netft packs rows of
up to 512 tokens; its micro-batch (rows per step) is chosen so that a step holds ~8 examples on
average, i.e. the same number of examples per optimizer step as TRL defaults. (TRL with packing
holds 8 *packed rows* of 512 tokens per step, i.e. many more examples; tokens/s normalises.)

How it is measured: each configuration runs in its own subprocess (so peak RSS,
``getrusage(RUSAGE_SELF).ru_maxrss``, is per configuration), runs ``--warmup`` optimizer steps
untimed, then times the next ``--steps`` optimizer steps end to end (wall clock, including
collation/data loading and the optimizer step). tokens/s = real (non-pad) input tokens of the
timed steps / seconds. Padding efficiency = real tokens / processed positions
(``input_ids.numel()``) over the timed steps. Configurations alternate
(netft, trl, trl_padding_free, trl_packing, netft, ...) for ``--repeats`` rounds, so that load
on a shared machine falls on all of them alike; the table reports medians.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "netft" / "assets" / "data" / "netops" / "train.jsonl"
CONFIGS = ("netft", "trl", "trl_padding_free", "trl_packing")
MAX_LENGTH = 512
BATCH = 8  # sequences per optimizer step for TRL; examples per step for netft (on average)
LR = 1e-4
SEED = 0
THREADS = 2
# ~11M parameters: big enough that matmuls dominate on CPU, small enough for a few-minute run
# on 2 cores (a 26M-parameter variant ran at ~8-25 s per step here, too slow for the budget).
ARCH = dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=6,
            num_attention_heads=6, num_key_value_heads=2)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("NETFT_CACHE", str(ROOT / ".cache" / "netft"))


# ---------------------------------------------------------------- shared helpers

def kept_rows(tok) -> list[dict]:
    """The training rows netft keeps at max_length (the same rows go to every configuration)."""
    from netft.data.chat import read_chat_jsonl, tokenize_chat

    rows = read_chat_jsonl(DATA)
    return [r for r in rows if len(tokenize_chat(tok, r["messages"]).input_ids) <= MAX_LENGTH]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def compose(overrides):
    import netft.config  # noqa: F401  (registers the schema with Hydra)
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def netft_micro_batch(tok) -> int:
    """Packed rows per step so that a netft step holds ~BATCH examples on average."""
    from netft.data.batching import pack, tokenize_rows

    examples, _ = tokenize_rows(kept_rows(tok), tok, MAX_LENGTH)
    lengths = [len(e.input_ids) for e in examples]
    rows = pack(lengths, list(range(len(lengths))), MAX_LENGTH)
    per_row = len(lengths) / len(rows)
    return max(1, round(BATCH / per_row))


# ---------------------------------------------------------------- workers (one per subprocess)

def worker_netft(model_dir: str, steps: int, warmup: int, micro: int) -> dict:
    import torch

    from netft.data.batching import collate, plan_epoch, tokenize_rows
    from netft.distributed import DistInfo
    from netft.models.load import apply_method, load_model, load_tokenizer
    from netft.parallel.engine import build_torch_engine
    from netft.objectives import loss_head
    from netft.objectives.accumulate import forward_backward

    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    cfg = compose([f"run_dir={tempfile.mkdtemp(prefix='netft-bench-')}", "method=full",
                   "parallel=single", "logger=none", f"model.name_or_path={model_dir}",
                   "model.dtype=float32", "model.attn_implementation=sdpa", f"train.lr={LR}",
                   f"train.max_length={MAX_LENGTH}", f"train.micro_batch_size={micro}",
                   "train.grad_accum=1", "train.packing=true", f"train.seed={SEED}",
                   "parallel.activation_checkpointing=false", "train.compile=false"])
    info = DistInfo()
    tok = load_tokenizer(model_dir, cfg.model)
    model = apply_method(load_model(model_dir, cfg.model, cfg.method, info.device), cfg.method)
    # As objectives/tasks.py's build_task does before the engine wraps the model: netft's default
    # loss path, the output layer + loss over train.loss_chunk_tokens positions at a time.
    why_not = loss_head.attach(model, cfg.train.loss_chunk_tokens, cfg.model.liger)
    if why_not is not None:
        raise SystemExit(f"netft: the chunked loss head does not apply ({why_not})")
    examples, _ = tokenize_rows(kept_rows(tok), tok, MAX_LENGTH, cfg.data.overlong)
    lengths = [len(e.input_ids) for e in examples]
    plan = plan_epoch(lengths, epoch=0, seed=SEED, world=1, micro_batch_size=micro,
                      grad_accum=1, max_length=MAX_LENGTH, packing=True)
    total = warmup + steps
    if len(plan) < total:
        raise SystemExit(f"netft: only {len(plan)} steps in an epoch, need {total}")
    engine = build_torch_engine(model, cfg, info, total)
    engine.module.train()
    assert loss_head.enabled(engine.module)  # sft_loss_sum takes the chunked path
    real = processed = n_examples = 0
    t0 = None
    for i, micro_batches in enumerate(plan[:total]):
        if i == warmup:
            t0 = time.perf_counter()
        batches = [collate(examples, rows, tok.pad_token_id, True) for rows in micro_batches]
        forward_backward(engine, batches, info)
        engine.step()
        if i >= warmup:
            real += sum(b["n_tokens"] for b in batches)
            processed += sum(b["input_ids"].numel() for b in batches)
            n_examples += sum(len(r) for rows in micro_batches for r in rows)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "real_tokens": real, "processed_tokens": processed,
            "examples": n_examples, "steps": steps, "micro_batch_rows": micro,
            "loss_chunk_tokens": cfg.train.loss_chunk_tokens, "vocab": len(tok)}


# TRL settings per configuration (on top of the common ones in worker_trl), as the doc states.
TRL_SETTINGS = {
    "trl": dict(packing=False, padding_free=False, max_length=MAX_LENGTH),
    # padding_free without packing: TRL refuses max_length then (it would not truncate); every
    # row is already <= MAX_LENGTH tokens (kept_rows), and the worker records the longest.
    "trl_padding_free": dict(packing=False, padding_free=True, max_length=None),
    "trl_packing": dict(packing=True, padding_free=False, max_length=MAX_LENGTH),
}


def worker_trl(model_dir: str, steps: int, warmup: int, name: str) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    import trl
    from trl import SFTConfig, SFTTrainer

    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                 attn_implementation="sdpa")
    model.config.use_cache = False
    data = Dataset.from_list([{"messages": r["messages"]} for r in kept_rows(tok)])
    total = warmup + steps
    args = SFTConfig(output_dir=tempfile.mkdtemp(prefix="trl-bench-"), max_steps=total,
                     per_device_train_batch_size=BATCH, gradient_accumulation_steps=1,
                     learning_rate=LR, max_grad_norm=1.0, weight_decay=0.0,
                     bf16=False, fp16=False,
                     use_cpu=True, gradient_checkpointing=False, report_to=[],
                     save_strategy="no", eval_strategy="no", logging_steps=10_000,
                     dataloader_num_workers=0, seed=SEED, disable_tqdm=True,
                     **TRL_SETTINGS[name])
    pad_id = tok.pad_token_id
    counts: dict[int, list[int]] = {}
    marks: dict[str, float] = {}
    seen = {"max_seq": 0, "loss_outputs": set(), "first_loss": None}

    class Timer(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            if warmup == 0:
                marks["t0"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if state.global_step == warmup:
                marks["t0"] = time.perf_counter()
            elif state.global_step == total:
                marks["t1"] = time.perf_counter()

    class CountingSFTTrainer(SFTTrainer):
        def training_step(self, model, inputs, *a, **kw):
            ids = inputs["input_ids"]
            if "attention_mask" in inputs:
                real = int(inputs["attention_mask"].sum())
                longest = int(inputs["attention_mask"].sum(-1).max())
            else:
                real = int((ids != pad_id).sum())
            if "cu_seq_lens_q" in inputs:  # padding-free: sequence boundaries of the flat row
                bounds = inputs["cu_seq_lens_q"]
                n_seq, longest = int(bounds.numel() - 1), int(bounds.diff().max())
            else:
                n_seq = ids.shape[0]
                longest = longest if "attention_mask" in inputs else ids.shape[-1]
            seen["max_seq"] = max(seen["max_seq"], longest)
            c = counts.setdefault(self.state.global_step, [0, 0, 0])
            c[0] += real
            c[1] += ids.numel()
            c[2] += n_seq
            return super().training_step(model, inputs, *a, **kw)

        def compute_loss(self, model, inputs, *a, **kw):
            # The first step's loss: the same rows in "trl" and "trl_padding_free", so equal
            # losses show that the flattened batch's attention is separated per sequence on CPU.
            loss = super().compute_loss(model, inputs, *a, **kw)
            if seen["first_loss"] is None:
                seen["first_loss"] = float(loss.detach())
            return loss

    def which_loss_path(module, args, kwargs, output):
        # TRL's fused LM head (per-token log-probs in tiles, never the full logits) answers
        # fused_lm_head=True with a FusedCausalLMOutput; the plain forward returns logits.
        seen["loss_outputs"].add(f"{type(output).__name__}(fused_lm_head="
                                 f"{bool(kwargs.get('fused_lm_head'))})")

    trainer = CountingSFTTrainer(model=model, args=args, train_dataset=data,
                                 processing_class=tok, callbacks=[Timer()])
    trainer.model.register_forward_hook(which_loss_path, with_kwargs=True)
    trainer.train()
    timed = [counts[s] for s in range(warmup, total)]
    return {"seconds": marks["t1"] - marks["t0"], "real_tokens": sum(c[0] for c in timed),
            "processed_tokens": sum(c[1] for c in timed), "examples": sum(c[2] for c in timed),
            "steps": steps, "padding_free": bool(trainer.padding_free),
            "max_seq": seen["max_seq"], "loss_outputs": sorted(seen["loss_outputs"]),
            "first_loss": seen["first_loss"], "trl_version": trl.__version__}


def worker(args) -> None:
    if args.worker == "netft":
        out = worker_netft(args.model_dir, args.steps, args.warmup, args.micro)
    else:
        out = worker_trl(args.model_dir, args.steps, args.warmup, args.worker)
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------- driver

def build_model(model_dir: Path) -> tuple[int, int]:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from netft.models.tiny import ensure_tiny

    tok = AutoTokenizer.from_pretrained(ensure_tiny(os.environ["NETFT_CACHE"]))
    torch.manual_seed(SEED)
    config = LlamaConfig(vocab_size=len(tok), **ARCH, max_position_embeddings=1024,
                         tie_word_embeddings=True,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, use_cache=False)
    model = LlamaForCausalLM(config)
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    n_params = sum(p.numel() for p in model.parameters())
    return n_params, netft_micro_batch(tok)


def run_one(name: str, model_dir: Path, args, micro: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
           "--model-dir", str(model_dir), "--steps", str(args.steps), "--warmup",
           str(args.warmup), "--micro", str(micro)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
        raise SystemExit(f"{name} worker failed (exit {proc.returncode})")
    res = json.loads(lines[-1][len("RESULT "):])
    res["wall_s"] = time.perf_counter() - t
    res["tokens_per_s"] = res["real_tokens"] / res["seconds"]
    res["padding_eff"] = res["real_tokens"] / res["processed_tokens"]
    return res


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def table(results: dict[str, list[dict]]) -> str:
    head = ("| configuration | tokens/s (median) | tokens/s (runs) | padding eff. | "
            "peak RSS (MiB) | real tokens/step | examples/step | s/step |\n"
            "|---|---:|---|---:|---:|---:|---:|---:|\n")
    body = ""
    for name, runs in results.items():
        tps = ", ".join(f"{r['tokens_per_s']:.0f}" for r in runs)
        steps = runs[0]["steps"]
        body += (f"| {name} | {med(runs, 'tokens_per_s'):.0f} | {tps} | "
                 f"{med(runs, 'padding_eff'):.3f} | {med(runs, 'peak_rss_mb'):.0f} | "
                 f"{med(runs, 'real_tokens') / steps:.0f} | {med(runs, 'examples') / steps:.1f} | "
                 f"{med(runs, 'seconds') / steps:.2f} |\n")
    return head + body


# Targets from the issue that asked for this benchmark (issue 8), per baseline; None: no target
# was ever set (trl_padding_free came later), so the ratio is shown without one.
TARGETS = {"trl": 1.3, "trl_padding_free": None, "trl_packing": 1.0}
PADDING_EFF_TARGET = 0.97


def ratios(results: dict[str, list[dict]]) -> tuple[str, dict]:
    """netft / each TRL baseline: ratio of medians, and per round (the runs of one round are
    adjacent in time, so their ratio sees similar load; the spread is the uncertainty)."""
    n = results["netft"]
    r = {"padding_eff": med(n, "padding_eff")}
    ok = lambda b: "met" if b else "NOT met"  # noqa: E731
    text = ("| netft / TRL | tokens/s | tokens/s per round | peak RSS | target | result |\n"
            "|---|---:|---|---:|---|---|\n")
    labels = {"trl": "vs TRL defaults", "trl_padding_free": "vs TRL padding-free",
              "trl_packing": "vs TRL packing"}
    for name, label in labels.items():
        tps = med(n, "tokens_per_s") / med(results[name], "tokens_per_s")
        rss = med(n, "peak_rss_mb") / med(results[name], "peak_rss_mb")
        rounds = [a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(n, results[name])]
        r[f"tps_vs_{name}"], r[f"rss_vs_{name}"], r[f"rounds_vs_{name}"] = tps, rss, rounds
        target = TARGETS[name]
        if target is None:
            verdict = "none set | (ratio only) |"
        else:
            verdict = f"tokens/s >= {target:.1f}x | {ok(tps >= target)}"
            if (tps >= target) != all(x >= target for x in rounds):
                verdict += " (median; not in every round)"
            verdict += " |"
        text += (f"| {label} | {tps:.2f}x | {', '.join(f'{x:.2f}' for x in rounds)} | "
                 f"{rss:.2f}x | {verdict}\n")
    text += (f"| netft padding efficiency | {r['padding_eff']:.3f} | | | "
             f">= {PADDING_EFF_TARGET} | {ok(r['padding_eff'] >= PADDING_EFF_TARGET)} |\n")
    return text, r


class LoadSampler:
    """The 1-minute load average every `every` seconds while the benchmark runs (a thread): on a
    shared machine it says how much the medians can be trusted."""

    def __init__(self, every: float = 20.0):
        import threading

        self.samples = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self._every):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])
        return self.samples


def load_text(samples: list[float]) -> str:
    return (f"1-minute load average during the benchmark {min(samples):.1f}-{max(samples):.1f} "
            f"(median {statistics.median(samples):.1f}; sampled every 20 s) on {os.cpu_count()} "
            f"cores, of which this benchmark keeps about {THREADS} busy")


def spread(results: dict[str, list[dict]]) -> tuple[float, str]:
    """Largest max/min ratio of one configuration's per-run tokens/s, and which."""
    worst = max(results, key=lambda k: max(r["tokens_per_s"] for r in results[k])
                / min(r["tokens_per_s"] for r in results[k]))
    runs = [r["tokens_per_s"] for r in results[worst]]
    return max(runs) / min(runs), worst


def machine() -> str:
    import torch
    import transformers
    import trl

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__} with "
            f"{THREADS} threads, transformers {transformers.__version__}, TRL {trl.__version__}, "
            f"Python {platform.python_version()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=4, help="timed optimizer steps per run")
    p.add_argument("--warmup", type=int, default=1, help="untimed optimizer steps per run")
    p.add_argument("--repeats", type=int, default=2, help="alternating rounds")
    p.add_argument("--out", default=None, help="also write the results as markdown here")
    p.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--micro", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    command = ".venv/bin/python bench/bench_sft.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    t_start = time.perf_counter()
    load = LoadSampler()
    with tempfile.TemporaryDirectory(prefix="netft-bench-model-") as tmp:
        model_dir = Path(tmp)
        n_params, micro = build_model(model_dir)
        print(f"[bench] random Llama model: {n_params / 1e6:.1f}M params -> {model_dir}; "
              f"netft micro-batch {micro} packed rows/step (~{BATCH} examples)", flush=True)
        results: dict[str, list[dict]] = {c: [] for c in CONFIGS}
        for rep in range(args.repeats):
            for name in CONFIGS:
                res = run_one(name, model_dir, args, micro)
                results[name].append(res)
                print(f"[bench] round {rep + 1}/{args.repeats} {name:12s} "
                      f"{res['tokens_per_s']:8.0f} tok/s  pad-eff {res['padding_eff']:.3f}  "
                      f"{res['seconds'] / args.steps:.2f} s/step  "
                      f"{res['real_tokens'] / args.steps:.0f} tok/step  "
                      f"RSS {res['peak_rss_mb']:.0f} MiB  (process {res['wall_s']:.0f} s)",
                      flush=True)
    tab = table(results)
    rat_text, _ = ratios(results)
    elapsed = time.perf_counter() - t_start
    loads = load.stop()
    print("\n" + tab + "\n" + rat_text, flush=True)
    print(f"[bench] total {elapsed:.0f} s; {load_text(loads)}", flush=True)
    if args.out:
        write_doc(Path(args.out), command, tab, rat_text, n_params, micro, args, elapsed,
                  results, loads)
        print(f"[bench] wrote {args.out}", flush=True)


def write_doc(path: Path, command, tab, rat_text, n_params, micro, args, elapsed, results,
              loads):
    first = {name: runs[0] for name, runs in results.items()}
    trl_paths = sorted({p for runs in list(results.values())[1:] for r in runs
                        for p in r["loss_outputs"]})
    worst, worst_name = spread(results)
    loss_rel = (abs(first["trl"]["first_loss"] - first["trl_padding_free"]["first_loss"])
                / abs(first["trl"]["first_loss"]))
    doc = f"""# Benchmarks: netft SFT step vs TRL SFTTrainer (CPU)

Produced by `make bench` (installs the `bench` extra, TRL, then runs)

```
{command}
```

Machine: {machine()}. Total benchmark time {elapsed:.0f} s.
Load: {load_text(loads)}.

Model: random-init Llama architecture, {n_params / 1e6:.1f}M parameters (hidden {ARCH['hidden_size']}, MLP
{ARCH['intermediate_size']}, {ARCH['num_hidden_layers']} layers, {ARCH['num_attention_heads']} heads / {ARCH['num_key_value_heads']} KV heads, tied embeddings), netft's tiny BPE tokenizer
(vocabulary {first['netft']['vocab']:,}); fp32, sdpa
attention. Data: `netft/assets/data/netops/train.jsonl` (rows longer than {MAX_LENGTH} tokens
removed for everyone). Full fine-tuning, AdamW lr {LR:g}, max_grad_norm 1.0, no gradient
checkpointing, no gradient accumulation, {THREADS} torch threads. Each configuration runs in
its own process: {args.warmup} untimed warm-up steps, then {args.steps} timed optimizer steps
(wall clock, data collation and optimizer step included); configurations alternate
({", ".join(CONFIGS)}, ...) for {args.repeats} rounds, so that load on the machine falls on all
of them alike, and the table shows medians (per-run tokens/s listed).

* **netft**: `tokenize_rows` -> `plan_epoch(packing=True)` -> `collate` -> `forward_backward`
  + `engine.step()` (`build_torch_engine`, `method=full parallel=single`), {micro} packed rows
  of up to {MAX_LENGTH} tokens per step (~{BATCH} examples, like TRL's batch of {BATCH}). Loss:
  netft's default chunked head (`train.loss_chunk_tokens={first['netft']['loss_chunk_tokens']}`,
  `netft/objectives/loss_head.py`, attached as `build_task` does): the output layer and the
  cross-entropy over {first['netft']['loss_chunk_tokens']} positions at a time, never the whole logits.
* **trl**: `SFTTrainer` defaults on the "messages" rows, `per_device_train_batch_size={BATCH}`,
  `max_length={MAX_LENGTH}` (`packing=False`, `padding_free=False`: padded to the longest
  sequence of the batch).
* **trl_padding_free**: `padding_free=True`, `packing=False`, `max_length=None`: the same {BATCH}
  examples per step as `trl`, flattened into one sequence without padding. TRL refuses
  `max_length` with padding-free and no packing (it would not truncate); every row is already
  <= {MAX_LENGTH} tokens (longest seen: {first['trl_padding_free']['max_seq']}).
* **trl_packing**: `packing=True` (default strategy "bfd", which turns on padding-free batches:
  padding_free={first['trl_packing']['padding_free']}); {BATCH} packed rows of {MAX_LENGTH} tokens per step.

tokens/s counts real (non-pad) input tokens; padding efficiency = real tokens / processed
positions (`input_ids.numel()`); peak RSS = `getrusage(RUSAGE_SELF).ru_maxrss` of the run's
process (includes model load and, for TRL, dataset preparation).

{tab}
{rat_text}
Targets are the ones set when this benchmark was asked for (>= 1.3x TRL defaults, >= 1.0x TRL
packing, padding efficiency >= 0.97); none was set against TRL padding-free, so that row is a
ratio only.

## TRL's chunked-loss and padding-free settings (TRL {first['trl']['trl_version']})

Read from the installed TRL's source (`trl/trainer/sft_config.py`, `sft_trainer.py`,
`utils.py`, `kernels/chunked_logprob.py`):

* **Chunked loss is TRL's default and has no switch.** `SFTTrainer.__init__` always calls
  `add_fused_lm_head`: with `fused_lm_head=True` the model runs its backbone and computes the
  per-token log-probabilities through the LM head in tiles (4,096 tokens x 32,768 vocabulary
  columns, online log-softmax; torch ops on CPU, Triton on CUDA/XPU; on CPU every position is
  scored, including ignored ones), never the full logits. `loss_type="chunked_nll"` is only a
  deprecated alias of the default `"nll"`. Every TRL run here took that path (forward outputs
  seen: {", ".join(trl_paths)}). It falls back to full logits only with
  `label_smoothing_factor > 0` or a `compute_loss_func` (neither is set). So all three TRL
  configurations already use TRL's chunked loss; there is no separate "chunked" baseline to add.
* **Liger** (`use_liger_kernel`): deprecated in this TRL, and its fused linear cross-entropy is
  refused by `SFTTrainer` (it would replace the fused head); Liger's kernels are Triton (CUDA)
  anyway, as are the Hub kernels (`model_init_kwargs={{"use_kernels": True}}`, which also need
  the Hub). Not usable on this CPU machine; not used.
* **`activation_offloading`** moves activations to CPU memory: nothing to gain on CPU; not used.
* **`padding_free=True` without packing** is the third baseline. Its SFTConfig help says it is
  supported only with FlashAttention 2/3; on CPU with sdpa, transformers builds a block-diagonal
  mask from the `position_ids` instead, which is correct: the first step (the same {BATCH} rows)
  gives loss {first['trl']['first_loss']:.6f} padded (`trl`) and {first['trl_padding_free']['first_loss']:.6f} padding-free
  (relative difference {loss_rel:.1e}).

At this benchmark's vocabulary ({first['netft']['vocab']:,} tokens) a whole step's logits are small, so the
loss path matters little to these numbers; the Llama-3-vocabulary comparison of netft's chunked
and full-logits paths is `make bench-logits` (docs/scale.md).

## Fairness caveats

* Loss: TRL computes the loss on every token by default (assistant-only loss needs
  `{{% generation %}}` markers in the chat template, which ours lacks); netft computes it on
  assistant tokens only. Neither side materialises the full logits (see above), and on CPU both
  heads project every position, ignored ones included. TRL's head recomputes each tile's
  projection in backward (4 head matmuls per step); netft's computes the chunk's gradients
  while its logits exist in the forward pass (3; the price is one float32 weight-sized buffer).
* Steps hold different amounts of work: TRL packing puts {BATCH} full {MAX_LENGTH}-token rows
  in a step (several times the tokens of the other configurations), netft ~{BATCH} examples
  packed into {micro} rows. tokens/s normalises for this, but larger steps amortise the
  optimizer step over more tokens, which favours TRL packing.
* TRL's padding-free batches (`trl_padding_free`, `trl_packing`) flatten the whole step into
  one sequence; on CPU (no flash-attention varlen kernels) sdpa then attends over that whole
  flattened sequence with the block-diagonal mask, i.e. attention cost grows with the step's
  total length. netft's packed rows are at most {MAX_LENGTH} tokens.
* TRL also computes per-step token accuracy / entropy metrics (its default) and goes through
  the HF Trainer/accelerate loop; those overheads are part of "TRL defaults" here.
* Optimizer: TRL uses the HF Trainer default optimizer (`adamw_torch_fused`); netft uses
  `torch.optim.AdamW` (fused only on CUDA). LR schedules differ (netft cosine with warm-up,
  TRL linear); they do not affect speed.
* Few timed steps on a shared machine (load above): in this run one configuration's tokens/s
  varied up to {worst:.1f}x between runs ({worst_name}; the per-run column). The per-round
  ratios (runs of one round are adjacent in time) show how far the medians' ratios can be
  trusted; with a spread of more than a few percent, rerun on a quiet machine before quoting.
"""
    # Only this script's block of the page: sections written by hand (the GPU recipe) stay.
    sys.path.insert(0, str(ROOT / "scripts"))
    from gen_docs import write_block

    write_block(path, "bench/bench_sft.py", doc)


if __name__ == "__main__":
    main()
