"""Hook implementations of the phi3 plugin: one-line calls into the modules that hold the knowledge.

Loaded through the ``framework`` entry point ``phi3``. Every hook takes the hookspec's full
parameter list (framework/hookspecs.py), so this file reads like every other family plugin's
and like the one ``framework new-plugin`` generates. Nothing heavy (torch, transformers) is
imported here: ``framework plugins`` lists plugins without loading them.
"""

from __future__ import annotations

from typing import Any

from framework.hookdata import (
    ChatFeatures,
    ChatOptions,
    Finding,
    HardwareFacts,
    LoadSettings,
    LoraTargets,
    MatchResult,
    Message,
    ModelFacts,
    RenderedChat,
    RopeDecision,
)
from framework.hookspecs import hookimpl
from framework_phi3 import chat, checkpoints, checks, detect, presets, rope

#: The hook API versions this plugin supports: 1.2 added ``chat_features`` and ``render_chat``'s tools.
FRAMEWORK_HOOK_API = ">=1.2,<2"


@hookimpl
def match_model(facts: ModelFacts) -> MatchResult | None:
    return detect.match(facts)


@hookimpl
def model_load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    return presets.load_settings(facts, hardware)


@hookimpl
def default_hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any]:
    return presets.default_hyperparameters(method)


@hookimpl
def rope_scaling(facts: ModelFacts, target_length: int) -> RopeDecision:
    return rope.decide(facts, target_length)


@hookimpl
def known_model_configs() -> dict[str, dict[str, Any]]:
    return checkpoints.known_model_configs()


@hookimpl
def check_tokenizer(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    return checks.check_tokenizer(tokenizer)


@hookimpl
def render_chat(facts: ModelFacts, messages: list[Message], options: ChatOptions, tokenizer: Any,
                tools: list[dict[str, Any]] | None) -> RenderedChat:
    return chat.render(messages, options, tokenizer, tools)


@hookimpl
def chat_features(facts: ModelFacts, tokenizer: Any) -> ChatFeatures:
    return chat.FEATURES


@hookimpl
def stop_tokens(facts: ModelFacts, tokenizer: Any) -> list[str]:
    return chat.stop_tokens(tokenizer.get_vocab() if tokenizer is not None else None)


@hookimpl
def check_data(facts: ModelFacts, tokenizer: Any, texts: list[str]) -> list[Finding]:
    return checks.check_data(texts)


@hookimpl
def lora_target_modules(facts: ModelFacts, method: str, train_embeddings: bool) -> LoraTargets:
    return presets.lora_targets(facts, train_embeddings)
