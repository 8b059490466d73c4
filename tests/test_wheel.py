"""A wheel built from the repo, installed in a fresh venv, trains from an unrelated directory
with the configs it ships (the repository's conf/, carried as netft/conf), and with a user's
own config dir (a data preset of its own) added by --config-dir or hydra.searchpath."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT

QUICK = ["logger=none", "eval.domain_max_items=4", "eval.max_new_tokens=8",
         "eval.general_max_tokens=1024", "eval.kl_probe=false", "eval.review_items=0"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a clean copy: an in-tree build/ could carry stale files into the wheel
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("netft", "conf"):  # conf/ goes into the wheel as netft/conf (setup.py)
        shutil.copytree(ROOT / name, src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp / "dist"), str(src)], check=True, timeout=300)
    wheel = next((tmp / "dist").glob("netft-*.whl"))
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                    "-q", str(wheel)], check=True, timeout=300)
    # The dependencies (torch, transformers, ...) come from this venv's site-packages as a
    # plain path: a path line in a .pth does not run that dir's own .pth files, so the editable
    # netft of this checkout is not on the path and the wheel is what gets imported.
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout
    Path(site.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir, tmp


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["NETFT_CACHE"] = os.environ["NETFT_CACHE"]  # the tiny model is built once
    return env


def test_checkout_reads_the_top_level_conf():
    """One source of the config tree: conf/ beside netft/, none inside the package."""
    from netft.config import CONF_DIR

    assert CONF_DIR == ROOT / "conf" and (CONF_DIR / "config.yaml").is_file()
    assert not (ROOT / "netft" / "conf").exists()


@pytest.mark.slow
def test_wheel_imports_from_its_venv(venv):
    env_dir, tmp = venv
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                          "import netft, netft.config as c; print(netft.__file__); "
                          "print(c.CONF_DIR)"], cwd=tmp, env=_env(), capture_output=True,
                         text=True, check=True).stdout.split()
    assert Path(out[0]).is_relative_to(env_dir) and Path(out[1]).is_relative_to(env_dir)
    assert (Path(out[1]) / "data" / "netops.yaml").exists()


@pytest.mark.slow
def test_wheel_trains_from_any_directory(venv, tiny_path):
    env_dir, tmp = venv
    work = tmp / "elsewhere"
    work.mkdir()
    proc = subprocess.run([str(env_dir / "bin" / "netft-train"), "model=tiny",
                           "train.max_steps=2", *QUICK, f"run_dir={work / 'run'}"],
                          cwd=work, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((work / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["domain"]["score"] is not None


@pytest.mark.slow
def test_wheel_with_user_config_dir(venv, tiny_path):
    env_dir, tmp = venv
    user = tmp / "my_conf"
    (user / "data").mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": f"Say the number {i}."},
                          {"role": "assistant", "content": f"The number is {i}."}]}
            for i in range(40)]
    data = tmp / "mydata.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (user / "data" / "mine.yaml").write_text(
        f"name: mine\ndomain_pack: chat\ntrain_files: ['{data}']\nvalidation_files: []\n"
        f"test_files: ['{data}']\ncontamination_check: false\n")
    work = tmp / "other"
    work.mkdir()
    # hydra.searchpath: the preset composes (printed, nothing trained).
    cfg = subprocess.run([str(env_dir / "bin" / "netft-train"), "data=mine",
                          f"hydra.searchpath=[file://{user}]", "--cfg", "job"], cwd=work,
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert cfg.returncode == 0, cfg.stderr[-3000:]
    assert "name: mine" in cfg.stdout and str(data) in cfg.stdout
    # --config-dir: the preset trains and is scored by the chat pack.
    proc = subprocess.run([str(env_dir / "bin" / "netft-train"), "--config-dir", str(user),
                           "data=mine", "model=tiny", "train.max_steps=2", *QUICK,
                           f"run_dir={work / 'run'}"], cwd=work, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((work / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["domain"]["exact_match"] is not None
