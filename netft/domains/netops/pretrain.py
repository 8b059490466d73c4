"""Pre-training documents of the network-engineering pack (Domain.pretrain_docs): the
configurations a base model would have read before anyone fine-tunes it, without the questions
that ask for them.

Llama 3.1 has read JunOS, IOS and FRR configurations on the web; the 1.3M-parameter tiny base
has read FRR's manual and nothing else, so its fine-tunes had to learn every dialect's syntax
and the task from 700 rows at once, and never produced one valid configuration. These
documents give the tiny base (TinySpec.domain_pack) the prior a real base brings.

They are the answers of the generator's config and translate rows drawn with seed 1 (the
shipped data set is seed 0), with the chat framing removed (the "IOS config:" header, the
interface-mapping notes). Their values are fresh random draws; an answer identical to a
shipped validation or test answer is dropped (none is, at n=6000), and the prompts, which the
fine-tune learns to map to configurations, are never included.
"""
from __future__ import annotations

from netft.config import ASSETS
from netft.data.chat import read_chat_jsonl
from netft.domains.netops.generate import generate
from netft.domains.netops.scoring import CONFIG_CATS

SEED, N = 1, 6000
# The demo's base, netft/assets/models/tiny-netops (`netft build-tiny --domain netops`): the
# copying recipe of bench/copy_base_results.md, then 800 steps with 40% of the rows windows of
# these documents (netft/models/tiny_recipe.py).
BASE_SPEC = {"steps": 900, "version": 2, "warm_steps": 500, "copy_rows": 0.15,
             "repeat_rows": 0.05, "domain_steps": 800, "domain_rows": 0.4,
             "domain_copy_rows": 0.1, "domain_repeat_rows": 0.05}


def heldout_answers() -> set[str]:
    return {row["messages"][-1]["content"] for split in ("validation", "test")
            for row in read_chat_jsonl(ASSETS / "data" / "netops" / f"{split}.jsonl")}


def config_text(answer: str) -> str:
    """An answer without its chat framing: the header line ("IOS config:", "In JunOS set
    form:") and the interface-mapping notes."""
    lines = answer.splitlines()
    if lines and lines[0].rstrip().endswith(":"):
        lines = lines[1:]
    return "\n".join(x for x in lines if not x.startswith("Note:"))


def pretrain_docs() -> list[str]:
    held = heldout_answers()
    return [config_text(row["messages"][-1]["content"]) for row in generate(SEED, N)
            if row["category"] in CONFIG_CATS and row["messages"][-1]["content"] not in held]
