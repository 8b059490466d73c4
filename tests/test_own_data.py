"""A team's own data and model: formats, generic scoring, chat templates, W&B env, sweeps."""
import json
import os

import pytest

from netft.data.chat import DataError

ALPACA = [{"instruction": "Name the capital.", "input": "France", "output": "Paris."},
          {"instruction": "Say hello.", "output": "Hello!", "system": "Be brief."}]
SHAREGPT = {"conversations": [{"from": "system", "value": "Roster bot."},
                              {"from": "human", "value": "Who leads team 1?"},
                              {"from": "gpt", "value": "Alice."},
                              {"from": "human", "value": "And team 2?"},
                              {"from": "gpt", "value": "Bob."}]}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_formats_read_as_chat(tmp_path):
    from netft.data.curation import read_source

    (tmp_path / "a.json").write_text(json.dumps(ALPACA))  # a .json array
    rows = read_source(tmp_path / "a.json")
    assert rows[0]["messages"] == [{"role": "user", "content": "Name the capital.\n\nFrance"},
                                   {"role": "assistant", "content": "Paris."}]
    assert rows[1]["messages"][0] == {"role": "system", "content": "Be brief."}
    sg = read_source(write_jsonl(tmp_path / "s.jsonl", [SHAREGPT]))[0]
    assert [m["role"] for m in sg["messages"]] == ["system", "user", "assistant", "user",
                                                    "assistant"]
    assert sg["_where"] == f"{tmp_path / 's.jsonl'}:1"
    pc = read_source(write_jsonl(tmp_path / "p.jsonl", [
        {"prompt": "2+2?", "completion": "4"},
        {"prompt": [{"role": "user", "content": "hi"}],
         "completion": [{"role": "assistant", "content": "hey"}]}]))
    assert pc[0]["messages"][-1] == {"role": "assistant", "content": "4"}
    assert pc[1]["messages"][0]["content"] == "hi"
    tool = read_source(write_jsonl(tmp_path / "t.jsonl", [{"messages": [
        {"role": "user", "content": "time?"}, {"role": "tool", "content": "12:00"},
        {"role": "assistant", "content": "Noon."}]}]))
    assert tool[0]["messages"][1]["role"] == "tool"
    (tmp_path / "book.txt").write_text("First paragraph.\n\nSecond one.\n")
    assert read_source(tmp_path / "book.txt")[0]["text"] == "First paragraph.\n\nSecond one."
    with pytest.raises(DataError, match=r"bad.jsonl:2: unrecognised row .*netft data convert"):
        read_source(write_jsonl(tmp_path / "bad.jsonl", [ALPACA[0], {"question": "x"}]))


def test_datasetdict_folder_and_hub_style_folder(tmp_path):
    import datasets

    from netft.data.curation import read_source
    from netft.data.formats import source_exists

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(ALPACA),
                               "test": datasets.Dataset.from_list(ALPACA[:1])})
    dd.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=r"has splits train, test; name one as .*dd:<split>"):
        read_source(tmp_path / "dd")
    assert len(read_source(f"{tmp_path / 'dd'}:train")) == 2
    assert read_source(f"{tmp_path / 'dd'}:test")[0]["messages"][1]["content"] == "Paris."
    assert source_exists(f"{tmp_path / 'dd'}:train") and source_exists("tatsu-lab/alpaca")
    # A folder of data files is what a hub dataset repo is: datasets.load_dataset reads both.
    repo = tmp_path / "repo" / "data"
    repo.mkdir(parents=True)
    write_jsonl(repo / "train.jsonl", [SHAREGPT, SHAREGPT])
    rows = read_source(f"{tmp_path / 'repo'}:train")
    assert len(rows) == 2 and rows[0]["messages"][2]["content"] == "Alice."


def test_hub_id_goes_through_load_dataset(monkeypatch):
    import datasets

    from netft.data.curation import read_source

    calls = []

    def fake(name, split=None):
        calls.append((name, split))
        return datasets.Dataset.from_list(ALPACA)

    monkeypatch.setattr(datasets, "load_dataset", fake)
    rows = read_source("someorg/alpaca-clean:train")
    assert calls == [("someorg/alpaca-clean", "train")] and len(rows) == 2


