"""`netft interpolate <run>`: WiSE-FT-style interpolation between the base and the fine-tuned
weights, evaluated along a grid of alpha without retraining.

    theta(alpha) = (1 - alpha) * theta_base + alpha * theta_final
For LoRA this is the adapter's update scaled by alpha (theta_base + alpha * B A), done by
scaling lora_B, so alpha=0 is exactly the base and alpha=1 exactly the adapter run. Each point
is measured by the run's own `evaluate` (validation loss, general perplexity with its
interval, KL from the base on the run's recorded probe, domain score), so alpha=0 and alpha=1
reproduce the run's epoch-0 and last-epoch numbers. Results go to <run>/interpolation.json,
which `netft report` adds to its learning-vs-forgetting frontier.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from omegaconf import OmegaConf

from netft.distributed import DistInfo
from netft.errors import UsageError


def interpolated_model(cfg, final_dir: Path, alpha: float, device: torch.device):
    from netft.models.load import load_model, resolve_path

    base = load_model(resolve_path(cfg.model), cfg.model, cfg.method, device)
    if cfg.method.name == "full":
        from transformers import AutoModelForCausalLM

        tuned = AutoModelForCausalLM.from_pretrained(final_dir, dtype=base.dtype).state_dict()
        with torch.no_grad():
            for name, t in base.state_dict().items():
                if t.is_floating_point():
                    t.copy_((1 - alpha) * t + alpha * tuned[name].to(t.device))
        return base
    if getattr(cfg.method, "use_dora", False):
        raise UsageError("interpolation of DoRA adapters is not linear in the adapter; "
                         "use method=lora")
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, final_dir, is_trainable=True)  # the engine wants
    # trainable parameters for its optimizer; nothing is ever stepped here
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(alpha)
    return model


def interpolate(run_dir: Path, alphas: list[float], max_items: int | None = None,
                say=print) -> list[dict]:
    from netft.eval.probes import general_windows, kl_probe
    from netft.models.load import load_tokenizer, resolve_path
    from netft.objectives.tasks import build_task
    from netft.parallel.backends import DEFAULT as DEFAULT_BACKEND
    from netft.parallel.engine import build_torch_engine
    from netft.eval.epoch import domain_eval_rows, evaluate, near_domain_probe

    run_dir = Path(run_dir)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    cfg.parallel.name, cfg.parallel.activation_checkpointing = DEFAULT_BACKEND, False
    if max_items is not None:
        cfg.eval.domain_max_items = max_items
    final_dir = run_dir / "final"
    if not final_dir.exists():
        raise FileNotFoundError(f"{run_dir}/final not found: interpolate a finished netft run")
    if not (run_dir / "kl_base.safetensors").exists():
        cfg.eval.kl_probe = False  # the base distribution was not recorded by this run
    info = DistInfo(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    tokenizer = load_tokenizer(resolve_path(cfg.model), cfg.model)
    # The probe text does not depend on alpha: tokenised once.
    general = general_windows(tokenizer, cfg.eval.general_max_tokens) if cfg.eval.general_ppl else []
    near = near_domain_probe(tokenizer, cfg, say)
    points = []
    for alpha in alphas:
        model = interpolated_model(cfg, final_dir, alpha, info.device)
        engine = build_torch_engine(model, cfg, info, total_steps=1)
        task = build_task(cfg, tokenizer, model, say=lambda *a: None)
        probes = {"general": general, "near": near,
                  "kl": kl_probe(engine.module, general, task.val, cfg.eval, info,
                                 run_dir / "kl_base.safetensors", near)}
        out = run_dir / "interpolation" / f"alpha-{alpha:g}"
        record = evaluate(engine, tokenizer, task, cfg, info, probes, domain_eval_rows(cfg),
                          0, 0, out)
        # a point is written as {"alpha", ...the record's measurements} (no epoch or step)
        point = replace(record, alpha=alpha, epoch=None, step=None).to_json()
        say(f"[netft] alpha {alpha:g}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in point.items() if isinstance(v, float) and k != "alpha"))
        points.append(point)
        del engine, model
    (run_dir / "interpolation.json").write_text(json.dumps(points, indent=2))
    return points
