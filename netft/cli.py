"""`netft`: everything around a training run (training itself is `netft-train`, the Hydra app).

    netft build-tiny [--domain P --out DIR]  build / locate the tiny base model
    netft data check FILE...               validate chat JSONL, print what would be dropped
    netft data split SRC OUT_DIR           fixed hash-based train/validation/test split
    netft eval RUN_DIR|MODEL               domain eval (verifiers) + human-review sheet
    netft eval --suite netconfeval RUN_DIR|MODEL   a published benchmark (NetConfEval), offline
    netft suite import netconfeval CLONE [--out DIR]   build its data set from your clone of it
    netft review import SHEET.csv          fold a filled review sheet into a run's summary
    netft report DIR...                    learning-vs-forgetting report (HTML + Markdown)
    netft data convert IN OUT              Alpaca/ShareGPT/prompt-completion/... -> chat JSONL
    netft merge RUN|ADAPTER --out DIR      LoRA adapter -> standalone HF model
    netft export RUN|MODEL --out DIR       model folder for serving (+ generation config)
    netft chat RUN|MODEL [--prompt TEXT]   streaming chat; one turn with --prompt
    netft plan [--world 8] [--gpu-gb 80] OVERRIDES...   memory per device before launching
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def cmd_build_tiny(args) -> int:
    from pathlib import Path

    from netft.errors import UsageError
    from netft.models.tiny import ensure_tiny

    if Path(args.cache_dir).expanduser().is_file():
        raise UsageError(f"--cache-dir {args.cache_dir} is a file; give a folder (created if "
                         "missing)")
    if args.out:  # a build of its own, e.g. to check a shipped base against its recipe
        from netft.models.tiny import SHIPPED, TinySpec, build_tiny, domain_spec

        out = Path(args.out)
        if out.exists() and any(out.iterdir()):
            raise UsageError(f"--out {out} is not empty; give a new folder")
        info = build_tiny(out, domain_spec(args.domain) if args.domain else TinySpec())
        shipped = SHIPPED / f"tiny-{args.domain}" / "netft_tiny.json"
        if args.domain and shipped.is_file():
            same = json.loads(shipped.read_text())["sha256"] == info["sha256"]
            print(f"same files as the shipped {shipped.parent.name}: {'yes' if same else 'NO'}")
        path = out
    elif args.domain:
        raise UsageError(f"--domain {args.domain}: give --out DIR (a domain's base is built "
                         "into a folder, not the cache)")
    else:
        path = ensure_tiny(args.cache_dir)
        info = json.loads((path / "netft_tiny.json").read_text())
    print(path)
    print(f"params {info['params']:,}; general held-out ppl {info['general_heldout_ppl']:.1f} "
          f"(untrained {info['general_heldout_ppl_untrained']:.1f}); built in "
          f"{info['build_seconds']} s")
    return 0


def cmd_data_check(args) -> int:
    from netft.data.curation import load_examples
    from netft.models.load import load_tokenizer
    from netft.models.tiny import ensure_tiny
    from omegaconf import OmegaConf

    path = args.tokenizer or str(ensure_tiny(args.cache_dir))
    tok = load_tokenizer(path, OmegaConf.create({"revision": None, "trust_remote_code": False}))
    for f in args.files:
        _, report = load_examples([f], tok, args.max_length, "drop")
        print(report.line(f))
    return 0


def cmd_data_split(args) -> int:
    from netft.data.split import write_splits

    counts = write_splits(args.source, args.out_dir, args.test_frac, args.val_frac)
    print(json.dumps(counts))
    return 0


def cmd_data_convert(args) -> int:
    from pathlib import Path

    from netft.data.curation import read_sources
    from netft.data.formats import clean

    rows = read_sources(args.inputs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(clean(row), ensure_ascii=False) + "\n")
    kinds = {"chat": sum("messages" in r for r in rows), "text": sum("messages" not in r for r in rows)}
    print(f"[netft] {len(rows)} rows ({kinds['chat']} chat, {kinds['text']} text) -> {out}")
    return 0


def _push(args, folder) -> None:
    if args.push_to_hub:
        from netft.serving import push_to_hub

        url = push_to_hub(folder, args.push_to_hub, private=not args.public)
        print(f"[netft] pushed {folder} to {args.push_to_hub}: {url}")


def cmd_merge(args) -> int:
    from netft.serving import merge

    out = merge(args.target, args.out, args.dtype, args.which)
    print(f"[netft] merged model in {out}")
    _push(args, out)
    return 0


def cmd_export(args) -> int:
    from netft.serving import export

    out, note = export(args.target, args.out, args.dtype, args.which, gguf=args.gguf)
    print(f"[netft] serving export in {out} (safetensors, tokenizer, generation_config.json)")
    if note:
        print(f"[netft] {note}")
    _push(args, out)
    return 0


def cmd_chat(args) -> int:
    from netft.serving import chat

    chat(args.target, prompt=args.prompt, system=args.system, which=args.which,
         max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("netft")
    except PackageNotFoundError:  # a source checkout on PYTHONPATH
        import re
        from pathlib import Path

        text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
        return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def _load_for_eval(path, device):
    """An HF model folder or a PEFT adapter folder, loaded with plain transformers/PEFT."""
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if (path / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path)
    else:
        model = AutoModelForCausalLM.from_pretrained(path)
    return model.to(device), tok


def cmd_eval_suite(args, run_dir, model_dir) -> int:
    """A published benchmark suite (netft/eval/suites.py) on a model folder or a run dir."""
    from pathlib import Path

    import torch

    from netft.distributed import DistInfo
    from netft.eval.suites import load, run_suite

    suite = load(args.suite)
    out = Path(args.out) if args.out else (run_dir / "eval" / "suites" / suite.name / args.which
                                           if run_dir else model_dir / f"netft-{suite.name}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, tok = _load_for_eval(model_dir, device)
    print(f"[netft] {suite.name} on {model_dir}: {args.runs} run(s)"
          f"{f', {args.limit} request(s) per task and run' if args.limit else ''}\n"
          f"[netft] compare with the paper: {suite.citation}")
    result = run_suite(model, tok, suite, DistInfo(device=device), out, runs=args.runs,
                       limit=args.limit, mode=args.mode, batch_size=args.batch_size,
                       max_new_tokens=args.max_new_tokens or 0, attempts=args.attempts)
    print(result["table"])
    if run_dir and (run_dir / "summary.json").exists():
        _update_summary(run_dir, {f"suite_{suite.name}_{args.which}": result["overall"]})
    print(f"[netft] {result['seconds']} s; per-request predictions and scores in {out}")
    return 0


def cmd_suite_import(args) -> int:
    """Build a suite's external data set from the user's own copy of the benchmark."""
    from pathlib import Path

    from netft.errors import ConfigError
    from netft.data.external import ENV, roots
    from netft.eval.suites import load

    suite = load(args.suite, check=False)
    if suite.importer is None:
        raise ConfigError(f"suite {suite.name!r} has no importer (its data needs none)")
    source = Path(args.source)
    if not source.is_dir():
        raise ConfigError(f"{source}: not a folder (a clone of the benchmark's repository)")
    out = Path(args.out) if args.out else roots()[0]
    dest = suite.importer(source, out, Path(args.published) if args.published else None)
    print(f"[netft] wrote {dest}: " + ", ".join(
        sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())))
    print(f"[netft] netft finds it with: export {ENV}={out.resolve()}")
    return 0


def cmd_eval(args) -> int:
    from pathlib import Path

    import torch
    import yaml
    from omegaconf import OmegaConf

    from netft import domains
    from netft.data.curation import read_sources
    from netft.distributed import DistInfo
    from netft.eval.generate import generate_answers
    from netft.eval.review import export_review
    from netft.eval.epoch import save_eval

    target = Path(args.target)
    run_dir = target if (target / "config.yaml").exists() else None
    model_dir = run_dir / args.which if run_dir else target
    if not model_dir.exists():
        raise FileNotFoundError(f"{model_dir} does not exist (a run dir with final/, or a "
                                "model folder)")
    if args.suite:
        return cmd_eval_suite(args, run_dir, model_dir)
    # The run's own data and pack; a bare model folder gets the default data preset's.
    data = (yaml.safe_load((run_dir / "config.yaml").read_text())["data"] if run_dir
            else OmegaConf.to_container(compose_config([]).data, resolve=True))
    files = args.data or data["test_files"]
    pack = domains.load(args.domain_pack or data.get("domain_pack", "chat"))
    rows = pack.eval_rows(read_sources(files))[: args.max_items or None]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, tok = _load_for_eval(model_dir, device)
    print(f"[netft] evaluating {model_dir} on {len(rows)} items from {', '.join(map(str, files))}")
    answers = generate_answers(model, tok, rows, DistInfo(device=device),
                               args.max_new_tokens or 256, args.batch_size)
    result = domains.score(pack, rows, answers)
    out = Path(args.out) if args.out else (run_dir / "eval" / args.which if run_dir
                                           else model_dir / "netft-eval")
    save_eval(out, pack, rows, answers, result)
    print(pack.format_table(result))
    if args.review > 0:
        paths = export_review(rows, answers, out / "review", n=args.review, domain=pack)
        print(f"[netft] human review sheet: {paths['csv']} and {paths['html']}")
    if run_dir and (run_dir / "summary.json").exists():
        _update_summary(run_dir, {f"domain_eval_{args.which}": result["overall"]})
    print(f"[netft] predictions and scores in {out}")
    return 0


def _update_summary(run_dir, extra: dict) -> None:
    from pathlib import Path

    path = Path(run_dir) / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    summary.update(extra)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    os.replace(tmp, path)


def cmd_review_import(args) -> int:
    from netft.eval.review import import_review

    result = import_review(args.sheet)
    print(json.dumps(result, indent=2))
    if args.run_dir:
        _update_summary(args.run_dir, {"human_review": result})
        print(f"[netft] added to {args.run_dir}/summary.json")
    return 0


def cmd_interpolate(args) -> int:
    from pathlib import Path

    from netft.errors import UsageError
    from netft.analysis.interpolate import interpolate

    try:
        alphas = [float(a) for a in args.alphas.split(",")]
    except ValueError:
        raise UsageError(f"--alphas {args.alphas}: give numbers separated by commas, "
                         "e.g. 0,0.25,0.5") from None
    points = interpolate(Path(args.run), alphas, args.max_items)
    print(f"[netft] {len(points)} points in {Path(args.run) / 'interpolation.json'}")
    return 0


def cmd_report(args) -> int:
    from pathlib import Path

    from netft.analysis.report import wandb_report, write_report

    out = Path(args.out) if args.out else Path(args.dirs[0]) / "report"
    result = write_report(args.dirs, out, budget=args.budget, learning=args.learning)
    print(f"[netft] {result['runs']} runs. {result['verdict']}")
    print(f"[netft] report: {result['html']} (and {result['md']})")
    if args.wandb_project:
        report = wandb_report(args.wandb_project, args.wandb_entity, args.wandb_group)
        if os.environ.get("WANDB_API_KEY"):
            report.save()
            print(f"[netft] W&B report: {report.url}")
        else:
            print("[netft] WANDB_API_KEY is not set: W&B report built but not saved")
    return 0


def compose_config(overrides):
    """The run config exactly as netft-train composes it (without Hydra's run dir)."""
    from hydra import compose, initialize_config_dir

    from netft.config import CONF_DIR  # importing netft.config registers the schema

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides) + ["run_dir=."])