def test_data_convert_cli(tmp_path, capsys):
    from netft.cli import main

    (tmp_path / "a.json").write_text(json.dumps(ALPACA))
    write_jsonl(tmp_path / "s.jsonl", [SHAREGPT])
    out = tmp_path / "chat.jsonl"
    assert main(["data", "convert", str(tmp_path / "a.json"), str(tmp_path / "s.jsonl"),
                 str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and all(set(r) == {"messages", "id"} for r in rows)
    assert "3 rows (3 chat, 0 text)" in capsys.readouterr().out


def test_raw_text_long_documents_become_windows(tiny_tokenizer):
    from netft.data.batching import tokenize_rows

    text = " ".join(f"word{i}" for i in range(400))
    exs, report = tokenize_rows([{"text": text}], tiny_tokenizer, 64)
    assert len(exs) > 2 and all(len(e.input_ids) <= 64 for e in exs)
    assert report.kept == len(exs) and not report.dropped


def test_uncategorised_eval_rows_score_generically(tmp_path):
    from omegaconf import OmegaConf

    from netft import domains
    from netft.config import _domain_preflight
    from netft.domains import chat

    rows = chat.eval_rows([
        {"id": "a", "messages": [{"role": "user", "content": "Capital of France?"},
                                 {"role": "assistant", "content": "Paris is the capital."}]},
        {"id": "b", "messages": [{"role": "user", "content": "Who?"},
                                 {"role": "assistant", "content": "Bob."}]},
        {"id": "c", "text": "raw text has no question"}])
    assert [r["category"] for r in rows] == ["general", "general"]
    result = domains.score(chat.DOMAIN, rows, ["paris is the CAPITAL", "I don't know."])
    items = {it["id"]: it["scores"] for it in result["items"]}
    assert items["a"]["exact"] == 1.0 and items["a"]["overlap"] == 1.0
    assert items["b"]["abstained"] == 1.0 and items["b"]["exact"] == 0.0
    assert result["overall"]["exact_match"] == 0.5 and result["overall"]["abstain_rate"] == 0.5
    assert result["overall"]["score"] == result["overall"]["answer_overlap"]
    assert "general" in chat.format_table(result)
    # The netops pack scores uncategorised rows the same way, and needs no FRR for them.
    netops = domains.load("netops")
    assert domains.score(netops, rows, ["paris is the CAPITAL", "I don't know."])["overall"] \
        == result["overall"]
    own = write_jsonl(tmp_path / "own.jsonl", rows)
    cfg = OmegaConf.create({"data": {"domain_pack": "netops", "test_files": [str(own)]}})
    _domain_preflight(cfg)  # no FRR needed for a team's own test set


# ------------------------------------------------------------------ chat templates

PHI3 = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}")
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}"
             "{{ raise_exception('System role not supported') }}{% endif %}"
             "<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"
             "{% if add_generation_prompt %}<assistant>{% endif %}")


