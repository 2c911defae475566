"""The generic family plugin: answers family hooks when the selected plugin has no opinion,
and handles models no plugin claims (with a warning) using the tokenizer's own template."""

from __future__ import annotations

from typing import Any

from framework.errors import ModelError
from framework.hookdata import ChatOptions, LoadSettings, LoraTargets, ModelFacts, RenderedChat, RopeDecision, Segment
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


def _template_text(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return text if isinstance(text, str) else str(text)


@hookimpl(trylast=True)
def render_chat(messages: list[dict[str, str]], options: ChatOptions, tokenizer: Any) -> RenderedChat:
    """Render with the tokenizer's own chat template, segment by segment.

    Each message's text is the difference between renders of growing prefixes of the
    conversation; an assistant message's segment starts after the generation prompt, so its
    reply and end-of-turn text carry loss. A template whose renders are not prefixes of each
    other cannot be split this way and is refused.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(
            "no plugin claims this model and its tokenizer has no chat template",
            hint="install a plugin for this family, or force one with --plugin NAME (see `framework plugins`)",
        )
    segments: list[Segment] = []
    done = ""
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            prompt = _template_text(tokenizer, messages[:i], True)
            if not prompt.startswith(done):
                raise ModelError("the tokenizer's chat template is not prefix-stable", hint="write a family plugin")
            segments.append(Segment(prompt[len(done):], message_index=None))
            done = prompt
        text = _template_text(tokenizer, messages[: i + 1], False)
        if not text.startswith(done):
            raise ModelError("the tokenizer's chat template is not prefix-stable", hint="write a family plugin")
        segments.append(
            Segment(text[len(done):], trainable=message["role"] == "assistant", message_index=i, from_data=True)
        )
        done = text
    if options.add_generation_prompt:
        text = _template_text(tokenizer, messages, True)
        segments.append(Segment(text[len(done):]))
    return RenderedChat(tuple(s for s in segments if s.text))
