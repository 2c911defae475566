"""Gemma's chat formats, rendered as segments exactly as the official templates render them.

Two formats: Gemma 1-3 share one (no reasoning, no tools), Gemma 4 has its own with reasoning and
tools (the tool syntax itself is written by ``tools``). ``render_chat``, ``chat_features`` and
``stop_tokens`` at the end pick the format from the detected generation, and step aside (None)
when the model ships a template of another format (``chat_format="shipped"``).

Gemma 1-3
---------
Gemma 1, 2 and 3 use the same turns (Google's formatting guide, https://ai.google.dev/gemma/docs/formatting;
the official templates of gemma-7b-it, gemma-2-9b-it and gemma-3-1b-it)::

    <bos><start_of_turn>user\\n{content | trim}<end_of_turn>\\n<start_of_turn>model\\n{content | trim}<end_of_turn>\\n

``assistant`` is written ``model``, content is stripped of surrounding whitespace (the
templates' ``| trim``, which is Python's ``str.strip``), and ``<bos>`` is emitted by the template
itself (the core tokenizes with ``add_special_tokens=False``, so there is exactly one).

System messages: Gemma has no system role. The Gemma 3 template folds the first system message
into the first user turn as ``system + "\\n\\n" + user`` (the system text is *not* trimmed there,
the user text is). The Gemma 1 / 2 templates raise "System role not supported" instead; this
plugin renders them the Gemma 3 way for every generation, because that is what Google's guide
says to do ("provide system-level instructions directly in the initial user prompt") and what
the later template does. Conversations without a system message render exactly as each
generation's official template.

Loss: each reply's content and its ``<end_of_turn>`` are trainable; the newline after
``<end_of_turn>`` is template text (generation stops at ``<end_of_turn>``, so the newline is
never produced by the model).

Gemma 4
-------
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

Stop tokens: Gemma 1-3 turns end with ``<end_of_turn>``; a Gemma 4 reply ends at ``<turn|>``, a
tool-calling one hands over at ``<|tool_response>`` (the core adds eos to both).
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatFeatures, ChatOptions, ModelFacts, RenderedChat, Segment, SegmentKind
from framework_gemma import detect
from framework_gemma.tools import Piece, call_pieces, check_tool_messages, declaration, response_pieces
from framework_gemma.vocab import (
    BOS,
    END_OF_TURN,
    G4_CHANNEL_CLOSE,
    G4_CHANNEL_OPEN,
    G4_RESPONSE_OPEN,
    G4_THINK,
    G4_TURN_CLOSE,
    G4_TURN_OPEN,
    START_OF_TURN,
)

# ══ Gemma 1-3 ═════════════════════════════════════════════════════════════════════════════

ROLE_NAMES = {"user": "user", "assistant": "model"}
SYSTEM_SEPARATOR = "\n\n"


def turn_header(role: str) -> str:
    """``<start_of_turn>ROLE\\n`` with the role name the format uses (``model`` for the assistant)."""
    return f"{START_OF_TURN}{ROLE_NAMES[role]}\n"


def _content(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if not isinstance(content, str):
        raise DataError(f"message {index} has non-text content ({type(content).__name__}); the gemma plugin "
                        "trains the language model on text turns only", hint="give each message a string content")
    return content


def _check_roles(messages: list[dict[str, Any]], first: int) -> None:
    """The templates' alternation rule: user, model, user, ... after the optional system message."""
    for offset, message in enumerate(messages[first:]):
        expected = "user" if offset % 2 == 0 else "assistant"
        if message.get("role") != expected:
            raise DataError(
                f"message {first + offset} has role {message.get('role')!r} where Gemma's format needs {expected!r}: "
                "roles must alternate user/assistant/user/... (a system message may only come first)",
                hint="merge consecutive messages of one role, or drop the extra ones",
            )


def bos_text(tokenizer: Any) -> str:
    """The template's ``bos_token``: the tokenizer's, or ``<bos>`` when it has none (pitfall G1)."""
    bos = getattr(tokenizer, "bos_token", None)
    return bos if isinstance(bos, str) and bos else BOS


