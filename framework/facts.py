"""Build ``ModelFacts`` from a config.json dict, the one input every family plugin reasons on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.errors import ModelError
from framework.hookdata import ModelFacts

# Remote-code configs spell the same facts with other keys; the first key present wins.
_ALIASES: dict[str, tuple[str, ...]] = {
    "vocab_size": ("vocab_size", "padded_vocab_size"),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "intermediate_size": ("intermediate_size", "ffn_hidden_size"),
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "num_attention_heads": ("num_attention_heads", "n_head"),
    "num_key_value_heads": ("num_key_value_heads", "multi_query_group_num"),
    "max_position_embeddings": ("max_position_embeddings", "seq_length", "n_positions"),
    "rope_theta": ("rope_theta", "rotary_emb_base"),
    "num_experts": ("num_local_experts", "num_experts", "n_routed_experts"),
}


def _first(config: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    return None


def _as_ids(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),)


def facts_from_config(config: dict[str, Any], name_or_path: str, chat_template: str | None = None) -> ModelFacts:
    """Normalise a config.json dict; nested ``text_config`` fills facts a wrapper leaves out.

    ``chat_template`` is the template shipped beside the config (``read_chat_template``): the
    evidence a plugin uses to tell variants with identical configs apart.
    """
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else None
    merged = {**(text or {}), **{k: v for k, v in config.items() if v is not None}}
    if "model_type" not in config:
        raise ModelError("config.json has no model_type", where=name_or_path,
                         hint="point --model at a transformers model directory")
    rope_theta = _first(merged, _ALIASES["rope_theta"])
    rope_params = merged.get("rope_parameters")  # transformers 5 keeps theta and scaling here
    rope_scaling = merged.get("rope_scaling")
    if isinstance(rope_params, dict):
        rope_theta = rope_theta or rope_params.get("rope_theta")
        if rope_scaling is None and rope_params.get("rope_type", "default") != "default":
            rope_scaling = {k: v for k, v in rope_params.items() if k != "rope_theta"}
    values: dict[str, Any] = {
        key: _first(merged, keys) for key, keys in _ALIASES.items() if key != "rope_theta"
    }
    return ModelFacts(
        name_or_path=name_or_path,
        model_type=str(config["model_type"]),
        architectures=tuple(config.get("architectures") or ()),
        head_dim=merged.get("head_dim") or merged.get("kv_channels"),
        rope_theta=float(rope_theta) if rope_theta is not None else None,
        rope_scaling=rope_scaling,
        sliding_window=merged.get("sliding_window"),
        use_sliding_window=merged.get("use_sliding_window"),
        tie_word_embeddings=merged.get("tie_word_embeddings"),
        attn_logit_softcapping=merged.get("attn_logit_softcapping"),
        final_logit_softcapping=merged.get("final_logit_softcapping"),
        bos_token_id=merged.get("bos_token_id"),
        eos_token_ids=_as_ids(merged.get("eos_token_id")),
        pad_token_id=merged.get("pad_token_id"),
        requires_remote_code=bool(config.get("auto_map")) and not _known_to_transformers(config),
        text_config=text,
        raw=config,
        chat_template=chat_template,
        **values,
    )


def _known_to_transformers(config: dict[str, Any]) -> bool:
    """Whether the installed transformers has a class for this model_type (cheap: no torch)."""
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except Exception:  # transformers missing: assume remote code is needed
        return False
    return config.get("model_type") in CONFIG_MAPPING_NAMES


def read_config(model_dir: Path) -> dict[str, Any]:
    """Load config.json with a one-line error naming the file when it is missing or broken."""
    path = model_dir / "config.json"
    if not path.is_file():
        raise ModelError("no config.json", where=str(model_dir),
                         hint="point --model at a directory saved with save_pretrained, or a hub id")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"invalid JSON ({exc.msg})", where=f"{path}:{exc.lineno}:{exc.colno}",
                         hint="fix or re-download config.json") from exc


#: Where a model directory keeps its chat template, in the order transformers reads them.
TEMPLATE_FILE = "chat_template.jinja"
TOKENIZER_CONFIG = "tokenizer_config.json"


def chat_template_location(model_dir: Path | None) -> Path | None:
    """The file that holds the shipped chat template, or None when there is none."""
    if model_dir is None:
        return None
    jinja = model_dir / TEMPLATE_FILE
    if jinja.is_file():
        return jinja
    config = model_dir / TOKENIZER_CONFIG
    return config if config.is_file() else None


def read_chat_template(model_dir: Path | None) -> str | None:
    """The chat template the model ships, as transformers would use it at inference.

    ``chat_template.jinja`` wins over ``tokenizer_config.json`` (transformers 5 saves the former
    and prefers it on load); in the latter the value is a string, or a list of named templates
    of which ``default`` is the one used for plain chat. A broken tokenizer_config.json is
    reported when the tokenizer is loaded, not here: planning must still work without it.
    """
    path = chat_template_location(model_dir)
    if path is None:
        return None
    if path.name == TEMPLATE_FILE:
        return path.read_text(encoding="utf-8")
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("chat_template")
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        return None
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default")
    return value if isinstance(value, str) and value else None
