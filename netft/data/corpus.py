"""The plain text that ships with netft (netft/assets/corpus): general English to pre-train the
tiny model and to replay against forgetting, a held-out part that is the general-capability
probe (perplexity, KL, the offline cloze task), and FRR's manual for the tiny model's domain
vocabulary. Owned here, by the data side; the tiny-model builder is one of its readers."""
from __future__ import annotations

import gzip
from pathlib import Path


CORPUS = Path(__file__).resolve().parent.parent / "assets" / "corpus"  # netft/assets
FILES = ("general_train.txt.gz", "networking.txt.gz", "general_heldout.txt")


def corpus_texts() -> dict[str, str]:
    return {
        "general_train": gzip.open(CORPUS / "general_train.txt.gz", "rt", encoding="utf-8").read(),
        "networking": gzip.open(CORPUS / "networking.txt.gz", "rt", encoding="utf-8").read(),
        "general_heldout": (CORPUS / "general_heldout.txt").read_text(encoding="utf-8"),
    }