#: What ``chat_features`` declares for Gemma 1-3: the templates have neither reasoning nor tools.
FEATURES = ChatFeatures(reasoning=False, tools=False, notes=(
    "Gemma 1-3 chat templates have no tool role, no tool declarations and no reasoning channel: samples "
    "with reasoning, tool calls or tool messages are refused (Gemma 4 renders them)",))


def _refuse_extras(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> None:
    """Never drop reasoning or tool calls silently (the core refuses them first; this is the last guard)."""
    if tools:
        raise DataError("the sample declares tools, which Gemma 1-3's chat format cannot show",
                        hint="drop `tools`, or train a Gemma 4 model")
    for index, message in enumerate(messages):
        extra = [key for key in ("reasoning_content", "tool_calls") if message.get(key)]
        if extra:
            raise DataError(f"message {index} carries {' and '.join(extra)}, which Gemma 1-3's chat format cannot "
                            "show", hint="drop those fields, or train a Gemma 4 model")


def render_gemma3(messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
                  tools: list[dict[str, Any]] | None = None) -> RenderedChat:
    """Render ``messages`` exactly as the official Gemma template does (system folded, see above).

    The format is the same in every generation, so no variant is needed.
    """
    _refuse_extras(messages, tools)
    has_system = bool(messages) and messages[0].get("role") == "system"
    first = 1 if has_system else 0
    _check_roles(messages, first)
    segments = [Segment(bos_text(tokenizer))]
    prefix: list[Segment] = []
    if has_system:
        prefix = [Segment(_content(messages[0], 0), message_index=0, from_data=True), Segment(SYSTEM_SEPARATOR)]
    for index in range(first, len(messages)):
        message = messages[index]
        trained = message["role"] == "assistant"
        segments.append(Segment(turn_header(message["role"])))
        if index == first:
            segments.extend(prefix)
        content = _content(message, index).strip()
        segments.append(Segment(content, trainable=trained, message_index=index, from_data=True))
        segments.append(Segment(END_OF_TURN, trainable=trained, message_index=index))
        segments.append(Segment("\n"))
    if options.add_generation_prompt:
        segments.append(Segment(turn_header("assistant")))
    return RenderedChat(tuple(s for s in segments if s.text))


# ══ Gemma 4 ═══════════════════════════════════════════════════════════════════════════════

EMPTY_THOUGHT = f"{G4_CHANNEL_OPEN}thought\n{G4_CHANNEL_CLOSE}"
#: A reply ends at <turn|>; a tool-calling reply hands over at <|tool_response>.
G4_STOP_TOKENS = (G4_TURN_CLOSE, G4_RESPONSE_OPEN)

G4_FEATURES = ChatFeatures(reasoning=True, tools=True, notes=(
    "Gemma 4: reasoning as <|channel>thought ... <channel|> (thinking switched on by <|think|> in the system turn "
    "when any reply carries reasoning or enable_thinking is set), dropped before the last user message as the "
    "official template does",
    "Gemma 4: tools declared in the system turn, calls as <|tool_call>call:NAME{...}<tool_call|>, results inside "
    "the model turn as <|tool_response>...<tool_response|>, strings quoted with <|\"|>",
))


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


# ── helpers ──────────────────────────────────────────────────────────────────────────────


def strip_thinking(text: str) -> str:
    """The template's ``strip_thinking``: channel blocks left in a model reply's content are removed."""
    result = ""
    for part in text.split(G4_CHANNEL_CLOSE):
        result += part.split(G4_CHANNEL_OPEN)[0] if G4_CHANNEL_OPEN in part else part
    return result.strip()


def _text(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise DataError(f"message {index} has non-text content ({type(content).__name__}); the gemma plugin trains "
                        "the language model on text turns only", hint="give each message a string content")
    return content


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


def render_gemma4(messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
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
    check_tool_messages(messages, offset)
    prev_type: str | None = None
    if thinking or tools or has_system:
        out.add(f"{G4_TURN_OPEN}system\n")
        if thinking:
            out.add(f"{G4_THINK}\n")
            prev_type = "think"
        if has_system:
            out.add(_text(messages[0], 0).strip(), index=0, data=True)
        for tool in tools or []:
            out.add(declaration(tool), kind="tools")
            prev_type = "tool"
        out.add(f"{G4_TURN_CLOSE}\n")

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
            out.add(f"{G4_TURN_OPEN}{'model' if model else role}\n")
        reasoning = message.get("reasoning_content") if model else None
        calls = message.get("tool_calls") or [] if model else []
        gate = i > last_user or (preserve and bool(calls))
        if i == prefilled and not (reasoning and gate):
            out.add(EMPTY_THOUGHT)
        if reasoning and gate:
            out.add(f"{G4_CHANNEL_OPEN}thought\n", trainable=True, index=index, kind="reasoning")
            out.add(reasoning, trainable=True, index=index, data=True, kind="reasoning")
            out.add(f"\n{G4_CHANNEL_CLOSE}", trainable=True, index=index, kind="reasoning")
        for call in calls:
            out.pieces(call_pieces(call, index), trainable=True, index=index, kind="tool_call")
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
                out.add(G4_RESPONSE_OPEN, trainable=not answered, index=index if not answered else k + offset,
                        kind="tool_call" if not answered else "tool_result")
                out.pieces(response_pieces(name, _text(follow, k + offset)), trainable=False, index=k + offset,
                           kind="tool_result")
                answered = True
                prev_type = "tool_response"
        content = _text(message, index)
        captured = strip_thinking(content) if model else content.strip()
        out.add(captured, trainable=model, index=index, data=True)
        next_role = next((m.get("role") for m in loop[i + 1:] if m.get("role") != "tool"), None)
        continues = model and next_role == "assistant" and (not calls or answered)
        if prev_type == "tool_call" and not answered:
            out.add(G4_RESPONSE_OPEN, trainable=True, index=index, kind="tool_call")
        elif continues:
            pass
        elif not (answered and not captured.strip() and next_role is None):
            out.add(G4_TURN_CLOSE, trainable=model, index=index)
            out.add("\n")
        prev_role = role

    if options.add_generation_prompt:
        if prev_type not in ("tool_response", "tool_call"):
            out.add(f"{G4_TURN_OPEN}model\n")
            if not thinking and prefill_empty_thought:
                out.add(EMPTY_THOUGHT)
        elif prev_type == "tool_response" and thinking:
            out.add(f"{G4_CHANNEL_OPEN}thought\n")
    return RenderedChat(tuple(out.segments))


# ══ hooks: the format of the detected generation ══════════════════════════════════════════


def render(facts: ModelFacts, messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
           tools: list[dict[str, Any]] | None) -> RenderedChat | None:
    """The generation's format; None when the model's own template of another format renders."""
    if detect.uses_shipped_template(facts):
        return None
    if detect.is_gemma4(facts):
        return render_gemma4(messages, options, tokenizer, tools, detect.prefills_empty_thought(facts))
    return render_gemma3(messages, options, tokenizer, tools)


def features(facts: ModelFacts) -> ChatFeatures | None:
    """Gemma 4 renders reasoning and tools, Gemma 1-3 neither; None for a shipped foreign template."""
    if detect.uses_shipped_template(facts):
        return None
    return G4_FEATURES if detect.is_gemma4(facts) else FEATURES


def stop_tokens(facts: ModelFacts, tokenizer: Any) -> list[str] | None:
    """The generation's end-of-turn tokens that the vocabulary has (the core adds eos)."""
    if detect.uses_shipped_template(facts):
        return None
    vocab = tokenizer.get_vocab() if tokenizer is not None else None
    if detect.is_gemma4(facts):
        return [t for t in G4_STOP_TOKENS if vocab is None or t in vocab]
    return [END_OF_TURN] if vocab is None or END_OF_TURN in vocab else []
