"""Hook implementations of the gemma plugin: one-line calls into the modules that hold the knowledge.

Loaded through the ``framework`` entry point ``gemma``. Heavy libraries (torch, transformers)
are imported inside the modules' functions, never at import time. Each implementation takes the
hookspec's whole parameter list (framework/hookspecs.py), used or not, so every plugin reads alike.
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
from framework_gemma import chat, checkpoints, checks, detect, presets, rope

FRAMEWORK_HOOK_API = ">=1,<2"


@hookimpl
def match_model(facts: ModelFacts) -> MatchResult | None:
    return detect.match(facts)


@hookimpl
def model_load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    return presets.load_settings(facts, hardware)


@hookimpl
def default_hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any]:
    return presets.default_hyperparameters(facts, method, stage)


@hookimpl
def rope_scaling(facts: ModelFacts, target_length: int) -> RopeDecision:
    return rope.decide(facts, target_length)


@hookimpl
def known_model_configs() -> dict[str, dict[str, Any]]:
    return checkpoints.known_model_configs()


@hookimpl
def check_tokenizer(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    return checks.check_tokenizer(facts, tokenizer)


@hookimpl
def render_chat(facts: ModelFacts, messages: list[Message], options: ChatOptions, tokenizer: Any,
                tools: list[dict[str, Any]] | None) -> RenderedChat | None:
    return chat.render(facts, messages, options, tokenizer, tools)


@hookimpl
def chat_features(facts: ModelFacts, tokenizer: Any) -> ChatFeatures | None:
    return chat.features(facts)


@hookimpl
def stop_tokens(facts: ModelFacts, tokenizer: Any) -> list[str] | None:
    return chat.stop_tokens(facts, tokenizer)


@hookimpl
def check_data(facts: ModelFacts, tokenizer: Any, texts: list[str]) -> list[Finding]:
    return checks.check_data(texts, facts)


@hookimpl
def lora_target_modules(facts: ModelFacts, method: str, train_embeddings: bool) -> LoraTargets:
    return presets.lora_targets(facts, train_embeddings)


@hookimpl
def check_model(facts: ModelFacts, model: Any, tokenizer: Any) -> list[Finding]:
    return checks.check_model(model, tokenizer, facts)
