"""After training, a model ready to serve: merge a LoRA adapter, export it, chat with it, push it.

    netft merge  RUN|ADAPTER --out DIR [--dtype bfloat16]   adapter -> standalone HF model
    netft export RUN|MODEL   --out DIR [--gguf]             merged safetensors + tokenizer +
                                                            generation_config.json
    netft chat   RUN|MODEL   [--prompt TEXT]                streaming chat (one turn with --prompt)
    ... --push-to-hub ORG/NAME                              upload the folder (needs HF_TOKEN)

Everything is plain transformers / PEFT / huggingface_hub; the outputs load without netft.
These run in one process on one machine, so there is no rank to worry about.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from netft.errors import NetftError

DTYPES = ("auto", "float32", "bfloat16", "float16")


class PostError(NetftError, ValueError):
    """A bad target or option; the message says what to pass instead."""


def model_dir(target: str | Path, which: str = "final") -> Path:
    """A run dir (-> its final/ or best/), a PEFT adapter folder or an HF model folder."""
    path = Path(target).expanduser()
    if (path / "config.yaml").exists() and (path / which).is_dir():
        return path / which
    if (path / "adapter_config.json").exists() or (path / "config.json").exists():
        return path
    raise PostError(f"{path}: not a run dir with {which}/, an adapter folder or a model folder")


def is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").exists()


def _torch_dtype(dtype: str):
    import torch

    return "auto" if dtype == "auto" else getattr(torch, dtype)


def load(path: Path, dtype: str = "auto", merge: bool = False):
    """(model, tokenizer) from a model or adapter folder; an adapter stays an adapter unless
    merge=True (then it is folded into the base weights)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if is_adapter(path):
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=_torch_dtype(dtype))
        if merge:
            model = model.merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=_torch_dtype(dtype))
    return model, tok


def _generation_config(model, tok):
    """EOS/PAD/BOS taken from the tokenizer, so servers stop where the chat template ends a
    turn (the base model's generation_config may name a different EOS)."""
    gen = model.generation_config
    gen.eos_token_id = gen.eos_token_id if gen.eos_token_id is not None else tok.eos_token_id
    if tok.eos_token_id is not None and gen.eos_token_id != tok.eos_token_id:
        ids = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
        gen.eos_token_id = sorted(set(ids) | {tok.eos_token_id})
    gen.pad_token_id = tok.pad_token_id
    if tok.bos_token_id is not None:
        gen.bos_token_id = tok.bos_token_id
    return gen


def merge(target, out: str | Path, dtype: str = "auto", which: str = "final") -> Path:
    """A standalone HF model (safetensors) in `out`: the adapter folded into its base weights,
    or a full fine-tune copied (cast to dtype)."""
    src = model_dir(target, which)
    out = Path(out).expanduser()
    if out.resolve() == src.resolve():
        raise PostError(f"--out {out} is the source folder; choose a new folder")
    model, tok = load(src, dtype, merge=True)
    model.config.use_cache = True  # training turned it off; serving wants it on
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    _generation_config(model, tok).save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


GGUF_HINT = ("GGUF: no maintained HF->GGUF converter is published on PyPI (the `gguf` package "
             "writes GGUF files but the converter is llama.cpp's convert_hf_to_gguf.py). Run: "
             "python llama.cpp/convert_hf_to_gguf.py {out} --outfile {out}/model.gguf")


def export(target, out: str | Path, dtype: str = "auto", which: str = "final",
           gguf: bool = False) -> tuple[Path, str | None]:
    """For serving (vLLM, TGI, llama.cpp after conversion): a merged model folder with the
    tokenizer (and its chat template) and generation_config.json. Returns (folder, note)."""
    out = merge(target, out, dtype, which)
    return out, (GGUF_HINT.format(out=out) if gguf else None)


def push_to_hub(folder: str | Path, repo_id: str, private: bool = True,
                token: str | None = None) -> str:
    """Upload a folder as a model repo (created if needed). Needs a token (HF_TOKEN or
    `huggingface-cli login`); the URL of the commit is returned."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                             commit_message="Upload model fine-tuned with netft")
    return str(getattr(info, "commit_url", info))


def chat(target, prompt: str | None = None, system: str | None = None,
         max_new_tokens: int = 256, which: str = "final", temperature: float = 0.0,
         stream=None, read=None) -> list[dict]:
    """Chat with a model or adapter, answers streamed token by token. With `prompt`: one turn,
    then return. Without: read turns until EOF or /exit (/reset starts over)."""
    import torch
    from transformers import TextStreamer

    stream, read = stream or sys.stdout, read or input
    path = model_dir(target, which)
    model, tok = load(path)
    model.eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)

    class _Out(TextStreamer):  # TextStreamer prints to stdout; write to `stream` instead
        def on_finalized_text(self, text: str, stream_end: bool = False):
            stream.write(text + ("\n" if stream_end else ""))
            stream.flush()

    start = [{"role": "system", "content": system}] if system else []
    messages = list(start)

    def turn(text: str) -> str:
        messages.append({"role": "user", "content": text})
        inputs = tok.apply_chat_template(messages, add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True).to(device)
        sample = temperature > 0
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=sample,
                                 temperature=temperature if sample else None,
                                 pad_token_id=tok.pad_token_id,
                                 streamer=_Out(tok, skip_prompt=True, skip_special_tokens=True))
        answer = tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        messages.append({"role": "assistant", "content": answer.strip()})
        return answer

    if prompt is not None:
        turn(prompt)
        return messages
    stream.write(f"[netft] chatting with {path} (/reset starts over, /exit or Ctrl-D ends)\n")
    while True:
        try:
            text = read("you> ")
        except EOFError:
            break
        if text.strip() in ("/exit", "/quit"):
            break
        if text.strip() == "/reset":
            messages[:] = list(start)
            continue
        if text.strip():
            turn(text)
    return messages
