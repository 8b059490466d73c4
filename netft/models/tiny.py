"""The tiny offline base model: a Llama-architecture causal LM + BPE tokenizer, built here.

There is no model hub in CI or on an air-gapped cluster login node, yet every feature must be
exercised for real. So we train a BPE tokenizer and briefly pre-train a ~1M-parameter Llama
on text shipped with the package (public-domain general English + FRR's networking manual),
giving it measurable general capability (held-out perplexity far below an untrained model's)
that fine-tuning can then erode: the forgetting we measure.

The build is deterministic and cached under `<cache_dir>/tiny-<hash>/`, keyed on the build
settings and the corpus bytes; concurrent processes (ranks, sweep jobs) wait on a file lock
instead of building twice.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from netft.data.corpus import CORPUS, FILES, corpus_texts

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<|eot|>",
                  "<|system|>", "<|user|>", "<|assistant|>"]
# Simple role-tagged template. The trainer finds assistant spans by rendering prefixes, so
# it works the same for this template and for real ones such as Llama 3.1's.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|eot|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 4096
    hidden_size: int = 128
    intermediate_size: int = 352
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024
    seq_len: int = 256
    batch_size: int = 8
    steps: int = 600
    lr: float = 3e-3
    seed: int = 0
    version: int = 1  # bump when the build code changes meaningfully
    # The copying and domain stages (models/tiny_recipe.py); all off in the plain build.
    warm_steps: int = 0           # random-token repeats at warm_seq x warm_batch first
    warm_seq: int = 32
    warm_batch: int = 32
    copy_rows: float = 0.0        # main stage: share of random-token repeat rows
    repeat_rows: float = 0.0      # main stage: share of repeated-span rows
    copy_period_max: int = 64
    domain_pack: str = ""         # its Domain.pretrain_docs feed the domain stage
    domain_steps: int = 0
    domain_rows: float = 0.0      # domain stage: share of domain-document windows
    domain_copy_rows: float = 0.0
    domain_repeat_rows: float = 0.0
    domain_heldout_tokens: int = 20_000  # the documents' tail, kept out to measure them


# Fields added after version 1 enter the cache key only when set, so the plain build's
# existing caches (and its key) stay valid.
_V1_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
              "seq_len", "batch_size", "steps", "lr", "seed", "version")


def domain_spec(pack: str) -> TinySpec:
    """The spec of the tiny base pre-trained for domain pack `pack` (its Domain.base_spec):
    what `netft build-tiny --domain PACK --out DIR` builds."""
    from netft import domains
    from netft.errors import ConfigError

    fields = domains.load(pack).base_spec
    if not fields:
        raise ConfigError(f"domain pack {pack!r} defines no tiny base (Domain.base_spec); "
                          "name a pack that does")
    return TinySpec(**fields, domain_pack=pack)


def _key_fields(spec: TinySpec) -> dict:
    default = asdict(TinySpec())
    return {k: v for k, v in asdict(spec).items() if k in _V1_FIELDS or v != default[k]}


def cache_key(spec: TinySpec) -> str:
    h = hashlib.sha256(json.dumps(_key_fields(spec), sort_keys=True).encode())
    for name in FILES:
        h.update((CORPUS / name).read_bytes())
    if spec.domain_pack:
        h.update(json.dumps(domain_docs(spec)).encode())
    return h.hexdigest()[:12]


def corpus_sha256(spec: TinySpec) -> str:
    """What a build trains on: the shipped corpora and the domain pack's documents."""
    h = hashlib.sha256()
    for name in FILES:
        h.update(hashlib.sha256((CORPUS / name).read_bytes()).digest())
    if spec.domain_pack:
        h.update(hashlib.sha256(json.dumps(domain_docs(spec)).encode()).digest())
    return h.hexdigest()


def domain_docs(spec: TinySpec) -> list[str]:
    from netft import domains

    docs = domains.load(spec.domain_pack).pretrain_docs()
    if not docs:
        raise ValueError(f"domain pack {spec.domain_pack!r} has no pre-training documents "
                         "(Domain.pretrain_docs); unset TinySpec.domain_pack")
    return docs


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive lock between processes (the tiny build, a base evaluation): the second
    waits for the first instead of doing the same work."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cache_ok(target: Path) -> bool:
    """The cache is trusted only when its files load (the safetensors header and every
    tensor's extent, the tokenizer JSON, the config), not because a marker file exists: an
    interrupted multi-process first build once left a marker and no weights."""
    if not (target / "netft_tiny.json").exists():
        return False
    try:
        from safetensors import safe_open

        weights = target / "model.safetensors"
        with safe_open(str(weights), framework="pt") as f:
            n = len(list(f.keys()))
        json.loads((target / "tokenizer.json").read_text())
        json.loads((target / "config.json").read_text())
        return n > 0
    except Exception:  # noqa: BLE001 - any failure to load means "rebuild"
        return False


