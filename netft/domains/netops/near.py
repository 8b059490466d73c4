"""Near-domain text of the network-engineering pack: real configurations of platforms its
training data does not cover (Cisco NX-OS, ASA and IOS-XR; the training data is JunOS, IOS and
FRR), for the near-domain forgetting probe (eval.near_domain): "a model fine-tuned only on IOS
examples might fail on ASA or Nexus commands the base knew".

The text is not in this repository. It is the sample configurations that the PyPI package
ciscoconfparse2 (GPL-3.0-only, https://github.com/mpenning/ciscoconfparse2) ships in its wheel
as test fixtures (tests/fixtures/configs/). netft only reads them, at run time, from an
installed copy of that exact version (the probe must be the same text in every run to be
compared), looked for:

  1. in the Python environment itself (`pip install ciscoconfparse2==0.9.18`), or
  2. in <sys.prefix>/share/netft-data/ciscoconfparse2-0.9.18, where `make setup`
     (scripts/setup.sh) installs it with `pip install --no-deps --target`: the package pins
     exact versions of pyparsing, hypothesis, hier-config... and installs a top-level `tests`
     package, none of which the probe needs in netft's own environment.

Without it, texts() raises DataUnavailable with the install line, and the run goes on without
the probe (it says so once).
"""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from netft.domains import DataUnavailable

PACKAGE, VERSION = "ciscoconfparse2", "0.9.18"
FIXTURES = "tests/fixtures/configs"
# platform -> fixture files (all the package's samples of platforms netops does not train on)
FILES = {
    "nxos": ["sample_01.nxos"],
    "asa": ["sample_01.asa"],
    "iosxr": [f"sample_0{i}.iosxr" for i in range(1, 8)],
}


def side_dir() -> Path:
    return Path(sys.prefix) / "share" / "netft-data" / f"{PACKAGE}-{VERSION}"


def _distribution():
    """The installed ciscoconfparse2 distribution of VERSION (environment first, then the
    set-up's side install), or None."""
    for path in (None, [str(side_dir())]):
        try:
            found = (metadata.distribution(PACKAGE) if path is None else
                     next(iter(metadata.distributions(name=PACKAGE, path=path)), None))
        except metadata.PackageNotFoundError:
            found = None
        if found is not None and found.version == VERSION:
            return found
    return None


def texts() -> dict[str, str]:
    """{platform: its configurations' text}, in a fixed order."""
    dist = _distribution()
    if dist is None:
        raise DataUnavailable(
            f"near-domain configs come from the PyPI package {PACKAGE}=={VERSION} (NX-OS, "
            f"ASA, IOS-XR samples; GPL-3.0), which is not installed; `make setup` installs it "
            f"(or: pip install --no-deps --target {side_dir()} {PACKAGE}=={VERSION})")
    out = {}
    for platform, names in FILES.items():
        parts = []
        for name in names:
            path = Path(dist.locate_file(f"{FIXTURES}/{name}"))
            if not path.is_file():
                raise DataUnavailable(f"{path}: missing from the installed {PACKAGE} "
                                      f"{VERSION}; reinstall it (`make setup`)")
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
        out[platform] = "\n".join(parts)
    return out
