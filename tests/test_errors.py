"""One error path (issue 24 item 4): every entry point prints `<prog>: error: ...` on one line
and exits 2 for a user's mistake; a bug keeps its traceback; NETFT_DEBUG=1 shows it anyway."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT, netft_train_cmd


def run(cmd, **env):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def one_line(stderr: str, prog: str) -> str:
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), stderr[-2000:]
    return lines[0]


def test_netft_train_unknown_group_option_is_one_line():
    """`netft-train method=lorra` (Hydra would print several lines and exit 1): one line, exit
    2, with Hydra's list of the valid options in it."""
    proc = run(netft_train_cmd("method=lorra"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = one_line(proc.stderr, "netft-train")
    assert "method/lorra" in line and "Available options in 'method': full, lora, qlora" in line
    assert "Config search path" not in line, line


def train_main_in_process(monkeypatch, *overrides):
    """netft-train's main() in this process (what the console script calls), sys.argv set."""
    from hydra.core.global_hydra import GlobalHydra

    from netft import train

    monkeypatch.setattr(sys, "argv", ["netft-train", *overrides])
    try:
        with pytest.raises(SystemExit) as e:
            train.main()
    finally:
        GlobalHydra.instance().clear()
    return e.value.code


@pytest.mark.parametrize("override, needles", [
    ("train.lr=abc", ["train.lr=abc", "could not be converted to Float"]),
    ("train.nope=1", ["train.nope", "+train.nope=1"]),
    ("train.lr=[", ["override 'train.lr=['"]),
])
def test_netft_train_bad_overrides_are_one_line(override, needles, monkeypatch, capsys):
    assert train_main_in_process(monkeypatch, override) == 2
    line = one_line(capsys.readouterr().err, "netft-train")
    for needle in needles:
        assert needle in line, line
    assert os.environ.get("HYDRA_FULL_ERROR") is None  # main() put it back


def test_netft_debug_adds_the_traceback(monkeypatch, capsys):
    monkeypatch.setenv("NETFT_DEBUG", "1")
    assert train_main_in_process(monkeypatch, "method=lorra") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "MissingConfigException" in err
    assert err.rstrip().splitlines()[-1].startswith("netft-train: error: ")


def test_checkpoint_tool_error_is_one_line_on_stderr(tmp_path):
    proc = run([sys.executable, "-m", "netft.checkpoint", "verify", str(tmp_path)])
    assert proc.returncode == 2 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert "MANIFEST.json" in one_line(proc.stderr, "netft-checkpoint")


def _cases(tmp):
    missing = str(tmp / "missing")
    (tmp / "afile").write_text("")
    (tmp / "rows.jsonl").write_text('{"messages": [{"role": "user", "content": "q"}, '
                                    '{"role": "assistant", "content": "a"}]}\n')
    return {
        "build-tiny": (["build-tiny", "--cache-dir", str(tmp / "afile")], "is a file"),
        "data check": (["data", "check", missing + ".jsonl"], "file not found"),
        "data split": (["data", "split", missing + ".jsonl", str(tmp / "out")], "file not found"),
        "data split fractions": (["data", "split", str(tmp / "rows.jsonl"), str(tmp / "out"),
                                  "--test-frac", "2"], "test_frac=2.0"),
        "data convert": (["data", "convert", missing + ".jsonl", str(tmp / "o.jsonl")],
                         "file not found"),
        "merge": (["merge", missing, "--out", str(tmp / "m")], "not a run dir"),
        "export": (["export", missing, "--out", str(tmp / "e")], "not a run dir"),
        "chat": (["chat", missing, "--prompt", "hi"], "not a run dir"),
        "eval": (["eval", missing], "does not exist"),
        "review import": (["review", "import", missing + ".csv"], "missing.csv"),
        "interpolate": (["interpolate", missing], "config.yaml"),
        "interpolate alphas": (["interpolate", missing, "--alphas", "a,b"], "--alphas a,b"),
        "report": (["report", missing], "no runs"),
        "plan": (["plan", "method=lorra"], "Available options in 'method'"),
        "suite import": (["suite", "import", "netconfeval", missing, "--out", str(tmp / "d")],
                         "not a folder"),
    }


CASES = ["build-tiny", "data check", "data split", "data split fractions", "data convert",
         "merge", "export", "chat", "eval", "review import", "interpolate", "interpolate alphas",
         "report", "plan", "suite import"]


@pytest.mark.parametrize("case", CASES)
def test_every_netft_subcommand_fails_in_one_line(case, tmp_path, capsys):
    from netft.cli import main

    argv, needle = _cases(tmp_path)[case]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert needle in one_line(err, "netft"), err


def test_cases_cover_every_subcommand(tmp_path, monkeypatch):
    """A subcommand added later needs a case above (and so a check that it uses the guard)."""
    import argparse

    from netft import cli

    built = []

    def capture(parser, *a, **k):  # the finished parser, before anything runs
        built.append(parser)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(SystemExit):
        cli.main([])

    def commands(parser, prefix=""):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return {prefix.strip()}
        return set().union(*(commands(p, f"{prefix}{name} ")
                             for name, p in subs[0].choices.items()))

    covered = {" ".join(argv[:2]) if argv[0] in ("data", "review", "suite") else argv[0]
               for argv, _ in _cases(tmp_path).values()}
    assert set(_cases(tmp_path)) == set(CASES)
    assert commands(built[0]) <= covered, commands(built[0]) - covered


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only user errors are shortened: an unexpected exception propagates unchanged."""
    from netft import cli

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_report", broken)
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["report", "x"])


def test_user_error_classes_share_one_base():
    from netft.checkpoint import CheckpointError
    from netft.config import ConfigError
    from netft.data.chat import DataError
    from netft.errors import NetftError, UsageError, error_line
    from netft.serving import PostError

    for cls in (CheckpointError, ConfigError, DataError, PostError, UsageError):
        assert issubclass(cls, NetftError)
        assert error_line(cls("a\n  b")) == "a b"
    assert error_line(ValueError("x")) is None and error_line(RuntimeError("x")) is None
    assert error_line(OSError(28, "No space left on device", "/data")) == \
        "/data: No space left on device"
