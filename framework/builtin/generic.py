"""The generic family plugin: answers family hooks when the selected plugin has no opinion,
handles models no plugin claims (with a warning), and renders every model whose chat format
is its shipped template (``chat_format="shipped"``) with that template."""

from __future__ import annotations

import re
from typing import Any

from framework.builtin.shipped import THINK_CLOSE, THINK_OPEN, render_shipped
from framework.errors import ModelError
from framework.hookdata import (
    ChatFeatures,
    ChatOptions,
    LoadSettings,
    LoraTargets,
    Message,
    ModelFacts,
    RenderedChat,
    RopeDecision,
)
from framework.hookspecs import hookimpl


@hookimpl(trylast=True)
def model_load_settings() -> LoadSettings:
    return LoadSettings()


@hookimpl(trylast=True)
def default_hyperparameters() -> dict[str, Any]:
    return {}


@hookimpl(trylast=True)
def rope_scaling(facts: ModelFacts, target_length: int) -> RopeDecision:
    native = facts.max_position_embeddings
    if native is None or target_length <= native:
        return RopeDecision(action="native", reason=f"{target_length} tokens fit the native context ({native})")
    return RopeDecision(
        action="refuse",
        reason=f"{target_length} tokens exceed the native context {native} and no plugin knows a safe "
        "RoPE scaling for this model",
    )


@hookimpl(trylast=True)
def lora_target_modules() -> LoraTargets:
    return LoraTargets(target_modules="all-linear")


@hookimpl(trylast=True)
def render_chat(messages: list[Message], options: ChatOptions, tokenizer: Any,
                tools: list[dict[str, Any]] | None) -> RenderedChat:
    """Render with the model's own (shipped) chat template; see ``framework.builtin.shipped``.

    Each trained reply is what the model generates after the template's inference prompt at
    that point, so templates that pre-fill a think block or rewrite earlier turns train right.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(
            "no plugin claims this model and its tokenizer has no chat template",
            hint="install a plugin for this family, or force one with --plugin NAME (see `framework plugins`)",
        )
    return render_shipped(messages, options, tokenizer, tools, _specials(tokenizer))


def _specials(tokenizer: Any) -> list[str]:
    from framework.chat import special_token_strings

    return sorted(special_token_strings(tokenizer), key=len, reverse=True)


def _template_source(tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        return "\n".join(str(t) for t in template.values())
    return template or ""


@hookimpl(trylast=True)
def chat_features(tokenizer: Any) -> ChatFeatures:
    """Read from the shipped template: reasoning when it renders ``reasoning_content`` or think
    blocks, tools when it renders the ``tools`` declarations."""
    source = _template_source(tokenizer)
    reasoning = "reasoning_content" in source or THINK_OPEN in source or THINK_CLOSE in source
    tools = re.search(r"\btools\b", source) is not None
    notes = []
    if reasoning:
        notes.append("reasoning: rendered by the model's shipped template (think blocks)")
    if tools:
        notes.append("tools: declarations, calls and results rendered by the model's shipped template")
    return ChatFeatures(reasoning=reasoning, tools=tools, notes=tuple(notes))


@hookimpl(trylast=True)
def stop_tokens(tokenizer: Any) -> list[str] | None:
    """The control token the shipped template puts right after a reply, and generation_config.json's eos.

    Inference servers stop on the generation config's eos ids; a template's end-of-turn token
    that is not among them is added so evaluation and ``framework chat`` stop where they do.
    """
    found: list[str] = []
    if getattr(tokenizer, "chat_template", None):
        probe = "\u2063probe\u2063"
        convo = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}]
        try:
            text = tokenizer.apply_chat_template(convo, tokenize=False)
        except Exception:  # a template that refuses the probe conversation gives no hint
            text = ""
        tail = text[text.find(probe) + len(probe):] if probe in text else ""
        hits = [(tail.find(t), t) for t in _specials(tokenizer) if t in tail]
        if hits:
            found.append(min(hits)[1])
    for token in _generation_config_eos(tokenizer):
        if token not in found:
            found.append(token)
    return found or None


def _generation_config_eos(tokenizer: Any) -> list[str]:
    """Token strings of generation_config.json's eos_token_id in the tokenizer's directory."""
    import json
    from pathlib import Path

    directory = getattr(tokenizer, "name_or_path", None)
    path = Path(directory) / "generation_config.json" if directory else None
    if path is None or not path.is_file():
        return []
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        return []
    ids = value if isinstance(value, list) else [value] if isinstance(value, int) else []
    tokens = [tokenizer.convert_ids_to_tokens(int(i)) for i in ids if isinstance(i, int) and 0 <= i < len(tokenizer)]
    return [t for t in tokens if isinstance(t, str)]
