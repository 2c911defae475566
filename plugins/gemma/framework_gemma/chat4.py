"""Gemma 4's chat format, rendered as segments exactly as the official template renders it.

Google ships two templates (oracles: google-gemma-4-E2B-it.jinja for E2B/E4B, google-gemma-4-31B-it.jinja
for 12B/26B-A4B/31B). They render the same text except for one thing: the larger models' generation
prompt pre-fills an empty thought block when thinking is off. The format::

    <bos><|turn>system\\n[<|think|>\\n][system text][<|tool>declaration:...<tool|>...]<turn|>\\n
    <|turn>user\\n{content | trim}<turn|>\\n
    <|turn>model\\n[<|channel>thought\\n{reasoning}\\n<channel|>][<|tool_call>call:NAME{k:v}<tool_call|>...]
        [<|tool_response>response:NAME{value:<|"|>...<|"|>}<tool_response|>...]{content}<turn|>\\n

* The system turn exists when thinking is on, tools are declared or the first message is a system
  message. ``<|think|>`` at its top switches thinking on.
* Reasoning is rendered only for assistant messages after the last user message (the template
  drops it before; ``preserve_thinking`` keeps it on tool-calling turns).
* Tool results are not turns: they follow the calls inside the same model turn, and the next
  assistant message continues that turn (no new header).
* Strings in tool calls/results/declarations are quoted with the control token ``<|"|>``.

Loss, by the project's rule (each trained reply is what the model generates after the inference
prompt at that point): reasoning (kind "reasoning"), tool calls with the ``<|tool_response>`` token
the model emits to hand over to the tool (kind "tool_call"), content and ``<turn|>`` are trained;
the newline after ``<turn|>``, tool results (kind "tool_result") and declarations (kind "tools") are not.

The one place where training text differs from the template's rendering of the whole conversation:
the larger models' inference prompt ends with ``<|channel>thought\\n<channel|>`` when thinking is off,
but the template never renders that block for a finished turn. The final model turn (after the last
user message, with no tool results yet appended to it) is therefore rendered after the inference
prompt, pre-fill included (untrained), as the model sees it when it generates that reply. Earlier
turns, and turns the template re-renders after tool results, keep the full rendering (the template
rewrites them that way, so that is the context later replies see).

Thinking is on when ``options`` says ``enable_thinking``; when it does not say, it is on exactly when
some assistant message carries reasoning (a model trained on thoughts is run with thinking on).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatFeatures, ChatOptions, RenderedChat, Segment, SegmentKind

BOS = "<bos>"
TURN_OPEN, TURN_CLOSE = "<|turn>", "<turn|>"
THINK = "<|think|>"
CHANNEL_OPEN, CHANNEL_CLOSE = "<|channel>", "<channel|>"
TOOL_OPEN, TOOL_CLOSE = "<|tool>", "<tool|>"
CALL_OPEN, CALL_CLOSE = "<|tool_call>", "<tool_call|>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<|tool_response>", "<tool_response|>"
QUOTE = '<|"|>'
EMPTY_THOUGHT = f"{CHANNEL_OPEN}thought\n{CHANNEL_CLOSE}"
#: Control tokens of the format (token strings; ids in vocab.GEMMA4_IDS).
CONTROL_TOKENS = (TURN_OPEN, TURN_CLOSE, THINK, CHANNEL_OPEN, CHANNEL_CLOSE, TOOL_OPEN, TOOL_CLOSE, CALL_OPEN,
                  CALL_CLOSE, RESPONSE_OPEN, RESPONSE_CLOSE, QUOTE)
#: A reply ends at <turn|>; a tool-calling reply hands over at <|tool_response>.
STOP_TOKENS = (TURN_CLOSE, RESPONSE_OPEN)

FEATURES = ChatFeatures(reasoning=True, tools=True, notes=(
    "Gemma 4: reasoning as <|channel>thought ... <channel|> (thinking switched on by <|think|> in the system turn "
    "when any reply carries reasoning or enable_thinking is set), dropped before the last user message as the "
    "official template does",
    "Gemma 4: tools declared in the system turn, calls as <|tool_call>call:NAME{...}<tool_call|>, results inside "
    "the model turn as <|tool_response>...<tool_response|>, strings quoted with <|\"|>",
))

Piece = tuple[str, bool]  # (text, copied from data)


class _Out:
    """Segments under construction; text from data is kept apart from the template's control tokens."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []

    def add(self, text: str, *, trainable: bool = False, index: int | None = None, data: bool = False,
            kind: SegmentKind = "text") -> None:
        if not text:
            return
        last = self.segments[-1] if self.segments else None
        if last is not None and (last.trainable, last.message_index, last.from_data, last.kind) == (
                trainable, index, data, kind):
            self.segments[-1] = Segment(last.text + text, trainable, index, data, kind)
        else:
            self.segments.append(Segment(text, trainable=trainable, message_index=index, from_data=data, kind=kind))

    def pieces(self, pieces: list[Piece], *, trainable: bool, index: int | None, kind: SegmentKind) -> None:
        for text, data in pieces:
            self.add(text, trainable=trainable, index=index, data=data, kind=kind)


