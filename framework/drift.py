"""Drift check: the plugin's chat format against the template the model ships.

vLLM, Ollama and transformers render with the template in the model directory. When a plugin
renders training data differently (a default system prompt of another generation, a space, a
newline), the model is trained on prompts it never sees at inference. A fixed set of probe
conversations is rendered both ways, as inference prompts (``add_generation_prompt``) and as
whole training conversations, and tokenized; every difference is a finding naming the first
differing token in both renderings and which one training uses. Runs on every ``run`` and in
``framework check``, in well under a second.
"""

from __future__ import annotations

from typing import Any

from framework.errors import FrameworkError
from framework.hookdata import ChatOptions, Finding, Message

_SYSTEM = {"role": "system", "content": "You are a careful assistant. Answer briefly."}

#: (name, conversation). Conversations ending in a user turn are compared as inference prompts;
#: those ending in an assistant turn both as the prompt before it and as a whole sample.
PROBES: tuple[tuple[str, list[Message]], ...] = (
    ("no system message", [{"role": "user", "content": "Hello! Who are you?"}]),
    ("system message", [_SYSTEM, {"role": "user", "content": "What is 2 + 2?"},
                        {"role": "assistant", "content": "2 + 2 = 4."}]),
    ("multi-turn", [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a short joke."},
                    {"role": "assistant", "content": "Why did the bicycle fall over? It was two tired."}]),
    ("multi-turn with system", [_SYSTEM, {"role": "user", "content": "Name a colour."},
                                {"role": "assistant", "content": "Blue."},
                                {"role": "user", "content": "Another one?"}]),
    ("CJK", [{"role": "user", "content": "你好，请用中文介绍一下你自己。"},
             {"role": "assistant", "content": "你好！我是一个乐于助人的语言模型。"}]),
    ("code", [{"role": "user", "content": "Write a Python function that adds two numbers."},
              {"role": "assistant", "content": "```python\ndef add(a, b):\n    return a + b\n```"}]),
    ("whitespace edges", [{"role": "user", "content": "  spaces around, and a newline at the end\n"},
                          {"role": "assistant", "content": "\n\nAn answer between blank lines.\n\n"}]),
)


def _renderings(conversation: list[Message]) -> list[tuple[str, list[Message], bool]]:
    """(what, messages, add_generation_prompt) for one probe."""
    if conversation[-1]["role"] == "user":
        return [("inference prompt", conversation, True)]
    return [("inference prompt", conversation[:-1], True), ("training sample", conversation, False)]


def _token(tokenizer: Any, ids: list[int], k: int) -> str:
    return repr(tokenizer.decode([ids[k]])) if k < len(ids) else "(end)"


def _shipped(tokenizer: Any, template: str, messages: list[Message], generation: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation,
                                         chat_template=template)


def template_drift(family: Any, tokenizer: Any) -> list[Finding]:
    """Findings where the selected plugin's rendering differs from the shipped template's.

    Nothing to compare when the model ships no template or no family plugin is selected (the
    generic fallback renders with the shipped template itself).
    """
    facts = family.facts
    if facts.chat_template is None or family.selection.name == "generic":
        return []
    render = family.chat_renderer(tokenizer, chat_format="plugin")
    uses = "shipped template" if family.chat_format == "shipped" else f"{family.selection.name} plugin"
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for name, conversation in PROBES:
        for what, messages, generation in _renderings(conversation):
            try:
                shipped = _shipped(tokenizer, facts.chat_template, messages, generation)
            except Exception:  # the template refuses this probe (e.g. no system role): nothing to compare
                continue
            prefix_only = False
            if not generation:
                # A template whose inference prompt pre-fills (an empty thought block) or that rewrites the
                # last turn once it is finished: the trained sample is that prompt plus the generated reply,
                # so only the prompt is the template's word on it.
                try:
                    prompt = _shipped(tokenizer, facts.chat_template, messages[:-1], True)
                except Exception:
                    continue
                if not shipped.startswith(prompt):
                    shipped, prefix_only = prompt, True
            try:
                ours = render(messages, ChatOptions(add_generation_prompt=generation)).text
            except (FrameworkError, ValueError) as exc:
                if family.chat_format == "shipped":
                    return [Finding(code="template-drift", severity="info",
                                    message=f"the {family.selection.name} plugin does not render this model's chat "
                                            f"format ({str(exc).splitlines()[0]}); training uses the shipped template")]
                continue
            if ours == shipped or (prefix_only and ours.startswith(shipped)):
                continue
            a = tokenizer(ours, add_special_tokens=False)["input_ids"]
            b = tokenizer(shipped, add_special_tokens=False)["input_ids"]
            if a == b or (prefix_only and a[: len(b)] == b):
                continue
            k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            pair = (_token(tokenizer, a, k), _token(tokenizer, b, k))
            if pair in seen:
                continue
            seen.add(pair)
            findings.append(Finding(
                code="template-drift",
                severity="info" if family.chat_format == "shipped" else "warning",
                message=f"probe '{name}' ({what}): at token {k} the {family.selection.name} plugin renders "
                        f"{pair[0]} where the model's shipped chat template renders {pair[1]}; training uses the "
                        f"{uses} (choose with --set data.template=plugin|shipped)",
            ))
    return findings
