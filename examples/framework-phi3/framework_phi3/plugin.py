"""Hook implementations of the phi3 plugin: thin calls into the modules that hold the knowledge.

Loaded through the ``framework`` entry point ``phi3``. Nothing heavy (torch, transformers) is
imported here: ``framework plugins`` lists plugins without loading them.
"""

from __future__ import annotations

from typing import Any

from framework.hookdata import (
    ChatOptions,
    Finding,
    HardwareFacts,
    LoadSettings,
    LoraTargets,
    MatchResult,
    ModelFacts,
    RenderedChat,
    RopeDecision,
)
from framework.hookspecs import hookimpl
from framework_phi3 import chat, checks, detect, presets, rope

FRAMEWORK_HOOK_API = ">=1,<2"


@hookimpl
def match_model(facts: ModelFacts) -> MatchResult | None:
    return detect.match(facts)


@hookimpl
def model_load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    return presets.load_settings(facts, hardware)


@hookimpl
def default_hyperparameters(method: str) -> dict[str, Any]:
    return presets.default_hyperparameters(method)


@hookimpl
def rope_scaling(facts: ModelFacts, target_length: int) -> RopeDecision:
    return rope.decide(facts, target_length)


@hookimpl
def known_model_configs() -> dict[str, dict[str, Any]]:
    return presets.known_model_configs()


@hookimpl
def check_tokenizer(tokenizer: Any) -> list[Finding]:
    return checks.check_tokenizer(tokenizer)


@hookimpl
def render_chat(messages: list[dict[str, str]], options: ChatOptions, tokenizer: Any) -> RenderedChat:
    return chat.render(messages, options, tokenizer)


@hookimpl
def stop_tokens(tokenizer: Any) -> list[str]:
    return chat.stop_tokens(tokenizer.get_vocab() if tokenizer is not None else None)


@hookimpl
def check_data(texts: list[str]) -> list[Finding]:
    return checks.check_data(texts)


@hookimpl
def lora_target_modules(facts: ModelFacts, train_embeddings: bool) -> LoraTargets:
    return presets.lora_targets(facts, train_embeddings)
