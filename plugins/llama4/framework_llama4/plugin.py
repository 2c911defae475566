"""Hook implementations of the llama4 plugin: one-line calls into the modules that hold the knowledge.

Loaded through the ``framework`` entry point ``llama4``; built only on the public hook contract
(``framework.hookspecs`` / ``framework.hookdata``). Every hook takes the hookspec's full parameter
list, so a diff between two family plugins shows only which module answers. ``check_data`` and
``check_model`` are left to the core's generic checks: this plugin holds no Llama 4-specific data
or weight finding to add. Heavy libraries are imported inside functions.
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
from framework_llama4 import chat, checkpoints, checks, detect, presets, rope

FRAMEWORK_HOOK_API = ">=1.2,<2"


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
                tools: list[dict[str, Any]] | None) -> RenderedChat:
    return chat.render(messages, options, tokenizer, tools)


@hookimpl
def chat_features(facts: ModelFacts, tokenizer: Any) -> ChatFeatures:
    return chat.features()


@hookimpl
def stop_tokens(facts: ModelFacts, tokenizer: Any) -> list[str]:
    return chat.stop_tokens(facts, tokenizer.get_vocab() if tokenizer is not None else None)


@hookimpl
def lora_target_modules(facts: ModelFacts, method: str, train_embeddings: bool) -> LoraTargets:
    return presets.lora_targets(facts, train_embeddings)
