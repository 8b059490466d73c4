"""Third-party material netft uses but does not ship: benchmark data, real configurations.

Public data that netft measures against (a published benchmark's tables and prompts, real
device configurations from other projects) is not committed to this repository: it stays
with its owners, and a user or CI points netft at a copy of it. One folder holds one
subfolder per data set:

    $NETFT_EXTERNAL_DATA/<name>/      when the variable is set
    <checkout>/../shared/data/<name>/ otherwise (a source checkout next to the project's
                                      shared folder, as CI lays it out)

Each data set's own README (in netft's docs) says where to get it and how to lay it out.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "NETFT_EXTERNAL_DATA"


def roots() -> list[Path]:
    """Where external data sets are looked for, in order."""
    if os.environ.get(ENV):
        return [Path(os.environ[ENV]).expanduser()]
    checkout = Path(__file__).resolve().parents[2]  # netft/data/external.py -> checkout
    return [checkout.parent / "shared" / "data"]


def find(name: str) -> Path | None:
    """The folder of external data set `name`, or None when no root holds it."""
    for root in roots():
        if (root / name).is_dir():
            return root / name
    return None


def missing_message(name: str, how: str) -> str:
    """One line for a data set that is not there: where netft looked and how to get it."""
    looked = ", ".join(str(r / name) for r in roots())
    return (f"external data set {name!r} not found (looked in {looked}); {how}, "
            f"or set {ENV} to a folder holding {name}/")
