"""`netft`: everything around a training run (training itself is `netft-train`, the Hydra app).

    netft build-tiny                       build / locate the cached tiny base model
    netft data check FILE...               validate chat JSONL, print what would be dropped
    netft data split SRC OUT_DIR           fixed hash-based train/validation/test split
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def cmd_build_tiny(args) -> int:
    from netft.models.tiny import ensure_tiny

    path = ensure_tiny(args.cache_dir)
    info = json.loads((path / "netft_tiny.json").read_text())
    print(path)
    print(f"params {info['params']:,}; general held-out ppl {info['general_heldout_ppl']:.1f} "
          f"(untrained {info['general_heldout_ppl_untrained']:.1f}); built in "
          f"{info['build_seconds']} s")
    return 0


def cmd_data_check(args) -> int:
    from netft.data.batching import load_examples
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="netft", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    default_cache = os.environ.get("NETFT_CACHE", "~/.cache/netft")

    p = sub.add_parser("build-tiny", help="build or locate the cached tiny base model")
    p.add_argument("--cache-dir", default=default_cache)
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

    args = parser.parse_args(argv)
    from netft.data.chat import DataError

    try:
        return args.func(args)
    except DataError as e:
        print(f"netft: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
