#!/usr/bin/env bash
# GPU throughput recipe, no hub needed: random-init models of real shapes, the tiny tokenizer.
#   bash bench/gpu_recipe.sh            # on one H100/H200; prints tokens/s, MFU, peak memory
# 1) Llama-3-8B shape, LoRA r=16 on all linear layers, bf16, sequence 4096, packing, sdpa or
#    flash-attn 2 when installed.  2) a ~1B Llama shape, full fine-tuning.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${NETFT_PYTHON:-.venv/bin/python}
OUT=${OUT:-outputs/bench}
mkdir -p "$OUT"
TOK=$("$PY" -m netft.cli build-tiny | head -n 1)
shape() {  # name hidden layers heads kv intermediate
  "$PY" - "$OUT/$1" "$TOK" "$2" "$3" "$4" "$5" "$6" <<'PY'
import sys
from transformers import AutoTokenizer, LlamaConfig
out, tok, d, L, h, kv, ff = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
LlamaConfig(vocab_size=128256, hidden_size=d, num_hidden_layers=L, num_attention_heads=h,
            num_key_value_heads=kv, intermediate_size=ff, max_position_embeddings=8192,
            rope_theta=500000.0, tie_word_embeddings=False).save_pretrained(out)
AutoTokenizer.from_pretrained(tok).save_pretrained(out)
PY
}
shape llama3-8b 4096 32 32 8 14336
shape llama-1b 2048 16 32 8 8192
COMMON=(model.random_init=true train.epochs=1 train.max_steps=${STEPS:-30} train.max_length=4096
        train.packing=true eval.domain=false eval.general_ppl=false eval.val_every_epoch=false
        eval.val_before_training=false train.save_every_epoch=false logger=none)
"$PY" -m netft.train "${COMMON[@]}" model.name_or_path="$OUT/llama3-8b" method=lora \
    train.micro_batch_size=1 parallel.activation_checkpointing=true run_dir="$OUT/lora-8b"
"$PY" -m netft.train "${COMMON[@]}" model.name_or_path="$OUT/llama-1b" method=full \
    train.micro_batch_size=2 train.lr=1e-5 run_dir="$OUT/full-1b"
for run in lora-8b full-1b; do
  "$PY" - "$OUT/$run/metrics.jsonl" "$run" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"train/loss"' in l][5:]  # skip warm-up
med = lambda k: statistics.median(r[k] for r in rows)
print(f"{sys.argv[2]}: {med('train/tokens_per_s_per_device'):,.0f} tok/s/GPU, "
      f"MFU {100 * med('train/mfu'):.1f}%, peak {max(r['train/peak_mem_gb'] for r in rows):.1f} GiB")
PY
done
