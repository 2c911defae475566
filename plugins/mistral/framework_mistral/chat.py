"""The Mistral ``[INST]`` chat formats of every generation, rendered as segments.

The sentencepiece and NeMo formats first. Four official Hugging Face templates exist and
differ only in whitespace and in where the system prompt goes (families.md 3.B;
mistral-common is the ground truth behind them,
https://github.com/mistralai/cookbook/blob/main/concept-deep-dive/tokenization/chat_templates.md):

* ``v1`` (7B v0.1/v0.2, Mixtral 8x7B; current Hub template):
  ``<s> [INST] u [/INST] a</s> [INST] u2 [/INST]``; an optional leading system message is
  prepended to the **first** user turn (``SYS\\n\\nu``).
* ``v1`` legacy (the original 2023 template, option ``legacy_template``):
  ``<s>[INST] u [/INST]a</s> [INST] ...`` (7B adds a space after ``</s>``, Mixtral does not);
  it has no system role and raises on one.
* ``v3`` (7B v0.3, Mixtral 8x22B Instruct): ``<s>[INST] u[/INST] a</s>[INST] u2[/INST]``;
  the assistant reply is stripped; the system message is prepended to the last user message.
* ``tekken`` (NeMo): as ``v3`` without any space: ``<s>[INST]u[/INST]a</s>``, reply unstripped.

The end of an assistant turn is ``eos`` (``</s>``); it is trained with the reply. Where the
official template raises, ``render`` raises a one-line ``DataError`` naming the rule.

System placement for v3/tekken (pitfall M5): the Hub templates prepend the system message to
a user message only when it is the last message of the conversation, so every training
sample (which ends with a reply) loses its system prompt. The default,
``system_placement="last_user"``, follows mistral-common, Mistral's ground truth: the system
prompt goes into the last *user* message, which for an inference prompt (ending with a user
message) is exactly what the Hub template renders, and for a training sample keeps the
prompt where inference will put it. ``system_placement="template"`` reproduces the Hub
template character for character, dropping included.

Then the ``[SYSTEM_PROMPT]`` formats of tokenizers v7, v11 and v13 (Tekken), as
mistral-common encodes them (``render_v7``). Used by Mistral Small 3.1 (v7), Small 3.2 /
Magistral Small / Devstral Small 1.x (v11) and Ministral 3 / Magistral 1.2 / Devstral 2
(v13). mistral-common's ``InstructTokenizerV7`` and
its subclasses are the ground truth (the Hub templates are missing or wrong for several of
these models: see the README's departures table). Differences between the versions:

=====================  =================================  ============================  ===========
                       v7                                 v11                           v13
=====================  =================================  ============================  ===========
[AVAILABLE_TOOLS]      before the last user message       before the last user message  before the first
tool call              ``[TOOL_CALLS][{"name", "arguments",  ``[TOOL_CALLS]name[CALL_ID]  ``[TOOL_CALLS]name
                       "id"}]`` (one JSON list)           id[ARGS]{...}`` per call      [ARGS]{...}``
tool result            ``[TOOL_RESULTS]id[TOOL_CONTENT]   as v7                         ``[TOOL_RESULTS]
                       content[/TOOL_RESULTS]``                                         content[/TOOL_RESULTS]``
reasoning              refused                            refused                       ``[THINK]...[/THINK]``
=====================  =================================  ============================  ===========

System messages are ``[SYSTEM_PROMPT]...[/SYSTEM_PROMPT]`` where they stand; an assistant turn
is its reasoning, its text (right-stripped of spaces when it has no reasoning, as
``_encode_normal_content_assistant_message`` does), its tool calls and ``</s>``, all trained.
Tekken has no dummy prefix, so no space follows a control token.

Tool declarations, calls and results are serialised by ``tools.py``; ``stop_tokens`` and
``features`` say how a turn ends and what each format can carry.
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatFeatures, ChatOptions, ModelFacts, RenderedChat, Segment

from framework_mistral import tools as tool_json
from framework_mistral.detect import uses_shipped_template, variant_of

ALTERNATE = "After the optional system message, conversation roles must alternate user/assistant/user/assistant/..."
ROLES = "Only user and assistant roles are supported, with the exception of an initial optional system message!"
LEGACY_ALTERNATE = "Conversation roles must alternate user/assistant/user/assistant/..."
LEGACY_ROLES = "Only user and assistant roles are supported!"

# Text between the pieces of a turn, per format: (user open, user close, reply prefix).
_SPACED = {"v1": (" [INST] ", " [/INST]", " "), "v3": ("[INST] ", "[/INST]", " "), "tekken": ("[INST]", "[/INST]", "")}


def chat_format(facts: ModelFacts, tokenizer: Any) -> str | None:
    """The format to render, or None when the checkpoint's own chat template must be used.

    A tokenizer whose chat template does not speak ``[INST]`` belongs to a fine-tune with its
    own format (Zephyr, ChatML merges...): it was trained on that template, so the plugin
    steps aside. A tokenizer without a template gets the variant's official format.
    """
    if uses_shipped_template(facts):
        return None
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):
        own = own.get("default")
    fmt = variant_of(facts).chat_format
    if own and "[INST]" not in str(own):
        return None
    if fmt is None:  # an unpublished vocabulary without a template: the plain [INST] format; Small 4: its own
        return "v1" if not own and variant_of(facts).name in ("custom", "mixtral-custom") else None
    return fmt


def _special(tokenizer: Any, name: str, default: str) -> str:
    value = getattr(tokenizer, name, None) if tokenizer is not None else None
    return str(value) if value else default


def _fail(rule: str, index: int, role: str, hint: str) -> DataError:
    return DataError(f"the official Mistral chat template rejects this conversation: {rule}",
                     where=f"message {index} (role {role!r})", hint=hint)


def _split_system(messages: list[dict[str, Any]]) -> tuple[str | None, int]:
    """System text and the index where the turn loop starts (the templates' ``loop_messages``)."""
    if messages and messages[0].get("role") == "system":
        return str(messages[0].get("content", "")), 1
    return None, 0


def _reply(content: str, index: int, prefix: str, eos: str, tail: str = "") -> list[Segment]:
    """An assistant turn: the reply with its template prefix and eos trained, optional template tail.

    The prefix space of the sentencepiece formats is trained: mistral-common encodes the reply
    with sentencepiece's dummy prefix, so the model generates that "▁" (a token of its own
    before digits and some punctuation) after ``[/INST]``.
    """
    return [
        Segment(prefix, trainable=True, message_index=index),
        Segment(content, trainable=True, message_index=index, from_data=True),
        Segment(eos, trainable=True, message_index=index),
        Segment(tail),
    ]


def _user(content: str, index: int, fmt: str, system: str | None, system_index: int) -> list[Segment]:
    open_, close, _ = _SPACED[fmt]
    segments = [Segment(open_)]
    if system is not None:
        segments += [Segment(system, message_index=system_index, from_data=True), Segment("\n\n")]
    return [*segments, Segment(content, message_index=index, from_data=True), Segment(close)]


def _render_v1(messages: list[dict[str, Any]], bos: str, eos: str) -> list[Segment]:
    system, start = _split_system(messages)
    segments = [Segment(bos)]
    for pos, message in enumerate(messages[start:]):
        index, role = start + pos, message.get("role")
        if (role == "user") != (pos % 2 == 0):
            raise _fail(ALTERNATE, index, role, "merge consecutive messages of one role; a system message "
                        "may only come first")
        content = str(message.get("content", ""))
        if role == "user":
            segments += _user(content, index, "v1", system if pos == 0 else None, 0)
        elif role == "assistant":
            segments += _reply(content, index, " ", eos)
        else:
            raise _fail(ROLES, index, role, "drop or convert messages of other roles")
    return segments


def _render_legacy(messages: list[dict[str, Any]], bos: str, eos: str, mixtral: bool) -> list[Segment]:
    segments = [Segment(bos)]
    for index, message in enumerate(messages):
        role = message.get("role")
        if (role == "user") != (index % 2 == 0):
            hint = ("the 2023 template has no system role: drop the system message or render with the "
                    "current template (it prepends the system text to the first user turn)")
            raise _fail(LEGACY_ALTERNATE, index, role, hint)
        content = str(message.get("content", ""))
        if role == "user":
            segments += [Segment("[INST] "), Segment(content, message_index=index, from_data=True), Segment(" [/INST]")]
        elif role == "assistant":
            segments += _reply(content, index, "", eos, "" if mixtral else " ")
        else:
            raise _fail(LEGACY_ROLES, index, role, "drop or convert messages of other roles")
    return segments


def _is_tool_turn(message: dict[str, Any]) -> bool:
    return message.get("role") in ("tool", "tool_results") or message.get("tool_calls") is not None


def _check_v3_alternation(messages: list[dict[str, Any]], start: int) -> None:
    turn = 0
    for index in range(start, len(messages)):
        message = messages[index]
        if _is_tool_turn(message):
            continue
        if (message.get("role") == "user") != (turn % 2 == 0):
            raise _fail(ALTERNATE, index, message.get("role"), "merge consecutive messages of one role; tool "
                        "results may sit between turns; a system message may only come first")
        turn += 1


def _no_tools(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> None:
    """v1 formats (7B v0.1/v0.2, Mixtral 8x7B) have no tool tokens: refuse, never drop."""
    hint = "tools need a v0.3+ Mistral (v0.3, NeMo, Mixtral 8x22B Instruct); drop the tool parts of this sample"
    if tools:
        raise DataError("this Mistral format (sentencepiece v1) has no tool tokens", where="tools", hint=hint)
    for index, message in enumerate(messages):
        if message.get("tool_calls"):
            raise DataError("this Mistral format (sentencepiece v1) has no tool tokens",
                            where=f"message {index} (role 'assistant')", hint=hint)


def _no_reasoning(messages: list[dict[str, Any]]) -> None:
    for index, message in enumerate(messages):
        if message.get("reasoning_content"):
            raise DataError("this Mistral format has no reasoning markers ([THINK] arrived with v13 tokenizers)",
                            where=f"message {index} (role 'assistant')",
                            hint="drop reasoning_content, or train a reasoning Mistral (Magistral, Ministral 3)")


def _render_v3(messages: list[dict[str, Any]], bos: str, eos: str, fmt: str, last_user: bool,
               tools: list[dict[str, Any]] | None) -> list[Segment]:
    system, start = _split_system(messages)
    _check_v3_alternation(messages, start)
    users = [i for i in range(start, len(messages)) if messages[i].get("role") == "user"]
    system_at = (users[-1] if users else None) if last_user else len(messages) - 1
    tools_at = users[-1] if users and tools else None  # mistral-common: before the last user message
    space = _SPACED[fmt][2]
    segments = [Segment(bos)]
    for index in range(start, len(messages)):
        message, role = messages[index], messages[index].get("role")
        content = message.get("content", "")
        if role == "user":
            if index == tools_at:
                segments += tool_json.available_tools_segments(tools or [], space)
            segments += _user(str(content), index, fmt, system if index == system_at else None, 0)
        elif role == "assistant" and message.get("tool_calls"):
            segments += tool_json.v3_call_segments(message, index, index == len(messages) - 1, space, eos)
        elif role == "assistant":
            reply = str(content).strip() if fmt == "v3" else str(content)
            segments += _reply(reply, index, space, eos)
        elif role in ("tool", "tool_results"):
            segments += tool_json.v3_result_segments(message, index, space)
        else:
            raise _fail(ROLES, index, role, "drop or convert messages of other roles")
    return segments


# ── Tekken v7, v11, v13: [SYSTEM_PROMPT] formats ─────────────────────────────────────────

V7_FORMATS = ("v7", "v11", "v13")
V7_ORDER = ("mistral-common: after the optional system messages, user and assistant turns alternate "
            "(tool results follow calls)")

#: The default system prompt of the reasoning models (Magistral Small 1.1+, Ministral 3 Reasoning):
#: the Hub template of mistralai/Ministral-3-14B-Reasoning-2512 inserts it when a conversation has
#: no system message, and the Magistral model cards ask for it. Three chunks: text, think, text.
REASONING_SYSTEM = (
    "# HOW YOU SHOULD THINK AND ANSWER\n\nFirst draft your thinking process (inner monologue) until you arrive at a "
    "response. Format your response using Markdown, and use LaTeX for any mathematical equations. Write both your "
    "thoughts and the response in the same language as the input.\n\nYour thinking process must follow the template "
    "below:",
    "Your thoughts or/and draft, like working through an exercise on scratch paper. Be as casual and as long as you "
    "want until you are confident to generate the response to the user.",
    "Here, provide a self-contained response.",
)


def _refuse(message: str, index: int, role: Any, hint: str) -> DataError:
    return DataError(message, where=f"message {index} (role {role!r})", hint=hint)


def _check_v7_order(messages: list[dict[str, Any]]) -> None:
    """mistral-common's validator: start with user/system; roles in an order the tokenizer knows."""
    allowed = {None: {"user", "system"}, "system": {"user", "assistant", "system"},
               "user": {"assistant", "system"}, "assistant": {"user", "tool"},
               "tool": {"assistant", "tool", "user"}}
    previous = None
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in allowed.get(previous, set()):
            raise _refuse(f"{role!r} after {previous or 'the start'} is not a Mistral conversation", index, role,
                          "merge consecutive messages of one role; " + V7_ORDER)
        previous = role


def _v7_system(text: str, index: int | None) -> list[Segment]:
    return [Segment("[SYSTEM_PROMPT]"), Segment(text, message_index=index, from_data=index is not None),
            Segment("[/SYSTEM_PROMPT]")]


def default_system() -> list[Segment]:
    """The reasoning models' default system prompt, its middle part a closed think chunk."""
    first, think, last = REASONING_SYSTEM
    return [Segment("[SYSTEM_PROMPT]"), Segment(first), Segment("[THINK]"), Segment(think), Segment("[/THINK]"),
            Segment(last), Segment("[/SYSTEM_PROMPT]")]


def _v7_assistant(fmt: str, message: dict[str, Any], index: int, last: bool, eos: str) -> list[Segment]:
    reasoning = message.get("reasoning_content") or ""
    content = str(message.get("content") or "")
    calls = message.get("tool_calls") or []
    if not (reasoning or content or calls):
        raise _refuse("an assistant message needs content, reasoning or tool calls", index, "assistant",
                      "drop the empty turn")
    out: list[Segment] = []
    if reasoning:
        if fmt != "v13":
            raise _refuse(f"tokenizer {fmt} has no [THINK] tokens (reasoning arrived with v13)", index, "assistant",
                          "drop reasoning_content for this model, or train a reasoning Mistral (Magistral 1.2, "
                          "Ministral 3 Reasoning)")
        out += [Segment("[THINK]", True, index, kind="reasoning"),
                Segment(reasoning, True, index, from_data=True, kind="reasoning"),
                Segment("[/THINK]", True, index, kind="reasoning")]
    text = content if reasoning else content.rstrip(" ")
    if text:
        out.append(Segment(text, True, index, from_data=True))
    if calls:
        out += tool_json.v7_call_segments(fmt, message, index, last)
    return [*out, Segment(eos, True, index)]


def render_v7(fmt: str, messages: list[dict[str, Any]], bos: str, eos: str, tools: list[dict[str, Any]] | None,
              reasoning_default_system: bool) -> list[Segment]:
    """Segments of a conversation in format ``fmt`` (v7, v11, v13); see the module docstring."""
    _check_v7_order(messages)
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    tools_at = (users[0] if fmt == "v13" else users[-1]) if users and tools else None
    segments = [Segment(bos)]
    if reasoning_default_system and not any(m.get("role") == "system" for m in messages):
        segments += default_system()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            segments += _v7_system(str(message.get("content", "")), index)
        elif role == "user":
            if index == tools_at:
                segments += tool_json.available_tools_segments(tools or [], "")
            segments += [Segment("[INST]"), Segment(str(message.get("content", "")), message_index=index,
                                                     from_data=True), Segment("[/INST]")]
        elif role == "assistant":
            segments += _v7_assistant(fmt, message, index, index == len(messages) - 1, eos)
        elif role == "tool":
            segments += tool_json.v7_result_segments(fmt, message, index)
    return segments


def render(
    facts: ModelFacts, messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
    tools: list[dict[str, Any]] | None = None,
) -> RenderedChat | None:
    """Render like the official template of ``facts.variant``; None defers to the checkpoint's own."""
    fmt = chat_format(facts, tokenizer)
    if fmt is None:
        return None
    if not messages:
        raise DataError("empty conversation", hint="every sample needs at least one user message")
    bos = _special(tokenizer, "bos_token", "<s>")
    eos = _special(tokenizer, "eos_token", "</s>")
    placement = options.get("system_placement", "last_user")
    if placement not in ("template", "last_user"):
        raise DataError(f"unknown system_placement {placement!r}", where="chat options",
                        hint="use 'last_user' (mistral-common, default) or 'template' (the Hub template)")
    if fmt not in V7_FORMATS:
        _no_reasoning(messages)
    if fmt == "v1":
        _no_tools(messages, tools)
    if fmt in V7_FORMATS:
        default_system = bool(options.get("default_system_prompt", variant_of(facts).reasoning))
        segments = render_v7(fmt, messages, bos, eos, tools, default_system)
        return RenderedChat(tuple(s for s in segments if s.text))
    if fmt == "v1" and options.get("legacy_template", False):
        segments = _render_legacy(messages, bos, eos, mixtral=variant_of(facts).name.startswith("mixtral"))
    elif fmt == "v1":
        segments = _render_v1(messages, bos, eos)
    else:
        segments = _render_v3(messages, bos, eos, fmt, last_user=placement == "last_user", tools=tools)
    return RenderedChat(tuple(s for s in segments if s.text))


def stop_tokens(tokenizer: Any) -> list[str]:
    """Every format ends an assistant turn with eos (``</s>``)."""
    return [_special(tokenizer, "eos_token", "</s>")]


def features(facts: ModelFacts, tokenizer: Any) -> ChatFeatures | None:
    """Tools from v0.3 on (v3 tokenizers have the tool control tokens); no reasoning before v13."""
    fmt = chat_format(facts, tokenizer)
    if fmt is None:
        return None
    if fmt == "v1":
        return ChatFeatures(notes=("sentencepiece v1 has no tool or reasoning tokens",))
    if fmt in V7_FORMATS:
        reasoning = variant_of(facts).reasoning
        return ChatFeatures(tools=True, reasoning=reasoning, notes=(
            f"Tekken {fmt} as mistral-common encodes it: [SYSTEM_PROMPT], [AVAILABLE_TOOLS], [TOOL_CALLS], "
            "[TOOL_RESULTS]" + (", reasoning in [THINK]...[/THINK] and the default reasoning system prompt when a "
                                "sample has none" if reasoning else ""),))
    return ChatFeatures(tools=True, notes=(
        "tools as mistral-common encodes them: [AVAILABLE_TOOLS] before the last user message, [TOOL_CALLS] "
        "JSON list with 9-character ids, [TOOL_RESULTS] {content, call_id}",))
