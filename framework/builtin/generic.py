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
        piece = text[len(done):]
        if message["role"] == "assistant":
            segments.extend(_assistant_segments(piece, message["content"], i, _specials(tokenizer)))
        else:
            segments.extend(_data_segments(piece, message["content"], i))
        done = text
    if options.add_generation_prompt:
        text = _template_text(tokenizer, messages, True)
        segments.append(Segment(text[len(done):]))
    return RenderedChat(tuple(s for s in segments if s.text))


def _specials(tokenizer: Any) -> list[str]:
    from framework.chat import special_token_strings

    return sorted(special_token_strings(tokenizer), key=len, reverse=True)


def _data_segments(piece: str, content: str, index: int) -> list[Segment]:
    """A non-assistant turn: only the message text is data; the template's markers are not."""
    body = content.strip()
    start = piece.find(body) if body else -1
    if start < 0:
        return [Segment(piece, message_index=index)]
    end = start + len(body)
    out = [Segment(piece[:start], message_index=index), Segment(piece[start:end], message_index=index, from_data=True),
           Segment(piece[end:], message_index=index)]
    return [seg for seg in out if seg.text]


def _assistant_segments(piece: str, content: str, index: int, specials: list[str]) -> list[Segment]:
    """Split an assistant turn into trained reply + end-of-turn marker and untrained trailing text.

    Text after the last control token of the turn (usually a newline before the next turn) is
    template text the model never has to produce: generation stops at the control token.
    """
    body = content.strip()
    start = piece.find(body) if body else -1
    if start < 0:
        return [Segment(piece, trainable=True, message_index=index, from_data=True)]
    end = start + len(body)
    tail = piece[end:]
    last = -1
    for token in specials:
        pos = tail.rfind(token)
        if pos >= 0:
            last = max(last, pos + len(token))
    cut = end + (last if last >= 0 else len(tail))
    out = [Segment(piece[:start], message_index=index), Segment(piece[start:end], True, index, from_data=True),
           Segment(piece[end:cut], True, index), Segment(piece[cut:], message_index=index)]
    return [seg for seg in out if seg.text]


@hookimpl(trylast=True)
def stop_tokens(tokenizer: Any) -> list[str] | None:
    """The control token the tokenizer's own template puts right after an assistant reply."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    probe = "\u2063probe\u2063"
    try:
        text = _template_text(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}], False)
    except Exception:  # a template that refuses the probe conversation gives no hint
        return None
    tail = text[text.find(probe) + len(probe):] if probe in text else ""
    found = [(tail.find(t), t) for t in _specials(tokenizer) if t in tail]
    return [min(found)[1]] if found else None