# ── values: the template's format_argument ───────────────────────────────────────────────


def _sorted_items(mapping: dict[str, Any]) -> list[tuple[str, Any]]:
    """Jinja's ``dictsort``: by key, case-insensitively."""
    return sorted(mapping.items(), key=lambda item: item[0].lower() if isinstance(item[0], str) else item[0])


def format_argument(value: Any, escape_keys: bool = True) -> list[Piece]:
    """The template's ``format_argument`` macro, as pieces (strings from data, quotes as control tokens)."""
    if value is None:
        return [("null", False)]
    if isinstance(value, str):
        return [(QUOTE, False), (value, True), (QUOTE, False)]
    if isinstance(value, bool):
        return [("true" if value else "false", False)]
    if isinstance(value, dict):
        out: list[Piece] = [("{", False)]
        for n, (key, item) in enumerate(_sorted_items(value)):
            if n:
                out.append((",", False))
            out += [(QUOTE, False), (key, True), (QUOTE, False)] if escape_keys else [(key, True)]
            out.append((":", False))
            out += format_argument(item, escape_keys)
        return [*out, ("}", False)]
    if isinstance(value, (list, tuple)):
        out = [("[", False)]
        for n, item in enumerate(value):
            if n:
                out.append((",", False))
            out += format_argument(item, escape_keys)
        return [*out, ("]", False)]
    return [(str(value), True)]


def _call_pieces(call: dict[str, Any], index: int) -> list[Piece]:
    function = call.get("function") or {}
    name, arguments = function.get("name"), function.get("arguments")
    if not isinstance(name, str) or not isinstance(arguments, (dict, type(None))):
        raise DataError(f"message {index} has a tool call without a name or with non-object arguments; Gemma 4's "
                        "template needs a function name and a JSON object", hint="give each call a name and "
                        "object arguments")
    out: list[Piece] = [(CALL_OPEN, False), ("call:", False), (name, True), ("{", False)]
    for n, (key, value) in enumerate(_sorted_items(arguments or {})):
        if n:
            out.append((",", False))
        out += [(key, True), (":", False), *format_argument(value, escape_keys=False)]
    return [*out, ("}", False), (CALL_CLOSE, False)]


def _response_pieces(name: str, body: Any) -> list[Piece]:
    """``format_tool_response_block`` without its opener (the caller decides who emits ``<|tool_response>``)."""
    if isinstance(body, dict):
        out: list[Piece] = [("response:", False), (name, True), ("{", False)]
        for n, (key, value) in enumerate(_sorted_items(body)):
            if n:
                out.append((",", False))
            out += [(key, True), (":", False), *format_argument(value, escape_keys=False)]
        return [*out, ("}", False), (RESPONSE_CLOSE, False)]
    return [("response:", False), (name, True), ("{value:", False), *format_argument(body, escape_keys=False),
            ("}", False), (RESPONSE_CLOSE, False)]


# ── tool declarations: the template's own macros ─────────────────────────────────────────


@functools.lru_cache(maxsize=1)
def _declaration_template() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    source = resources.files("framework_gemma").joinpath("templates/gemma4_tool_declaration.jinja")
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source.read_text(encoding="utf-8"))


def declaration(tool: dict[str, Any]) -> str:
    """``<|tool>declaration:NAME{...}<tool|>`` rendered by the official macros (copied verbatim)."""
    if not isinstance(tool.get("function"), dict) or not tool["function"].get("name"):
        raise DataError("a tool declaration has no `function.name`; Gemma 4's template renders OpenAI function "
                        "schemas", hint='declare tools as {"type": "function", "function": {"name": ..., ...}}')
    return TOOL_OPEN + _declaration_template().render(tool=tool) + TOOL_CLOSE


# ── helpers ──────────────────────────────────────────────────────────────────────────────


def strip_thinking(text: str) -> str:
    """The template's ``strip_thinking``: channel blocks left in a model reply's content are removed."""
    result = ""
    for part in text.split(CHANNEL_CLOSE):
        result += part.split(CHANNEL_OPEN)[0] if CHANNEL_OPEN in part else part
    return result.strip()


