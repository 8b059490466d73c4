"""Loading for a training run: tokenizer + model with the method applied, where a folder that
cannot serve a chat fine-tune (no tokenizer, no chat template, unreadable weights, target
modules that do not exist) fails in one line naming the key, the library's message kept."""
from __future__ import annotations

from pathlib import Path

from netft.errors import ConfigError
from netft.models.load import apply_method, load_model, load_tokenizer
from netft.parallel.meta_load import load_meta, use_meta_load


def load_for_training(model_path, cfg, info):
    """Tokenizer + model with the method applied; a model folder that cannot serve a chat
    fine-tune fails in one line naming the key (the library's message kept in it)."""

    name = cfg.model.name_or_path
    try:
        tokenizer = load_tokenizer(model_path, cfg.model)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"model.name_or_path={name}: cannot load its tokenizer "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:300]}); the folder "
                          "needs tokenizer.json or tokenizer.model + tokenizer_config.json") from e
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"model.name_or_path={name}: the tokenizer has no chat template; use "
                          "an instruction-tuned model or add chat_template.jinja to the folder")
    if use_meta_load(cfg, info):  # only rank 0 reads; the others get their shards
        return tokenizer, load_meta(model_path, cfg, info,
                                    lambda: checked_load(model_path, cfg, info.device))
    return tokenizer, checked_load(model_path, cfg, info.device)


def checked_load(model_path, cfg, device):
    """The model with the method applied; a folder that cannot be loaded (missing or corrupt
    weights) fails in one line naming the key and, where one is, the broken file."""
    from safetensors import SafetensorError

    from netft.models.precision import precision

    name = cfg.model.name_or_path
    try:
        model = load_model(model_path, cfg.model, cfg.method, device,
                           dtype=precision(cfg, device).params)
    except (OSError, ValueError, SafetensorError) as e:
        bad = unreadable_weights(model_path)
        raise ConfigError(f"model.name_or_path={name}: cannot load the model"
                          + (f" ({', '.join(bad)} unreadable: re-download or re-export it)"
                             if bad else "")
                          + f" ({type(e).__name__}: {str(e).splitlines()[0][:300]})") from e
    try:
        return apply_method(model, cfg.method)
    except ValueError as e:
        if "arget modules" not in str(e):
            raise
        raise ConfigError(f"method.target_modules={cfg.method.target_modules}: "
                          f"{str(e).splitlines()[0][:300]} (or use all-linear)") from e


def unreadable_weights(model_path) -> list[str]:
    """The safetensors files of a model folder whose header does not parse (truncated or
    corrupt downloads); safetensors' own message does not say which file."""
    from safetensors import SafetensorError, safe_open

    bad = []
    for f in sorted(Path(model_path).glob("*.safetensors")) if Path(model_path).is_dir() else []:
        try:
            with safe_open(str(f), framework="pt"):
                pass
        except (OSError, SafetensorError):
            bad.append(str(f))
    return bad
