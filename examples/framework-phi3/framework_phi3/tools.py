"""Phi-3 has no tool syntax: what its official templates do with tool content, and why the plugin refuses it.

The chat templates Microsoft ships with Phi-3-mini (4k and 128k) and Phi-3.5-mini render three
roles, system, user and assistant, each as ``<|role|>``, newline, content, ``<|end|>``. They
never read the ``tools`` variable nor an assistant's ``tool_calls``, and a ``tool`` message
falls through the template's if/elif and vanishes from the prompt. The vocabulary has no marker
for tools either: its eleven added tokens are the three role tokens, ``<|end|>``,
``<|endoftext|>`` and six ``<|placeholder…|>`` tokens that no template writes. Rendering tool
data in this format would either lose it silently or teach the model a syntax Microsoft never
trained, so the plugin declares ``ChatFeatures(tools=False)`` with :data:`NO_TOOL_SYNTAX` as the
note, the core refuses such samples (one line naming the file and line), and ``chat.render``
refuses what reaches it anyway.

Phi-4-mini, also published with ``model_type`` phi3 but with a 200,064-row vocabulary this
plugin does not claim, is the first Phi with tool declarations (``<|tool|>…<|/tool|>`` inside
the system turn); a plugin that claims it renders them.

source: https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/tokenizer_config.json
source: https://huggingface.co/microsoft/Phi-3.5-mini-instruct/blob/main/tokenizer_config.json
source: https://huggingface.co/microsoft/Phi-4-mini-instruct/blob/main/tokenizer_config.json
"""

from __future__ import annotations

from typing import Any

TEMPLATE_SOURCES = (
    "https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/tokenizer_config.json",
    "https://huggingface.co/microsoft/Phi-3.5-mini-instruct/blob/main/tokenizer_config.json",
)

#: Why tool data is refused, shown by ``framework plan`` and ``check`` with the chat features.
NO_TOOL_SYNTAX = ("Phi-3's official chat template has no tool syntax: it ignores tool declarations and tool "
                  "calls and drops tool messages")


def unrendered(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> tuple[str, str] | None:
    """(where, what) of the first tool content the Phi-3 format cannot write; None when there is none.

    Tool messages are left to ``chat.render``'s role check, which names the roles the format has.
    """
    if tools:
        return "field 'tools'", f"{len(tools)} tool declaration(s)"
    for index, message in enumerate(messages):
        if message.get("tool_calls"):
            return f"message {index}", f"{len(message['tool_calls'])} tool call(s)"
    return None
