"""General capability through lm-eval-harness (HellaSwag, ARC-Challenge, WinoGrande for real
models; an offline local task on the shipped general text for the tiny one and the tests).

Works on any backend: the full weights are gathered from their shards (a collective every
rank joins), rank 0 rebuilds an unsharded copy and runs lm-eval on it while the other ranks
wait at a barrier. Accuracy average over the tasks is the `general_acc` that forgetting
compares with the base model's (Biderman et al. 2024).
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import torch

from netft.distributed import DistInfo, barrier

LOCAL_TASK = "netft_general_cloze"


def local_task_dir(cache_dir: str | Path, n_items: int = 200, seed: int = 0) -> Path:
    """A 4-way cloze task built from the held-out general text: context -> the true next
    words vs three continuations taken from elsewhere. Offline, deterministic, cached."""
    from netft.data.corpus import corpus_texts

    out = Path(cache_dir).expanduser() / "lm_eval_tasks"
    data = out / f"{LOCAL_TASK}.jsonl"
    if not data.exists():
        words = re.findall(r"\S+", corpus_texts()["general_heldout"])
        rng = random.Random(seed)
        rows = []
        for _ in range(n_items):
            i = rng.randrange(40, len(words) - 10)
            true = " ".join(words[i:i + 4])
            fakes = [" ".join(words[j:j + 4]) for j in rng.sample(range(len(words) - 4), 3)]
            choices = [true] + fakes
            rng.shuffle(choices)
            rows.append({"context": " ".join(words[i - 30:i]), "choices": choices,
                         "label": choices.index(true)})
        out.mkdir(parents=True, exist_ok=True)
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / f"{LOCAL_TASK}.yaml").write_text(
        f"task: {LOCAL_TASK}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {data}\ntest_split: test\noutput_type: multiple_choice\n"
        "doc_to_text: \"{{context}}\"\ndoc_to_choice: \"{{choices}}\"\n"
        "doc_to_target: \"{{label}}\"\ntarget_delimiter: \" \"\n"
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n")
    return out


def run_lm_eval(model, tokenizer, tasks: list[str], device, limit: int | None = None,
                include_path: str | None = None, batch_size: int = 8) -> dict:
    """{task: accuracy} and "general_acc" (their mean), for an unsharded model."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=str(device))
    res = simple_evaluate(model=lm, tasks=list(tasks), limit=limit, log_samples=False,
                          bootstrap_iters=0, task_manager=TaskManager(include_path=include_path))
    scores = {t: float(r.get("acc_norm,none", r.get("acc,none")))
              for t, r in res["results"].items() if "acc,none" in r or "acc_norm,none" in r}
    scores["general_acc"] = sum(scores.values()) / len(scores)
    return scores


def unsharded_copy(engine, state: dict | None):
    """A plain (unsharded) copy of the engine's model, on CPU, from a full state dict."""
    from transformers import AutoModelForCausalLM

    model = engine.model
    peft_config = getattr(model, "peft_config", None)
    base_config = model.get_base_model().config if peft_config else model.config
    with engine.whole_model_init():  # whole, not as partitions of a sharded backend
        # sdpa whatever the run trains with: lm-eval right-pads its batches without a mask (exact
        # under causal attention) and this copy is float32, which flash-attn kernels refuse.
        copy = AutoModelForCausalLM.from_config(base_config, attn_implementation="sdpa")
        if peft_config:
            from peft import get_peft_model

            copy = get_peft_model(copy, peft_config["default"])
        # qlora: the packed 4-bit base decoded to plain weights (what its forward computes
        # with), never the packed containers into the unquantised copy's full-size tensors.
        from netft.models.load import dequantize_state

        if state is not None:  # None: the skeleton only (its values are sent by rank 0)
            missing, unexpected = copy.load_state_dict(dequantize_state(state), strict=False)
            if unexpected or any("lora_" in k for k in missing):
                raise RuntimeError(f"state dict does not fit the model copy: {unexpected[:3]} "
                                   f"{missing[:3]}")
    return copy.eval()


def general_accuracy(engine, tokenizer, eval_cfg, cache_dir, info: DistInfo) -> dict:
    """lm-eval accuracies of the current weights (rank 0's numbers; {} on other ranks)."""
    state = engine.full_state_dict()  # collective
    scores = {}
    if info.is_main:
        tasks = list(eval_cfg.lm_eval_tasks)
        include = str(local_task_dir(cache_dir)) if LOCAL_TASK in tasks else None
        device = info.device if info.device.type == "cuda" else torch.device("cpu")
        copy = unsharded_copy(engine, state).to(device)
        scores = run_lm_eval(copy, tokenizer, tasks, device,
                             limit=eval_cfg.lm_eval_limit or None, include_path=include)
        del copy
    barrier(info)
    return scores