def _text(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise DataError(f"message {index} has non-text content ({type(content).__name__}); the gemma plugin trains "
                        "the language model on text turns only", hint="give each message a string content")
    return content


def _check_tool_messages(messages: list[dict[str, Any]], first: int) -> None:
    """The template silently skips a tool message that does not answer a call: refuse it instead."""
    answered = False
    for index in range(first, len(messages)):
        role = messages[index].get("role")
        if role == "tool" and not answered:
            raise DataError(f"message {index} is a tool result that follows no assistant tool call; Gemma 4's template "
                            "would drop it", hint="put tool messages right after the assistant message whose "
                            "tool_calls they answer")
        if role != "tool":
            answered = role == "assistant" and bool(messages[index].get("tool_calls"))


def thinking_on(messages: list[dict[str, Any]], options: ChatOptions) -> bool:
    asked = options.get("enable_thinking")
    if asked is not None:
        return bool(asked)
    return any(m.get("role") == "assistant" and m.get("reasoning_content") for m in messages)


def _prefilled_turn(loop: list[dict[str, Any]], last_user: int) -> int | None:
    """Index (in ``loop``) of the final model turn's first message, when the pre-fill precedes it.

    That is the first assistant message after the last user message, when no tool result has been
    appended to its turn yet (after one, the template re-renders the turn without the pre-fill).
    """
    start = last_user + 1
    if start >= len(loop) or loop[start].get("role") != "assistant":
        return None
    if any(m.get("role") == "tool" for m in loop[start:]):
        return None
    return start


# ── render ───────────────────────────────────────────────────────────────────────────────


def render(messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
           tools: list[dict[str, Any]] | None, prefill_empty_thought: bool) -> RenderedChat:
    """Render ``messages`` as the official Gemma 4 template does (see the module docstring for the loss)."""
    thinking = thinking_on(messages, options)
    preserve = bool(options.get("preserve_thinking", False))
    out = _Out()
    bos = getattr(tokenizer, "bos_token", None)
    out.add(bos if isinstance(bos, str) and bos else BOS)
    has_system = bool(messages) and messages[0].get("role") == "system"
    offset = 1 if has_system else 0
    loop = messages[offset:]
    _check_tool_messages(messages, offset)
    prev_type: str | None = None
    if thinking or tools or has_system:
        out.add(f"{TURN_OPEN}system\n")
        if thinking:
            out.add(f"{THINK}\n")
            prev_type = "think"
        if has_system:
            out.add(_text(messages[0], 0).strip(), index=0, data=True)
        for tool in tools or []:
            out.add(declaration(tool), kind="tools")
            prev_type = "tool"
        out.add(f"{TURN_CLOSE}\n")

    last_user = max((i for i, m in enumerate(loop) if m.get("role") == "user"), default=-1)
    prefilled = _prefilled_turn(loop, last_user) if prefill_empty_thought and not thinking else None
    prev_role: str | None = None
    for i, message in enumerate(loop):
        role = message.get("role")
        if role == "tool":
            continue
        index = i + offset
        prev_type = None
        model = role == "assistant"
        if not model and role not in ("user", "system"):
            raise DataError(f"message {index} has role {role!r}; Gemma 4's template knows system, user, assistant and "
                            "tool", hint="use one of those roles")
        if not (model and prev_role == "assistant"):
            out.add(f"{TURN_OPEN}{'model' if model else role}\n")
        reasoning = message.get("reasoning_content") if model else None
        calls = message.get("tool_calls") or [] if model else []
        gate = i > last_user or (preserve and bool(calls))
        if i == prefilled and not (reasoning and gate):
            out.add(EMPTY_THOUGHT)
        if reasoning and gate:
            out.add(f"{CHANNEL_OPEN}thought\n", trainable=True, index=index, kind="reasoning")
            out.add(reasoning, trainable=True, index=index, data=True, kind="reasoning")
            out.add(f"\n{CHANNEL_CLOSE}", trainable=True, index=index, kind="reasoning")
        for call in calls:
            out.pieces(_call_pieces(call, index), trainable=True, index=index, kind="tool_call")
            prev_type = "tool_call"
        answered = False
        if calls:
            for k in range(i + 1, len(loop)):
                follow = loop[k]
                if follow.get("role") != "tool":
                    break
                name = follow.get("name") or "unknown"
                for call in calls:
                    if call.get("id") == follow.get("tool_call_id"):
                        name = (call.get("function") or {}).get("name")
                # The first opener is what the model emits to hand over; later ones are the tool's.
                out.add(RESPONSE_OPEN, trainable=not answered, index=index if not answered else k + offset,
                        kind="tool_call" if not answered else "tool_result")
                out.pieces(_response_pieces(name, _text(follow, k + offset)), trainable=False, index=k + offset,
                           kind="tool_result")
                answered = True
                prev_type = "tool_response"
        content = _text(message, index)
        captured = strip_thinking(content) if model else content.strip()
        out.add(captured, trainable=model, index=index, data=True)
        next_role = next((m.get("role") for m in loop[i + 1:] if m.get("role") != "tool"), None)
        continues = model and next_role == "assistant" and (not calls or answered)
        if prev_type == "tool_call" and not answered:
            out.add(RESPONSE_OPEN, trainable=True, index=index, kind="tool_call")
        elif continues:
            pass
        elif not (answered and not captured.strip() and next_role is None):
            out.add(TURN_CLOSE, trainable=model, index=index)
            out.add("\n")
        prev_role = role

    if options.add_generation_prompt:
        if prev_type not in ("tool_response", "tool_call"):
            out.add(f"{TURN_OPEN}model\n")
            if not thinking and prefill_empty_thought:
                out.add(EMPTY_THOUGHT)
        elif prev_type == "tool_response" and thinking:
            out.add(f"{CHANNEL_OPEN}thought\n")
    return RenderedChat(tuple(out.segments))
