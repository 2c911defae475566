"""What the chat template shipped in a model directory says about its chat format.

config.json names the architecture; the shipped template names the chat format the weights
were trained on. Every Mistral format is built from the ``[INST]``/``[/INST]`` control tokens
(mistral-common ``SpecialTokens``), so their presence confirms a Mistral format; a template
without them belongs to a fine-tune that kept the architecture and changed the format (ChatML
merges, Llama 3-style headers, Zephyr, DeepSeek distills): its own template must render the
chat. The later markers tell the generations apart (``[SYSTEM_PROMPT]`` from tokenizer v7,
``[THINK]`` from v13, ``[ARGS]``/``[CALL_ID]`` tool calls from v11).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Markers of other chat formats, to name the one found (first match wins).
FOREIGN = (
    ("<|im_start|>", "ChatML (<|im_start|>)"),
    ("<|start_header_id|>", "Llama 3 headers (<|start_header_id|>)"),
    ("<|header_start|>", "Llama 4 headers (<|header_start|>)"),
    ("<start_of_turn>", "Gemma turns (<start_of_turn>)"),
    ("<｜User｜>", "DeepSeek (<｜User｜>)"),
    ("<|user|>", "Zephyr/Phi (<|user|>)"),
    ("### Instruction", "Alpaca (### Instruction)"),
)


@dataclass(frozen=True)
class TemplateEvidence:
    """A shipped template's verdict: is it a Mistral format, and which markers decided."""

    mistral: bool
    reason: str
    system_prompt_tokens: bool = False  # [SYSTEM_PROMPT] (tokenizer v7 and later)
    think_tokens: bool = False  # [THINK] (tokenizer v13 and later, Magistral 2507+)
    args_tokens: bool = False  # [ARGS] tool calls (tokenizer v11 and later)


def read(template: str | None) -> TemplateEvidence | None:
    """The evidence of ``template``; None when the model directory ships no template."""
    if not template:
        return None
    if "[INST]" in template:
        markers = [m for m in ("[SYSTEM_PROMPT]", "[THINK]", "[ARGS]", "[TOOL_CALLS]") if m in template]
        found = f" and {', '.join(markers)}" if markers else ""
        return TemplateEvidence(
            mistral=True, reason=f"chat template of the model directory: Mistral [INST] control tokens{found}",
            system_prompt_tokens="[SYSTEM_PROMPT]" in template, think_tokens="[THINK]" in template,
            args_tokens="[ARGS]" in template)
    name = next((label for marker, label in FOREIGN if marker in template), "a format without [INST]")
    return TemplateEvidence(
        mistral=False, reason=f"chat template of the model directory: {name}, not a Mistral format: the shipped "
        "template renders the chat, the architecture stays Mistral's")