def ensure_tiny(cache_dir: str | os.PathLike, spec: TinySpec = TinySpec(), log=print) -> Path:
    """Path of the cached tiny model, building it first if needed."""
    cache = Path(os.path.expanduser(str(cache_dir)))
    target = cache / f"tiny-{cache_key(spec)}"
    if cache_ok(target):
        return target
    with file_lock(cache / f".tiny-{cache_key(spec)}.lock"):
        if cache_ok(target):  # another process built it meanwhile
            return target
        if target.exists():  # a marker without loadable files: set aside, rebuild
            broken = target.with_name(target.name + f".broken{os.getpid()}")
            log(f"[netft] the cached tiny model in {target} does not load; rebuilding "
                f"(the old one is kept as {broken.name})")
            os.replace(target, broken)
        log(f"[netft] building the tiny base model into {target} (once; ~2-3 min on 2 CPU cores)")
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        build_tiny(tmp, spec, log=log)
        os.replace(tmp, target)  # atomic: a half-built model is never visible
    return target


# Tiny bases that ship with netft (assets/models/<name>/, e.g. the network-engineering demo's
# tiny-netops): their builds take longer than a demo should wait (~16 min on one thread), so
# they ship (4.8 MB each) instead of being built on first use. model.name_or_path=<name>.
SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "models"


def shipped_names() -> set[str]:
    return {p.name for p in SHIPPED.glob("*") if (p / "netft_tiny.json").is_file()}


SHIPPED_NAMES = shipped_names()  # the model.name_or_path values that mean a shipped base


def shipped_tiny(name: str) -> Path:
    """The shipped tiny base `name`, after checking every file against the sha256 its build
    recorded in netft_tiny.json: weights that differ from what the recorded recipe built would
    make the demo's numbers a different experiment, so they are refused, not loaded."""
    from netft.errors import ConfigError

    path = SHIPPED / name
    record = path / "netft_tiny.json"
    if not record.is_file():
        known = ", ".join(sorted(shipped_names()))
        raise ConfigError(f"model.name_or_path={name}: no shipped tiny base of that name "
                          f"(shipped: {known or 'none'}; 'tiny' builds the plain one)")
    info = json.loads(record.read_text())
    rebuild = (f"`netft build-tiny --domain {info['spec']['domain_pack']} --out NEW_DIR`, "
               f"then copy NEW_DIR to {path}")
    for fname, digest in info["sha256"].items():
        f = path / fname
        if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            raise ConfigError(f"{f}: missing or not the file its build recorded (sha256 in "
                              f"{record}); restore it from the repository, or rebuild: {rebuild}")
    return path


def build_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot|>",
        pad_token="<|pad|>", chat_template=CHAT_TEMPLATE, model_max_length=TinySpec.max_position_embeddings)


def _token_stream(tokenizer, text: str) -> torch.Tensor:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    ids: list[int] = []
    for batch_start in range(0, len(paragraphs), 512):
        for enc in tokenizer(paragraphs[batch_start:batch_start + 512])["input_ids"]:
            ids.extend(enc + [tokenizer.convert_tokens_to_ids("<|end_of_text|>")])
    return torch.tensor(ids, dtype=torch.long)


@torch.no_grad()
def stream_perplexity(model, stream: torch.Tensor, seq_len: int, max_tokens: int = 60_000) -> float:
    """Perplexity over non-overlapping windows of a token stream (the general-capability probe)."""
    model.eval()
    stream = stream[:max_tokens]
    n = (len(stream) - 1) // seq_len
    total_nll, total = 0.0, 0
    for i in range(0, n, 16):
        rows = torch.stack([stream[j * seq_len:(j + 1) * seq_len] for j in range(i, min(i + 16, n))])
        logits = model(input_ids=rows).logits.float()
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), rows[:, 1:].reshape(-1), reduction="sum")
        total_nll += nll.item()
        total += rows[:, 1:].numel()
    return math.exp(total_nll / max(total, 1))


@torch.no_grad()
def copy_gain(model, stream: torch.Tensor, span: int = 64, rows: int = 16) -> float:
    """In-context copying, in nats per token: the loss on `rows` spans of `stream` minus the
    loss on the same spans shown again right after them. A model that copies from its context
    (induction heads) gains several nats; one that does not, ~0. A domain answer that must
    repeat the prompt's addresses and numbers needs this: the tiny base's gain is ~0.05, which
    is why its fine-tunes learn a config's shape but never its values (README, the demo)."""
    model.eval()
    x = torch.stack([stream[i * span:(i + 1) * span] for i in range(rows)])
    x = torch.cat([x, x], 1)
    logp = torch.log_softmax(model(input_ids=x).logits[:, :-1].float(), -1)
    nll = -logp.gather(-1, x[:, 1:, None])[..., 0]
    return float(nll[:, :span - 1].mean() - nll[:, span:].mean())


