"""Does a CPU training step give the same bits everywhere? (issue 26 item 3; docs/demo.md)

Runs the same few AdamW steps of the tiny base (seeded batch, one thread) in fresh processes
under different kernel settings and prints each run's loss trajectory and how far its final
weights are from the first run's:

  native        what torch picks on this CPU (here AVX-512 aten kernels, MKL's own dispatch)
  native again  the same, in another process: same machine + same settings = same bits?
  avx2          ATEN_CPU_CAPABILITY=avx2, MKL_CBWR=AVX2, ONEDNN_MAX_CPU_ISA=AVX2: the kernels
                an AVX2-only machine runs, pinned (what `make demo` sets, so machines with and
                without AVX-512 run the same code paths)
  avx2 again    the pinned setting, in another process
  default       ATEN_CPU_CAPABILITY=default (no vector kernels): a machine of another kind

Differences between "native" and "avx2" are what an unpinned run would see between an AVX-512
machine and an AVX2 one. What this cannot show from one machine: whether MKL's pinned path is
bit-identical on another vendor's CPU (MKL documents CBWR as reproducible across processors
that support the pinned branch; not measured here).

    python bench/determinism.py --model tiny-netops --steps 20
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SETTINGS = {
    "native": {},
    "native again": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx2 again": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
}


def child(model_name: str, steps: int, out: str) -> None:
    import torch
    from omegaconf import OmegaConf
    from transformers import LlamaForCausalLM

    from netft.models.load import resolve_path

    torch.set_num_threads(1)
    torch.manual_seed(0)
    path = resolve_path(OmegaConf.create({"name_or_path": model_name,
                                          "cache_dir": os.environ.get("NETFT_CACHE", ".cache/netft")}))
    model = LlamaForCausalLM.from_pretrained(path)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        x = torch.randint(0, model.config.vocab_size, (4, 256), generator=gen)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.save({"losses": losses, "flat": flat, "cap": torch.backends.cpu.get_cpu_capability()}, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-netops")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.model, a.steps, a.child)
    import tempfile

    import torch

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in SETTINGS.items():
            out = os.path.join(tmp, name.replace(" ", "_") + ".pt")
            subprocess.run([sys.executable, __file__, "--model", a.model, "--steps", str(a.steps),
                            "--child", out], check=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1", **env})
            results[name] = torch.load(out, weights_only=True)
    ref = results["native"]
    print(f"{'setting':<14}{'aten kernels':<14}{'loss step 1':>14}{'loss last':>14}"
          f"{'max |w - native|':>20}{'bit-identical':>15}")
    rows = {}
    for name, r in results.items():
        diff = (r["flat"] - ref["flat"]).abs().max().item()
        same = torch.equal(r["flat"], ref["flat"])
        print(f"{name:<14}{r['cap']:<14}{r['losses'][0]:>14.8f}{r['losses'][-1]:>14.8f}"
              f"{diff:>20.3e}{str(same):>15}")
        rows[name] = {"cap": r["cap"], "losses": r["losses"], "max_abs_diff_vs_native": diff}
    pinned = torch.equal(results["avx2"]["flat"], results["avx2 again"]["flat"])
    print(f"avx2 vs avx2 again bit-identical: {pinned}")
    print(json.dumps({"steps": a.steps, "model": a.model, "runs": rows}))


if __name__ == "__main__":
    main()
