"""The generator's large content tables, as data: made-up commands with their real
alternatives (fakes.json), real commands with explanations (explain.json), hand-written
core-concept Q&A (curated.json). Edit them as JSON; the generator reads them at import."""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def content(name: str) -> list:
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
