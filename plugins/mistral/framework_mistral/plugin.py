"""Hook implementations of the Mistral family plugin (entry point ``mistral``).

Thin by design: each hook delegates in one line to the module that owns the concern, so every
behaviour can be tested without pluggy. Each implementation takes exactly the hookspec's
parameters (``framework/hookspecs.py``), in its order, used or not, so a diff against another
family's plugin.py shows only which hooks the family answers.
"""

from __future__ import annotations

from typing import Any

from framework import hookimpl
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

from framework_mistral import chat, checkpoints, checks, detect, presets, rope

FRAMEWORK_HOOK_API = ">=1,<2"


@hookimpl
def match_model(facts: ModelFacts) -> MatchResult | None:
    return detect.match(facts)


@hookimpl
def model_load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    return presets.load_settings(facts, hardware)


@hookimpl
def default_hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any]:
    return presets.default_hyperparameters(method, stage)


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
def render_chat(
    facts: ModelFacts, messages: list[Message], options: ChatOptions, tokenizer: Any,
    tools: list[dict[str, Any]] | None,
) -> RenderedChat | None:
    return chat.render(facts, messages, options, tokenizer, tools)


@hookimpl
def chat_features(facts: ModelFacts, tokenizer: Any) -> ChatFeatures | None:
    return chat.features(facts, tokenizer)


@hookimpl
def stop_tokens(facts: ModelFacts, tokenizer: Any) -> list[str]:
    return chat.stop_tokens(tokenizer)


@hookimpl
def check_data(facts: ModelFacts, tokenizer: Any, texts: list[str]) -> list[Finding]:
    return checks.check_data(facts, tokenizer, texts)


@hookimpl
def lora_target_modules(facts: ModelFacts, method: str, train_embeddings: bool) -> LoraTargets:
    return presets.lora_targets(facts, method, train_embeddings)


@hookimpl
def check_model(facts: ModelFacts, model: Any, tokenizer: Any) -> list[Finding]:
    return checks.check_model(facts, model, tokenizer)