@pytest.fixture
def base_tokenizer(tiny_path, tmp_path):
    """The tiny tokenizer as a base model ships it: no chat template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_path)
    tok.chat_template = None
    tok.save_pretrained(tmp_path / "base")
    (tmp_path / "base" / "chat_template.jinja").unlink(missing_ok=True)
    return str(tmp_path / "base")


def _cfg(template=None):
    from omegaconf import OmegaConf

    return OmegaConf.create({"revision": None, "trust_remote_code": False,
                             "chat_template": template})


def test_model_chat_template_lets_a_base_model_train(base_tokenizer, tmp_path):
    from netft.data.batching import tokenize_rows
    from netft.models.load import load_tokenizer

    with pytest.raises(ValueError, match=r"model\.chat_template=") as e:
        load_tokenizer(base_tokenizer, _cfg())
    assert "tokenizer.chat_template" not in str(e.value)  # no such setting
    (tmp_path / "t.jinja").write_text(PHI3)
    for value in (str(tmp_path / "t.jinja"), PHI3):
        tok = load_tokenizer(base_tokenizer, _cfg(value))
        assert tok.chat_template == PHI3
    # Phi-3 style: EOS only at the very end. Multi-turn rows still locate every reply.
    rows = [{"id": "x", "_where": "own.jsonl:7", "messages": SHAREGPT_MESSAGES}]
    exs, _ = tokenize_rows(rows, tok, 512)
    labelled = tok.decode([t for t in exs[0].labels if t != -100])
    assert "Alice." in labelled and "Bob." in labelled and "Who leads" not in labelled
    with pytest.raises(ValueError, match="no such file, and not a template"):
        load_tokenizer(base_tokenizer, _cfg("missing.jinja"))


SHAREGPT_MESSAGES = [{"role": "user", "content": "Who leads team 1?"},
                     {"role": "assistant", "content": "Alice."},
                     {"role": "user", "content": "And team 2?"},
                     {"role": "assistant", "content": "Bob."}]


def test_template_failure_names_file_line_and_cause(base_tokenizer):
    from netft.data.batching import tokenize_rows
    from netft.models.load import load_tokenizer

    tok = load_tokenizer(base_tokenizer, _cfg(NO_SYSTEM))
    row = {"id": "x", "_where": "own.jsonl:7", "messages": [
        {"role": "system", "content": "Be brief."}] + SHAREGPT_MESSAGES}
    with pytest.raises(DataError, match=r"^own.jsonl:7: the chat template failed on this row "
                                        r"\(roles system,user.*System role not supported.*"
                                        r"model\.chat_template"):
        tokenize_rows([row], tok, 512)


# ------------------------------------------------------------------ W&B and sweeps

def test_wandb_mode_env_wins_over_auto(monkeypatch):
    from omegaconf import OmegaConf

    from netft.run.tracking import wandb_mode

    auto = OmegaConf.create({"mode": "auto"})
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_mode(auto) == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode(auto) == "disabled"
    assert wandb_mode(OmegaConf.create({"mode": "online"})) == "online"  # explicit beats env
    monkeypatch.delenv("WANDB_MODE")
    assert wandb_mode(auto) == "online"


def test_wandb_disabled_writes_nothing_and_offline_prints_sync(tmp_path, monkeypatch, capsys):
    from omegaconf import OmegaConf

    from netft.run.tracking import start

    cfg = OmegaConf.create({"name": "wandb", "mode": "auto", "project": "p", "entity": None,
                            "group": None, "tags": []})
    monkeypatch.setenv("WANDB_MODE", "disabled")
    t = start(cfg, tmp_path, {}, True)
    t.finish({"x": 1})
    assert t.wandb_run is None and not (tmp_path / "wandb").exists()
    monkeypatch.setenv("WANDB_MODE", "offline")
    t = start(cfg, tmp_path, {}, True)
    t.log({"a": 1.0}, 1)
    t.finish({"x": 1})
    out = capsys.readouterr().out
    assert "wandb sync " in out
    synced = out.split("wandb sync ")[1].split()[0]
    assert os.path.isdir(synced) and "offline-run-" in synced


def test_sweep_value():
    from netft.config import ConfigError
    from netft.run.hydra_job import sweep_value

    summary = {"final_val_loss": 1.5, "final_train_loss": 2.0,
               "history": [{"val_loss": 1.5, "general_ppl": 30.0}]}
    assert sweep_value(summary, "final_val_loss") == 1.5
    assert sweep_value(summary, "general_ppl") == 30.0
    assert sweep_value({**summary, "final_val_loss": None}, "final_val_loss") == 2.0
    with pytest.raises(ConfigError, match="train.sweep_metric='nope'.*general_ppl"):
        sweep_value(summary, "nope")


def test_version(capsys):
    from netft.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("netft 0.")


def test_smoke_run_caps_domain_eval():
    from conftest import compose
    from netft.eval.epoch import SMOKE_EVAL_ITEMS, domain_eval_rows

    assert len(domain_eval_rows(compose(["train.max_steps=3"]))) == SMOKE_EVAL_ITEMS
    assert len(domain_eval_rows(compose(["train.max_steps=3", "eval.domain_max_items=5"]))) == 5
    assert len(domain_eval_rows(compose([]))) > SMOKE_EVAL_ITEMS


def test_make_bench_installs_the_bench_extra():
    import subprocess

    from conftest import ROOT

    out = subprocess.run(["make", "-n", "-B", "bench", "VENV=.venv"], cwd=ROOT, capture_output=True,
                         text=True).stdout
    assert "-e '.[bench]'" in out and "bench/bench_sft.py" in out
    assert out.index(".[bench]") < out.index("bench_sft.py")


def test_attention_auto_lets_transformers_choose(tmp_path, tiny_path):
    """Gemma2 has no sdpa path in transformers: auto must not force it (it did: ValueError)."""
    import torch
    from omegaconf import OmegaConf
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from netft.models.load import load_model

    Gemma2ForCausalLM(Gemma2Config(vocab_size=128, hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=1, num_attention_heads=2,
                                   num_key_value_heads=1, head_dim=16)).save_pretrained(tmp_path)
    cfg = OmegaConf.create({"revision": None, "trust_remote_code": False, "dtype": "float32",
                            "attn_implementation": "auto", "random_init": False, "liger": False})
    full = OmegaConf.create({"name": "full"})
    gemma = load_model(str(tmp_path), cfg, full, torch.device("cpu"))
    assert gemma.config._attn_implementation == "eager"
    assert torch.isfinite(gemma(input_ids=torch.tensor([[1, 2, 3]])).logits).all()
    llama = load_model(str(tiny_path), cfg, full, torch.device("cpu"))
    assert llama.config._attn_implementation == "sdpa"  # unchanged where sdpa exists


def test_cfg_job_resolve_prints_the_config():
    import subprocess
    import sys

    from conftest import ROOT

    proc = subprocess.run([sys.executable, "-m", "netft.train", "--cfg", "job", "--resolve",
                           "data=own", "data.train_files=[x.jsonl]"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lr: 0.0002" in proc.stdout and "netops" not in proc.stdout


def test_own_train_files_with_netops_heldout_say_so(tmp_path, tiny_tokenizer):
    from conftest import compose
    from netft.data.curation import build_training_data

    own = write_jsonl(tmp_path / "own.jsonl", [{**a, "id": str(i)} for i, a in enumerate(ALPACA)])
    said = []
    for overrides, expect in (([f"data.train_files=[{own}]"], True),
                              (["data=own", f"data.train_files=[{own}]"], False)):
        said.clear()
        cfg = compose(overrides)
        build_training_data(cfg.data, 512, 0, tiny_tokenizer, said.append)
        assert any("use data=own" in s for s in said) == expect


def test_data_split_reads_own_formats(tmp_path):
    from netft.data.split import write_splits

    rows = [{"instruction": f"Question number {i} about topic {i * 7}?", "output": f"Answer {i}."}
            for i in range(40)]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    counts = write_splits(tmp_path / "a.json", tmp_path / "out", 0.2, 0.1)
    assert counts["train"] + counts["validation"] + counts["test"] == 40
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {"messages", "id"}