def _docs_stream(tokenizer, docs: list[str]) -> torch.Tensor:
    """Documents as one token stream, each closed by <|end_of_text|>."""
    eot = tokenizer.convert_tokens_to_ids("<|end_of_text|>")
    ids: list[int] = []
    for enc in tokenizer(docs)["input_ids"]:
        ids.extend(enc + [eot])
    return torch.tensor(ids, dtype=torch.long)


def _train_stage(model, spec: TinySpec, steps: int, batch, desc: str) -> None:
    """`steps` AdamW steps on batch(step) with their own cosine schedule (5% warm-up)."""
    from tqdm import tqdm
    from transformers import get_cosine_schedule_with_warmup

    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01, betas=(0.9, 0.95))
    sched = get_cosine_schedule_with_warmup(opt, max(1, steps // 20), steps)
    model.train()
    bar = tqdm(range(steps), desc=desc, unit="step", mininterval=2)
    for step in bar:
        rows = batch(step)
        loss = model(input_ids=rows, labels=rows).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)


def build_tiny(out: Path, spec: TinySpec, log=print) -> dict:
    from transformers import LlamaConfig, LlamaForCausalLM

    from netft.models import tiny_recipe as recipe

    t0 = time.time()
    torch.manual_seed(spec.seed)
    texts = corpus_texts()
    tokenizer = build_tokenizer([texts["general_train"], texts["networking"]], spec.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size, num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads, num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, rope_theta=10000.0)
    model = LlamaForCausalLM(config)
    train = torch.cat([_token_stream(tokenizer, texts["general_train"]),
                       _token_stream(tokenizer, texts["networking"])])
    heldout = _token_stream(tokenizer, texts["general_heldout"])
    ppl_untrained = stream_perplexity(model, heldout, spec.seq_len)
    gen = torch.Generator().manual_seed(spec.seed)

    def main_rows(step: int) -> torch.Tensor:
        if step < spec.warm_steps:
            return recipe.warm_batch(train, spec, gen)
        if spec.copy_rows or spec.repeat_rows:
            return recipe.main_batch(train, spec, gen)
        # the plain build's draw, unchanged since version 1 (its caches stay valid)
        starts = torch.randint(0, len(train) - spec.seq_len - 1, (spec.batch_size,), generator=gen)
        return torch.stack([train[s:s + spec.seq_len] for s in starts.tolist()])

    _train_stage(model, spec, spec.warm_steps + spec.steps, main_rows, "pretrain tiny")
    info = {"spec": asdict(spec), "corpus_sha256": corpus_sha256(spec),
            "params": sum(p.numel() for p in model.parameters()),
            "train_tokens_seen": (spec.warm_steps * spec.warm_seq * spec.warm_batch
                                  + (spec.steps + spec.domain_steps) * spec.batch_size
                                  * spec.seq_len)}
    if spec.domain_pack:
        docs = _docs_stream(tokenizer, domain_docs(spec))
        docs, docs_heldout = docs[:-spec.domain_heldout_tokens], docs[-spec.domain_heldout_tokens:]
        info["domain_ppl_before_domain_stage"] = stream_perplexity(model, docs_heldout, spec.seq_len)
        dgen = torch.Generator().manual_seed(spec.seed)
        _train_stage(model, spec, spec.domain_steps,
                     lambda step: recipe.domain_batch(train, docs, spec, dgen),
                     f"pretrain tiny on {spec.domain_pack} documents")
        info["domain_heldout_ppl"] = stream_perplexity(model, docs_heldout, spec.seq_len)
        info["domain_docs_tokens"] = len(docs) + len(docs_heldout)
    ppl = stream_perplexity(model, heldout, spec.seq_len)
    info.update({"general_heldout_ppl": ppl, "general_heldout_ppl_untrained": ppl_untrained,
                 "copy_gain_nats": round(copy_gain(model, heldout), 3),
                 "build_seconds": round(time.time() - t0, 1)})
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    info["sha256"] = {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
                      for f in sorted(out.iterdir()) if f.is_file()}
    (out / "netft_tiny.json").write_text(json.dumps(info, indent=2))
    log(f"[netft] tiny model built in {info['build_seconds']} s: {info['params']:,} params, "
        f"general held-out ppl {ppl:.1f} (untrained {ppl_untrained:.1f})")
    return info
