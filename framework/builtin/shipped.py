"""Render a conversation through the model's own (shipped) chat template.

Many templates are not prefix-stable: the inference prompt pre-fills text the rendered reply
does not start with (R1 distills end it in ``<think>\\n``), earlier turns are rewritten once a
later user turn exists (reasoning dropped), the system prompt moves into the last user turn.
Cutting the full rendering into per-message pieces then trains tokens the model never
generates. The rule used here instead:

* the sample is the inference prompt of the **last** reply (``template(messages[:i],
  add_generation_prompt=True)``, the prompt vLLM or transformers would build at that point),
  followed by what the model generates there: the reply, and its end token;
* the generated text of a reply is the template's own rendering of that reply
  (``template(messages[:i+1])`` after its common prefix with the prompt), plus, where the
  prompt opened a think block or the template drops the final reasoning, the reasoning and
  the closing ``</think>`` the model writes itself;
* an earlier reply is trained where the same generated text (after the same generation
  header) appears in that context, which the template's rewrite of earlier turns decides;
  where it does not (its reasoning was dropped, the prompt's pre-fill is missing), it stays
  context: training it would teach the model to skip what it generates at inference.

The inference prompt itself is never trained. A template that raises is reported in one
line naming the template file and line and the template's own message.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from framework.errors import ModelError
from framework.hookdata import ChatOptions, Message, RenderedChat, Segment, SegmentKind

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
#: A character no data or template writes: marks where a reply's content starts, so the common
#: prefix of prompt and rendered reply can never run into the reply itself.
_SENTINEL = "\u2063\u2063"

Render = Callable[[list[Message], bool], str]


def template_where(tokenizer: Any, line: int | None = None) -> str:
    """The shipped template's file (and line) for messages: ``dir/chat_template.jinja:3``."""
    from framework.facts import TEMPLATE_FILE, chat_template_location

    directory = getattr(tokenizer, "name_or_path", None)
    location = chat_template_location(Path(directory)) if directory and os.path.isdir(directory) else None
    if location is None:
        where = "the tokenizer's chat template" + (f" line {line}" if line else "")
    elif location.name == TEMPLATE_FILE:
        where = f"{location}:{line}" if line else str(location)
    else:
        where = f"{location} chat_template" + (f" line {line}" if line else "")
    return where


