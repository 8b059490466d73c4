"""The typed config schema and the checks that run before any model is loaded.

Hydra composes `conf/` on top of `NetftConfig` (registered as `netft_schema`), so an unknown
key or a value of the wrong type fails at composition, naming the key. Combinations that
type-check but cannot work (qlora + zero3, flash-attn on CPU, ...) are rejected by
`validate()`, again before anything heavy happens.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from netft.errors import ConfigError  # noqa: F401  (re-exported: netft.config.ConfigError)
from netft.parallel.backends import DEFAULT as DEFAULT_BACKEND
from netft.parallel.backends import NAMES as BACKEND_NAMES
from netft.parallel.backends import backend

ASSETS = Path(__file__).resolve().parent / "assets"
# The config groups: conf/ at the top of the repository (a checkout, an editable install); a
# wheel carries them as netft/conf (setup.py), so an installed netft finds them from any working
# directory. Users add their own with --config-dir or hydra.searchpath.
_PACKAGE = Path(__file__).resolve().parent
CONF_DIR = next((d for d in (_PACKAGE / "conf", _PACKAGE.parent / "conf")
                 if (d / "config.yaml").is_file()), _PACKAGE.parent / "conf")


@dataclass
class ModelConfig:
    # "tiny" builds (once, then cached) the offline tiny Llama; else a hub id or local folder.
    name_or_path: str = "tiny"
    cache_dir: str = "${oc.env:NETFT_CACHE,'~/.cache/netft'}"
    # auto: flash_attention_2 on CUDA when installed, else sdpa.
    attn_implementation: str = "auto"
    # auto: bfloat16 on CUDA, float32 on CPU.
    dtype: str = "auto"
    trust_remote_code: bool = False
    revision: Optional[str] = None
    # Liger Triton kernels (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy): CUDA only.
    liger: bool = False
    # Build the architecture in name_or_path/config.json with random weights (benchmarks).
    random_init: bool = False
    # Chat template (a Jinja file path or the template text) replacing the tokenizer's own:
    # base models without one can then train on chat rows.
    chat_template: Optional[str] = None


@dataclass
class MethodConfig:
    name: str = "lora"  # full | lora | qlora
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    # "all-linear" or a list of module names.
    target_modules: Any = "all-linear"
    # PEFT's variants, as forgetting mitigations to compare on the same frontier: DoRA
    # (weight-decomposed) and rsLoRA (scaling alpha/sqrt(r), stable at high rank). PiSSA/OLoRA
    # initialisations are not offered: they rewrite the base weights, so "adapter off" stops
    # being the base model (DPO reference, KL probe, interpolation) and final/ would need
    # PEFT's conversion to load on the original base.
    use_dora: bool = False
    use_rslora: bool = False


@dataclass
class ParallelConfig:
    name: str = DEFAULT_BACKEND  # one of parallel/backends.py's NAMES
    activation_checkpointing: bool = False
    cpu_offload: bool = False
    # fsdp2 on 2+ ranks: only rank 0 reads the checkpoint; the other ranks build the model on
    # the meta device and receive their shards (netft/parallel/meta_load.py). false = every rank
    # loads the whole model first (the old path; kept for comparisons).
    meta_load: bool = True
    # fsdp2 full fine-tunes export final/ file by file from the shards (netft/run/final_weights.py); one
    # file's worth of tensors is the most any rank holds beyond its shards.
    export_shard_mb: int = 512
    # Backend of the process group: auto = nccl on CUDA, gloo on CPU.
    backend: str = "auto"
    # fsdp2 with train.grad_accum > 1: false (default) accumulates unsharded gradients over
    # the micro-batches and reduce-scatters once per step; true reduce-scatters after every
    # micro-batch (gradients stay sharded: less memory, grad_accum x the communication).
    grad_sync_every_microbatch: bool = False


@dataclass
class ObjectiveConfig:
    name: str = "sft"  # sft | dpo
    # DPO: strength of the pull towards the reference policy; loss sigmoid (DPO) or ipo.
    beta: float = 0.1
    loss: str = "sigmoid"
    # IPO only: answer log-probs averaged per token (the IPO paper's and TRL's form) or summed.
    ipo_logps: str = "mean"


@dataclass
class DataConfig:
    name: str = "own"
    # What "domain skill" means for this data: a pack in netft/domains (chat, the default:
    # exact/overlap/abstention for any chat data) or an importable module defining DOMAIN.
    domain_pack: str = "chat"
    # JSONL files of {"messages": [...]} rows; `${asset:...}` points into the package.
    train_files: List[str] = field(default_factory=list)
    validation_files: List[str] = field(default_factory=list)
    test_files: List[str] = field(default_factory=list)
    # Rows longer than train.max_length after tokenisation: drop (counted) or truncate.
    overlong: str = "drop"
    # Drop exact and near-duplicate training rows (MinHash Jaccard >= near_dup_threshold).
    dedup: bool = True
    near_dup_threshold: float = 0.9
    # Refuse to train when held-out prompts appear in the training data.
    contamination_check: bool = True
    # Share of general-purpose rows in the training mix (replay against forgetting), taken
    # from general_files (chat JSONL) or, when empty, the shipped general English text.
    general_mix: float = 0.0
    general_files: List[str] = field(default_factory=list)


@dataclass
class TrainConfig:
    epochs: int = 3
    max_steps: int = -1  # > 0 stops early (smoke tests, benchmarks)
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    schedule: str = "cosine"  # cosine | linear | constant
    warmup_ratio: float = 0.05
    micro_batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 512
    max_grad_norm: float = 1.0
    packing: bool = True
    # Output layer + loss over this many token positions at a time, never the whole logits
    # (netft/objectives/loss_head.py; exact). 0: the full logits, as a plain forward.
    loss_chunk_tokens: int = 256
    # torch.compile each decoder layer (after sharding, so FSDP2 hooks stay outside).
    compile: bool = False
    seed: int = 0
    # Checkpoints: every N optimizer steps (0: off) and at each epoch end; keep the last K.
    save_every_steps: int = 0
    save_every_epoch: bool = True
    # Read the step metrics back to the host (log them, check loss and gradient norm for
    # NaN/inf) every N optimizer steps, and at every checkpoint, epoch end and the last step.
    # Between those the GPU queue never waits for the host. 1: every step.
    log_every: int = 1
    keep_checkpoints: int = 2
    # auto: continue from the newest complete checkpoint in run_dir; never; or a path.
    resume: str = "auto"
    # What netft-train returns to Hydra sweepers (Optuna minimises it): a summary.json key
    # (final_val_loss, final_train_loss) or a key of the last eval record (general_ppl, ...).
    sweep_metric: str = "final_val_loss"
    # Resume even when geometry, data or optimizer settings differ from the checkpoint's.
    resume_force: bool = False


@dataclass
class EvalConfig:
    val_every_epoch: bool = True
    val_before_training: bool = True
    # General capability: perplexity on shipped held-out general English (forgetting probe).
    general_ppl: bool = True
    general_max_tokens: int = 16384
    # Near-domain forgetting: perplexity (and KL, with kl_probe) on real text close to the
    # domain but outside its training data, given by the domain pack (Domain.near_domain; the
    # netops pack: NX-OS, ASA, IOS-XR configs). Off by itself when the pack has none or its
    # source is not installed (the run says so). Each text gets an equal share of the tokens.
    near_domain: bool = True
    near_max_tokens: int = 16384
    # lm-eval-harness tasks for general capability (accuracy; forgetting = its drop), e.g.
    # [hellaswag, arc_challenge, winogrande] for real models, or [netft_general_cloze]
    # (offline, built from the shipped held-out text). Empty: off.
    lm_eval_tasks: List[str] = field(default_factory=list)
    lm_eval_limit: int = 0  # items per task (0: all)
    # Distribution shift from the base model: KL(base || current) per token on a fixed probe
    # (first kl_windows general windows, first kl_examples validation items), base top-k
    # log-probs recorded before step 1 (exact when kl_top_k >= vocabulary size).
    kl_probe: bool = True
    kl_top_k: int = 256
    kl_windows: int = 4
    kl_examples: int = 16
    # Stop after this many epochs without a better validation loss (0: never).
    early_stopping_patience: int = 0
    # Export the best epoch (lowest validation loss) to <run_dir>/best as well as final/.
    keep_best: bool = True
    val_micro_batch_size: int = 8
    # The starting model's evaluation (epoch 0) is computed once per (model, eval data, eval
    # settings) and reused from $NETFT_CACHE/base-eval by later runs (eval/base_cache.py).
    base_cache: bool = True
    # Domain skill: greedy answers to the held-out test items (data.test_files), scored by
    # the data's domain pack (data.domain_pack) at epoch 0 and after every epoch.
    domain: bool = True
    domain_max_items: int = 0  # 0: all (the first 32 when train.max_steps > 0: a smoke run)
    max_new_tokens: int = 256
    gen_batch_size: int = 16
    # Under FSDP2/ZeRO-3, generate the domain eval from a whole copy of the weights gathered
    # once, when it fits (auto), instead of gathering every layer per new token (never).
    gen_whole_copy: str = "auto"
    # Print this many example answers after training.
    sample_generations: int = 2
    # Stratified human-review sheet (CSV + HTML) of the last evaluation, in <run_dir>/review.
    review_items: int = 150
    # Published benchmark suites (netft/eval/suites.py; e.g. [netconfeval]) run on the starting
    # model and on the final one (not every epoch: a full suite is thousands of generations),
    # into <run_dir>/eval/suites/<name>/{base,final}. suite_limit: requests per task and run
    # (0: all); suite_runs: the benchmark's seeded runs.
    suites: List[str] = field(default_factory=list)
    suite_runs: int = 5
    suite_limit: int = 0
    suite_max_new_tokens: int = 0  # 0: the benchmark's own cap


@dataclass
class LoggerConfig:
    name: str = "wandb"  # wandb | none
    project: str = "netft"
    entity: Optional[str] = None
    group: Optional[str] = None
    tags: List[str] = field(default_factory=list)
    # auto: online when WANDB_API_KEY is set, else offline (run files under the run dir).
    mode: str = "auto"


@dataclass
class NetftConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    # Where the run writes config.yaml, metrics.jsonl, summary.json, final/.
    run_dir: Optional[str] = MISSING  # None only under `--cfg job --resolve` (no run yet)


def register() -> None:
    ConfigStore.instance().store(name="netft_schema", node=NetftConfig)
    if not OmegaConf.has_resolver("asset"):
        OmegaConf.register_new_resolver("asset", lambda rel: str(ASSETS / rel))
    if not OmegaConf.has_resolver("flat"):
        # Sweep folder names from overrides: a path value (model.name_or_path=/m/x) must not
        # nest the run into sub-folders, and one name must stay under the 255-byte limit.
        OmegaConf.register_new_resolver("flat", lambda s: re.sub(r"[/\\]+", "_", str(s))[:200])


register()

CHOICES = {
    "method.name": ("full", "lora", "qlora"),
    "parallel.name": BACKEND_NAMES,
    "parallel.backend": ("auto", "gloo", "nccl"),
    "objective.name": ("sft", "dpo"),
    "objective.loss": ("sigmoid", "ipo"),
    "objective.ipo_logps": ("mean", "sum"),
    "train.schedule": ("cosine", "linear", "constant"),
    "data.overlong": ("drop", "truncate"),
    "logger.name": ("wandb", "none"),
    "logger.mode": ("auto", "online", "offline", "disabled"),
    "model.dtype": ("auto", "float32", "bfloat16", "float16"),
    "model.attn_implementation": ("auto", "sdpa", "eager", "flash_attention_2"),
    "eval.gen_whole_copy": ("auto", "never"),
}


def env_world() -> int:
    """World size the launcher gave this process (torchrun or srun); 1 for a plain process."""
    from netft.distributed import env_ranks

    return env_ranks()[1] if "RANK" not in os.environ else max(
        int(os.environ.get("WORLD_SIZE", "1")), 2)


def _get(cfg: DictConfig, dotted: str) -> Any:
    return OmegaConf.select(cfg, dotted)


def validate(cfg: DictConfig, cuda_available: Optional[bool] = None,
             world: Optional[int] = None) -> None:
    """Reject impossible combinations before any model is loaded. Raises ConfigError."""
    import torch

    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    # Hydra's `+key=value` appends past struct mode; re-check every key against the schema.
    try:
        OmegaConf.merge(OmegaConf.structured(NetftConfig), OmegaConf.to_container(cfg))
    except (ConfigKeyError, ValidationError) as e:
        raise ConfigError(f"{e.full_key}: {e.msg.splitlines()[0]} (see netft/config.py for the "
                          "schema)") from None
    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(allowed)}.")

    def positive(key: str) -> None:
        if _get(cfg, key) <= 0:
            raise ConfigError(f"{key}={_get(cfg, key)} must be > 0.")

    for key in ("train.epochs", "train.lr", "train.micro_batch_size", "train.grad_accum",
                "train.max_length", "eval.val_micro_batch_size"):
        positive(key)
    if cfg.objective.name == "dpo":
        positive("objective.beta")
        if cfg.data.general_mix > 0:
            raise ConfigError("data.general_mix applies to SFT; with objective=dpo set it to 0.")
    if not 0 <= cfg.data.general_mix < 1:
        raise ConfigError(f"data.general_mix={cfg.data.general_mix} must be in [0, 1).")
    if not 0 <= cfg.train.warmup_ratio < 1:
        raise ConfigError(f"train.warmup_ratio={cfg.train.warmup_ratio} must be in [0, 1).")
    if cfg.method.name in ("lora", "qlora"):
        positive("method.lora_r")
        positive("method.lora_alpha")
        if not 0 <= cfg.method.lora_dropout < 1:
            raise ConfigError(f"method.lora_dropout={cfg.method.lora_dropout} must be in [0, 1).")
    # Values that type-check but cannot be meant: a negative clip norm reverses the update,
    # 0 stops learning, max_steps=0 / keep_checkpoints=0 used to mean "unlimited".
    positive("train.max_grad_norm")
    if cfg.train.max_steps == 0 or cfg.train.max_steps < -1:
        raise ConfigError(f"train.max_steps={cfg.train.max_steps} must be -1 (no limit) or > 0.")
    if cfg.train.keep_checkpoints < 1:
        raise ConfigError(f"train.keep_checkpoints={cfg.train.keep_checkpoints} must be >= 1 "
                          "(the newest checkpoint is what a resume needs).")
    if cfg.train.save_every_steps < 0:
        raise ConfigError(f"train.save_every_steps={cfg.train.save_every_steps} must be >= 0 "
                          "(0: only at epoch ends).")
    if cfg.train.log_every < 1:
        raise ConfigError(f"train.log_every={cfg.train.log_every} must be >= 1 (1: every step).")
    if cfg.train.loss_chunk_tokens < 0:
        raise ConfigError(f"train.loss_chunk_tokens={cfg.train.loss_chunk_tokens} must be >= 0 "
                          "(0: the full logits).")
    if cfg.train.weight_decay < 0:
        raise ConfigError(f"train.weight_decay={cfg.train.weight_decay} must be >= 0.")
    betas = list(cfg.train.betas)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigError(f"train.betas={betas} must be two numbers in [0, 1), e.g. "
                          "'train.betas=[0.9,0.999]'.")
    if not 0 < cfg.data.near_dup_threshold <= 1:
        raise ConfigError(f"data.near_dup_threshold={cfg.data.near_dup_threshold} must be in "
                          "(0, 1].")
    for key in ("eval.max_new_tokens", "eval.gen_batch_size"):
        positive(key)
    tm = cfg.method.target_modules
    if cfg.method.name != "full" and not (tm == "all-linear" or (
            not isinstance(tm, str) and len(tm) and all(isinstance(t, str) and t for t in tm))):
        raise ConfigError(f"method.target_modules={tm!r} must be all-linear or a list of module "
                          "names, e.g. '[q_proj,v_proj]'.")

    method = cfg.method.name
    if method == "qlora":
        try:
            import bitsandbytes
        except ImportError as e:
            raise ConfigError("method=qlora needs bitsandbytes: pip install 'netft[gpu]'.") from e
        # bitsandbytes >= 0.46 ships a CPU backend for NF4 (measured to train here with
        # 0.50.2, docs/scale.md); older versions need CUDA.
        version = tuple(int(x) for x in bitsandbytes.__version__.split(".")[:2])
        if not cuda and version < (0, 46):
            raise ConfigError(
                f"method=qlora on CPU needs bitsandbytes >= 0.46 (CPU NF4 backend); "
                f"{bitsandbytes.__version__} is installed. Use method=lora, or a GPU node.")
    from netft.parallel.engine import unsupported  # what the chosen backend cannot do

    if (problem := unsupported(cfg)) is not None:
        raise ConfigError(problem)
    if cfg.model.attn_implementation == "flash_attention_2":
        if not cuda:
            raise ConfigError(
                "model.attn_implementation=flash_attention_2 needs CUDA; use auto or sdpa on CPU.")
        if cfg.model.dtype == "float32":
            raise ConfigError(
                "model.attn_implementation=flash_attention_2 with model.dtype=float32: "
                "flash-attn's kernels run in bfloat16/float16 only; set model.dtype=bfloat16 "
                "(or auto), or model.attn_implementation=sdpa.")
        from netft.models.load import flash_attn_problem

        problem = flash_attn_problem()
        if problem is not None:
            raise ConfigError(
                f"model.attn_implementation=flash_attention_2 but flash-attn does not load "
                f"({problem}): pip install 'netft[gpu]' (a wheel built for this torch and "
                "CUDA), or set model.attn_implementation=auto.")
    if cfg.model.liger:
        if not cuda:
            raise ConfigError("model.liger=true needs CUDA (Triton kernels); set it to false.")
        try:
            import liger_kernel  # noqa: F401
        except ImportError as e:
            raise ConfigError("model.liger=true needs liger-kernel: pip install 'netft[gpu]'.") from e
    if cfg.parallel.backend == "nccl" and not cuda:
        raise ConfigError("parallel.backend=nccl needs CUDA; use auto or gloo on CPU.")

    if cfg.eval.domain and cfg.data.test_files:
        _domain_preflight(cfg)
    for key in ("data.train_files", "data.validation_files", "data.test_files",
                "data.general_files"):
        files = _get(cfg, key)
        if key == "data.train_files" and not files:
            raise ConfigError("data.train_files is empty: name at least one JSONL file.")
        from netft.data.formats import source_exists

        for f in files:
            if not source_exists(f):  # a local file/folder (path:split) or a hub dataset id
                raise ConfigError(f"{key}: file not found: {f}")
    model = str(cfg.model.name_or_path)
    local = Path(model).expanduser()
    if model != "tiny" and (local.exists() or model.startswith(("/", ".", "~"))
                            or model.count("/") > 1):
        if not local.is_dir():
            raise ConfigError(f"model.name_or_path={model}: no such folder; give a local model "
                              "folder (with config.json) or a hub id like org/name.")
        if not (local / "config.json").exists() and not (local / "adapter_config.json").exists():
            raise ConfigError(f"model.name_or_path={model}: the folder has no config.json, so it "
                              "is not a transformers model folder (was the download finished?).")
    # Last: an impossible combination is reported as such, not as a launch problem.
    # world: the number of processes of this launch (default: from torchrun's / Slurm's env).
    if backend(cfg.parallel.name).multi_rank and (env_world() if world is None else world) == 1:
        raise ConfigError(
            f"parallel={cfg.parallel.name} runs one process per device, but this is a single "
            "plain process: launch with torchrun (torchrun --nproc-per-node N -m netft.train "
            f"...), launch/local.sh or srun; for one process use parallel={DEFAULT_BACKEND}.")


def _domain_preflight(cfg) -> None:
    """The pack exists, and this machine has what it needs to score the test rows (e.g. a
    verifier's binary). Unreadable files fail later, with file:line."""
    from netft import domains
    from netft.data.curation import read_sources

    pack = domains.load(cfg.data.domain_pack)
    try:
        rows = read_sources(cfg.data.test_files)
    except Exception:  # noqa: BLE001 - reported by the data path with file:line
        return
    pack.preflight(rows)


# "token" only as a key's last word (hf_token, access_token), not max_new_tokens: the saved
# config must stay loadable (netft interpolate/eval read it back).
_SECRET = re.compile(r"(api_?key|secret|password|(^|_)token$)", re.IGNORECASE)


def redact(obj: Any) -> Any:
    """Copy of a plain config container with anything that looks like a secret removed."""
    if isinstance(obj, dict):
        return {k: ("<redacted>" if _SECRET.search(str(k)) else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str) and os.environ.get("WANDB_API_KEY") and os.environ["WANDB_API_KEY"] in obj:
        return "<redacted>"
    return obj


def to_plain(cfg: DictConfig) -> dict:
    """Resolved, redacted plain dict: what goes into config.yaml and W&B."""
    return redact(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False))