def cmd_plan(args) -> int:
    from omegaconf import OmegaConf

    from netft.parallel.backends import PLANNED, backend
    from netft.plan import GiB, advice, estimate, format_estimate, model_shape

    cfg = compose_config(args.overrides)
    shape = model_shape(cfg.model)
    world = args.world if backend(cfg.parallel.name).multi_rank else 1
    print(f"[plan] {cfg.model.name_or_path}, method={cfg.method.name}, "
          f"parallel={cfg.parallel.name}, activation_checkpointing="
          f"{cfg.parallel.activation_checkpointing}, micro_batch_size="
          f"{cfg.train.micro_batch_size} x max_length={cfg.train.max_length}, {args.device}")
    print("[plan] " + format_estimate(estimate(cfg, world, args.device, shape)))
    if args.device == "cuda":
        print("[plan] " + advice(cfg, args.gpu_gb, world, shape))
    if args.table:
        print(f"\n| method | parallel | world | act. ckpt | weights | grads | optimizer | "
              f"activations | logits (chunked / full) | total GiB/device | fits {args.gpu_gb:g} GB |")
        print("|" + "---|" * 11)
        for method in ("full", "lora", "qlora"):
            for par in PLANNED:
                if method == "qlora" and not backend(par).quantized_weights:
                    continue  # refused by netft (config.validate)
                for ac in (False, True):
                    c = OmegaConf.merge(cfg, {"method": {"name": method},
                                              "parallel": {"name": par,
                                                           "activation_checkpointing": ac}})
                    w = args.world if backend(par).multi_rank else 1
                    e = estimate(c, w, args.device, shape)
                    cells = " | ".join(f"{e[k] / GiB:.1f}" for k in
                                       ("weights", "grads", "optimizer", "activations", "logits"))
                    if e["logits"] != e["logits_full"]:  # train.loss_chunk_tokens > 0
                        cells += f" / {e['logits_full'] / GiB:.1f}"
                    fits = "yes" if e["total"] <= args.gpu_gb * GiB else "no"
                    print(f"| {method} | {par} | {w} | {'on' if ac else 'off'} | {cells} | "
                          f"{e['total'] / GiB:.1f} | {fits} |")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="netft", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"netft {_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    default_cache = os.environ.get("NETFT_CACHE", "~/.cache/netft")

    p = sub.add_parser("build-tiny", help="build or locate the cached tiny base model")
    p.add_argument("--cache-dir", default=default_cache)
    p.add_argument("--domain", default=None,
                   help="build the tiny base pre-trained for this domain pack (its base_spec; "
                        "netops: the demo's shipped tiny-netops, ~16 min on one thread)")
    p.add_argument("--out", default=None, help="build into this new folder instead of the cache")
    p.set_defaults(func=cmd_build_tiny)

    data = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data_cmd",
                                                                       required=True)
    p = data.add_parser("check", help="validate chat JSONL files and report drops")
    p.add_argument("files", nargs="+")
    p.add_argument("--tokenizer", default=None, help="tokenizer path (default: the tiny one)")
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--cache-dir", default=default_cache)
    p.set_defaults(func=cmd_data_check)
    p = data.add_parser("split", help="hash-based train/validation/test split")
    p.add_argument("source")
    p.add_argument("out_dir")
    p.add_argument("--test-frac", type=float, default=0.12)
    p.add_argument("--val-frac", type=float, default=0.08)
    p.set_defaults(func=cmd_data_split)

    p = data.add_parser("convert", help="any supported data format -> netft chat JSONL")
    p.add_argument("inputs", nargs="+", metavar="IN",
                   help=".jsonl/.json/.txt/.parquet, a datasets folder (path:split) or a hub id")
    p.add_argument("out", metavar="OUT")
    p.set_defaults(func=cmd_data_convert)

    from netft.serving import DTYPES

    for name, fn, helptext in (
            ("merge", cmd_merge, "fold a run's LoRA adapter into its base: a standalone HF model"),
            ("export", cmd_export, "a model folder for serving: merged safetensors, tokenizer, "
                                   "generation_config.json")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("target", help="run dir (final/ or --which best), adapter or model folder")
        p.add_argument("--out", required=True)
        p.add_argument("--dtype", default="auto", choices=DTYPES)
        p.add_argument("--which", default="final", choices=["final", "best"])
        p.add_argument("--push-to-hub", default=None, metavar="REPO",
                       help="also upload to this hub model repo (needs HF_TOKEN)")
        p.add_argument("--public", action="store_true", help="with --push-to-hub: a public repo")
        if name == "export":
            p.add_argument("--gguf", action="store_true", help="also say how to make a GGUF")
        p.set_defaults(func=fn)

    p = sub.add_parser("chat", help="chat with a run, adapter or model (streaming)")
    p.add_argument("target", help="run dir (final/ or --which best), adapter or model folder")
    p.add_argument("--prompt", default=None, help="answer this one turn and exit")
    p.add_argument("--system", default=None, help="system prompt")
    p.add_argument("--which", default="final", choices=["final", "best"])
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("eval", help="domain evaluation of a run dir or a model folder")
    p.add_argument("target", help="run dir (uses final/ or best/) or an HF/PEFT model folder")
    p.add_argument("--which", default="final", choices=["final", "best"])
    p.add_argument("--data", nargs="+", help="test files (default: the run's data.test_files)")
    p.add_argument("--domain-pack", default=None, help="how answers are scored (default: the "
                   "run's data.domain_pack): a pack in netft/domains or a module with DOMAIN")
    p.add_argument("--max-items", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="default 256; with --suite: the benchmark's own cap")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--suite", default=None, help="run a published benchmark instead "
                   "(netconfeval: NetConfEval step 1, docs/netconfeval.md)")
    p.add_argument("--runs", type=int, default=5, help="--suite: seeded runs (benchmark: 5)")
    p.add_argument("--limit", type=int, default=0,
                   help="--suite: requests per task and run (0: all; smoke runs)")
    p.add_argument("--mode", default=None, help="--suite: scorer mode (netconfeval: "
                   "faithful, the default, or corrected)")
    p.add_argument("--attempts", type=int, default=None, help="--suite: attempts per request "
                   "when the benchmark asks again (netconfeval: 10)")
    p.add_argument("--review", type=int, default=150,
                   help="items in the human-review sheet (0: none)")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_eval)

    suite = sub.add_parser("suite", help="published benchmark suites").add_subparsers(
        dest="suite_cmd", required=True)
    p = suite.add_parser("import", help="build a suite's data set (netft ships none) from "
                         "your clone of the benchmark: string constants read, no code run")
    p.add_argument("suite", help="e.g. netconfeval")
    p.add_argument("source", help="your clone of the benchmark's repository")
    p.add_argument("--out", default=None, help="folder to hold <suite>/ (default: where netft "
                   "looks, $NETFT_EXTERNAL_DATA or <checkout>/../shared/data)")
    p.add_argument("--published", default=None, help="a download of the benchmark's published "
                   "request sets (only the equality test needs them; docs/netconfeval.md)")
    p.set_defaults(func=cmd_suite_import)

    review = sub.add_parser("review", help="human review sheets").add_subparsers(
        dest="review_cmd", required=True)
    p = review.add_parser("import", help="aggregate a filled review.csv")
    p.add_argument("sheet")
    p.add_argument("--run-dir", default=None, help="add the result to this run's summary.json")
    p.set_defaults(func=cmd_review_import)

    p = sub.add_parser("interpolate", help="evaluate base<->fine-tuned weight interpolation "
                       "(WiSE-FT; LoRA: scaled adapter) along alpha, without retraining")
    p.add_argument("run", help="a finished run dir (final/, config.yaml)")
    p.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    p.add_argument("--max-items", type=int, default=None, help="domain eval items (default: "
                   "the run's eval.domain_max_items)")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("report", help="learning vs forgetting across runs (HTML + Markdown)")
    p.add_argument("dirs", nargs="+", help="multirun dirs, output trees or run dirs")
    p.add_argument("--out", default=None, help="default: <first dir>/report")
    p.add_argument("--budget", type=float, default=10.0,
                   help="forgetting budget in %% general-perplexity rise for the recommendation")
    p.add_argument("--learning", default="val_drop", choices=["val_drop", "domain_gain"],
                   help="learning axis of the frontier")
    p.add_argument("--wandb-project", default=None, help="also build a W&B Report")
    p.add_argument("--wandb-entity", default=None)
    p.add_argument("--wandb-group", default=None)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plan", help="memory per device of a config, before launching it")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, as for netft-train")
    p.add_argument("--world", type=int, default=8, help="ranks (ignored for parallel=single)")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--gpu-gb", type=float, default=80.0)
    p.add_argument("--table", action="store_true",
                   help="also every method x parallel x activation checkpointing")
    p.set_defaults(func=cmd_plan)

    args = parser.parse_args(argv)
    from netft.errors import guard

    return guard("netft", args.func, args)  # a user error: `netft: error: ...`, exit 2


if __name__ == "__main__":
    sys.exit(main())
