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


def facts_from_config(config: dict[str, Any], name_or_path: str) -> ModelFacts:
    """Normalise a config.json dict; nested ``text_config`` fills facts a wrapper leaves out."""
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