def template_error(tokenizer: Any, exc: BaseException) -> ModelError:
    """One line: the template file (and line, when jinja knows it) and the template's own message."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    where = template_where(tokenizer, line or getattr(exc, "lineno", None))
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ModelError(f"the model's chat template cannot render this conversation: {message}", where=where,
                      hint="fix the sample (roles, order) or the template, or choose the plugin's format with "
                           "--set data.template=plugin")


def make_render(tokenizer: Any, tools: list[dict[str, Any]] | None, extra: dict[str, Any]) -> Render:
    """``template(messages, add_generation_prompt)`` as a string, template errors as one line."""

    def render(messages: list[Message], generation: bool) -> str:
        try:
            text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                                 add_generation_prompt=generation, **extra)
        except Exception as exc:  # jinja raise_exception, missing keys, type errors: all the template's
            raise template_error(tokenizer, exc) from None
        return text if isinstance(text, str) else str(text)

    return render


def _common(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


@dataclass(frozen=True)
class _Reply:
    """What the model generates after the inference prompt of one assistant turn."""

    prompt: str  # template(messages[:i], add_generation_prompt=True)
    parts: tuple[Segment, ...]  # trained parts: reasoning, content, tool calls, end token
    post: str  # template text after the end token (untrained, e.g. a newline)

    @property
    def generated(self) -> str:
        return "".join(p.text for p in self.parts)


def _reasoning_block(reasoning: str, opened: bool, prefill: str) -> str:
    """The think block the model writes itself (after a pre-filled ``<think>`` when ``opened``)."""
    body = reasoning.strip("\n")
    if opened:
        # Without reasoning the model closes the block at once. The reply never starts with a
        # newline after a pre-filled one: the tokenizer would merge the two across the prompt's
        # end, and the trained tokens would differ from the ones generated after that prompt.
        lead = "" if prefill.endswith("\n") else "\n"
        return f"{lead}{body}\n{THINK_CLOSE}\n\n" if body else f"{lead}{THINK_CLOSE}\n\n"
    return f"{THINK_OPEN}\n{body}\n{THINK_CLOSE}\n\n"


def _reply(render: Render, messages: list[Message], i: int, specials: list[str], where: str) -> _Reply:
    message = messages[i]
    prompt = render(messages[:i], True)
    full = render(messages[: i + 1], False)
    cut = _common(prompt, full)
    if cut < len(prompt):
        # The prompt pre-fills something the rendered reply lacks, or the reply's own text happens
        # to continue the prompt: find where the reply starts with a marked copy of the message.
        probe = {**message, "content": _SENTINEL + (message.get("content") or "")}
        marked = render([*messages[:i], probe], False)
        cut = min(cut, _common(prompt, marked))
    prefill = prompt[cut:]
    reply = full[cut:]
    reasoning = message.get("reasoning_content") or ""
    opened = False
    if prefill:
        after_open = prefill.split(THINK_OPEN)[-1] if THINK_OPEN in prefill else None
        if after_open is not None and THINK_CLOSE not in after_open:
            opened = True  # R1 style: the model continues inside a think block the prompt opened
        elif after_open is not None and reasoning:
            raise ModelError("the chat template's generation prompt closes the think block, so the sample's "
                             "reasoning cannot be trained", where=where,
                             hint="pass the template option that enables thinking, or drop the reasoning")
        elif after_open is None:
            # The prompt differs before the reply (a system prompt moved into the last user turn
            # only while that turn is last): take the reply as the template renders it after the
            # previous message, and check the prompt's generation header agrees with it.
            reply = _reply_after_previous(render, messages, i, prompt, prefill, where)
            prefill = ""
    block = ""
    if opened or (reasoning and reasoning.strip() not in reply):
        block = _reasoning_block(reasoning, opened, prefill)
    parts, post = _reply_parts(block, reply, message, i, specials)
    return _Reply(prompt, parts, post)


def _reply_after_previous(render: Render, messages: list[Message], i: int, prompt: str, prefill: str,
                          where: str) -> str:
    """The reply as rendered right after message ``i-1`` and its closing text, minus the generation header.

    The previous message's content is marked, so the closing text (``[/INST]``, ``<|im_end|>\n``)
    is read from the rendering without the reply, and the reply is what follows the same
    closing text in the rendering with it.
    """
    unknown = ModelError(f"the chat template's generation prompt ends in {prefill!r}, which its rendering of the "
                         "reply does not start with: the reply the model generates there is unknown", where=where,
                         hint="use a plugin that knows this chat format (--set data.template=plugin)")
    if i == 0 or not messages[i - 1].get("content"):
        raise unknown
    previous = {**messages[i - 1], "content": messages[i - 1]["content"] + _SENTINEL}
    before = render([*messages[: i - 1], previous], False)
    after = render([*messages[: i - 1], previous, messages[i]], False)
    if before.count(_SENTINEL) != 1 or after.count(_SENTINEL) != 1:
        raise unknown
    closing = before[before.index(_SENTINEL) + len(_SENTINEL):]
    turn = after[after.index(_SENTINEL) + len(_SENTINEL):]
    header = prompt[_common(prompt, render(messages[:i], False)):]
    if not turn.startswith(closing + header) or not prompt.endswith(closing + header):
        raise unknown
    return turn[len(closing) + len(header):]


def _reply_parts(block: str, reply: str, message: Message, index: int,
                 specials: list[str]) -> tuple[tuple[Segment, ...], str]:
    """Split a generated reply into trained parts and the untrained template text after its end token."""
    out: list[Segment] = []
    if block:
        out.append(Segment(block, True, index, kind="reasoning"))
    content = (message.get("content") or "").strip()
    think_end = 0
    if not block and message.get("reasoning_content") and THINK_CLOSE in reply:
        think_end = reply.index(THINK_CLOSE) + len(THINK_CLOSE)
        while think_end < len(reply) and reply[think_end] == "\n":
            think_end += 1
        out.append(Segment(reply[:think_end], True, index, kind="reasoning"))
    start = reply.find(content, think_end) if content else -1
    if start < 0:
        start = end = think_end
    else:
        end = start + len(content)
    tail = reply[end:]
    last = -1
    for token in specials:
        pos = tail.rfind(token)
        if pos >= 0:
            last = max(last, pos + len(token))
    cut = end + (last if last >= 0 else len(tail))
    # The end token is the last control token of the reply; what precedes it after the content is
    # the tool-call rendering when the message calls tools.
    end_token = ""
    if last >= 0:
        for token in specials:
            if reply[:cut].endswith(token):
                end_token = token
                break
    between = reply[end: cut - len(end_token)]
    lost = bool(content) and start == end  # the template transformed the content: keep it protected
    pieces: list[tuple[str, bool, SegmentKind]] = [
        (reply[think_end:start], False, "text"),
        (reply[start:end], True, "text"),
        (between, lost, "tool_call" if message.get("tool_calls") else "text"),
        (end_token, False, "text"),
    ]
    for text, from_data, kind in pieces:
        if text:
            out.append(Segment(text, True, index, from_data=from_data, kind=kind))
    return tuple(out), reply[cut:]


def _data_marks(text: str, messages: list[Message], trained: dict[int, tuple[int, int]],
                tools_span: tuple[int, int] | None) -> list[tuple[int, int, Segment]]:
    """Untrained spans of message text copied from the data (and the tool declarations)."""
    taken = sorted(trained.values())
    marks: list[tuple[int, int, Segment]] = []
    if tools_span:
        marks.append((*tools_span, Segment(text[tools_span[0]:tools_span[1]], kind="tools")))
    start_at = 0
    for j, message in enumerate(messages):
        if j in trained:
            start_at = trained[j][1]
            continue
        body = (message.get("content") or "").strip()
        if not body:
            continue
        pos = text.find(body, start_at)
        while pos >= 0:
            span = (pos, pos + len(body))
            if not any(a < span[1] and span[0] < b for a, b in taken + [(m[0], m[1]) for m in marks]):
                break
            pos = text.find(body, pos + 1)
        if pos < 0:
            continue
        kind: SegmentKind = "tool_result" if message["role"] == "tool" else "text"
        marks.append((pos, pos + len(body), Segment(body, message_index=j, from_data=True, kind=kind)))
    return marks


def _tools_span(render: Render, render_plain: Render | None, messages: list[Message], text: str) -> tuple[int, int] | None:
    """Where the tool declarations sit: the difference between the opening rendered with and without them."""
    if render_plain is None:
        return None
    first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    opening = messages[: max(first, 1)]
    with_tools, without = render(opening, False), render_plain(opening, False)
    if not text.startswith(with_tools) or with_tools == without:
        return None
    head = _common(with_tools, without)
    tail = _common(with_tools[::-1], without[::-1])
    end = max(head, len(with_tools) - tail)
    return (head, end) if end > head else None


def _segments(text: str, marks: list[tuple[int, int, Segment]]) -> tuple[Segment, ...]:
    out: list[Segment] = []
    pos = 0
    for start, end, seg in sorted(marks, key=lambda m: m[0]):
        if start < pos:
            continue
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(seg)
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return tuple(s for s in out if s.text)


def render_shipped(messages: list[Message], options: ChatOptions, tokenizer: Any,
                   tools: list[dict[str, Any]] | None, specials: list[str]) -> RenderedChat:
    """Render for training (or, with ``add_generation_prompt``, as the inference prompt)."""
    extra = dict(options.extra)
    render = make_render(tokenizer, tools, extra)
    render_plain = make_render(tokenizer, None, extra) if tools else None
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if options.add_generation_prompt or not assistants:
        text = render(messages, options.add_generation_prompt)
        return RenderedChat(_segments(text, _data_marks(text, messages, {}, _tools_span(render, render_plain,
                                                                                          messages, text))))
    last = assistants[-1]
    where = template_where(tokenizer)
    final = _reply(render, messages, last, specials, where)
    text = final.prompt + final.generated + final.post
    if last < len(messages) - 1:  # trailing messages after the last reply: untrained, when they append
        whole, upto = render(messages, False), render(messages[: last + 1], False)
        if whole.startswith(upto):
            text += whole[len(upto):]
    marks: list[tuple[int, int, Segment]] = []
    trained: dict[int, tuple[int, int]] = {}
    cursor = 0
    context_end = len(final.prompt)
    for i in assistants[:-1]:
        reply = _reply(render, messages, i, specials, where)
        generated = reply.generated
        if text.startswith(reply.prompt + generated) and len(reply.prompt) >= cursor:
            start = len(reply.prompt)
        else:  # rewritten context: the same generation header and reply further on
            header = reply.prompt[_common(reply.prompt, render(messages[:i], False)):]
            found = text.find(header + generated, cursor, context_end)
            start = found + len(header) if found >= 0 else -1
        if start < 0 or start + len(generated) > context_end:
            continue  # the template rewrote this turn: it stays context (see the module docstring)
        trained[i] = (start, start + len(generated))
        marks.extend(_placed(reply.parts, start))
        cursor = start + len(generated)
    start = len(final.prompt)
    trained[last] = (start, start + len(final.generated))
    marks.extend(_placed(final.parts, start))
    marks.extend(_data_marks(text, messages, trained, _tools_span(render, render_plain, messages, text)))
    return RenderedChat(_segments(text, marks))


def _placed(parts: tuple[Segment, ...], start: int) -> list[tuple[int, int, Segment]]:
    out = []
    for part in parts:
        out.append((start, start + len(part.text), part))
        start += len(part.text)
    return out
