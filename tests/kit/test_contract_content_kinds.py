"""The contract's reasoning/tool check catches each way a renderer can get Segment.kind wrong."""

from __future__ import annotations

import json
from typing import Any

from framework.hookdata import RenderedChat, Segment
from framework.testing.problems import content_kind_problems


def good(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> RenderedChat:
    segs = [Segment(json.dumps(tools), kind="tools")] if tools else []
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            if "reasoning_content" in m:
                segs.append(Segment(f"<think>{m['reasoning_content']}</think>", True, i, kind="reasoning"))
            segs += [Segment(json.dumps(c["function"]), True, i, kind="tool_call") for c in m.get("tool_calls", ())]
            segs += [Segment(m["content"], True, i, from_data=True), Segment("<end>", True, i)]
        else:
            segs.append(Segment(m["content"], message_index=i, from_data=True,
                                kind="tool_result" if m["role"] == "tool" else "text"))
    return RenderedChat(tuple(s for s in segs if s.text))


def plain(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> RenderedChat:
    """Everything rendered, nothing marked: reasoning could not be masked, results would look like text."""
    return RenderedChat(tuple(Segment(s.text, s.trainable, s.message_index, s.from_data)
                              for s in good(messages, tools).segments))


def trains_results(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> RenderedChat:
    return RenderedChat(tuple(Segment(s.text, True, s.message_index, s.from_data, s.kind)
                              if s.kind in ("tool_result", "tools") else s for s in good(messages, tools).segments))


def drops_reasoning(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> RenderedChat:
    return RenderedChat(tuple(s for s in good(messages, tools).segments if s.kind != "reasoning"))


def test_a_correct_renderer_has_no_problems() -> None:
    assert content_kind_problems(good, reasoning=True, tools=True) == []


def test_each_mistake_is_named() -> None:
    unmarked = content_kind_problems(plain, reasoning=True, tools=True)
    assert any("kind='reasoning'" in p for p in unmarked)
    assert {"kind='tools'", "kind='tool_call'", "kind='tool_result'"} <= {
        k for p in unmarked for k in ("kind='tools'", "kind='tool_call'", "kind='tool_result'") if k in p}
    trained = content_kind_problems(trains_results, reasoning=False, tools=True)
    assert any(p.startswith("tool_result segment") and "is trained" in p for p in trained)
    assert any(p.startswith("tools segment") and "is trained" in p for p in trained)
    assert content_kind_problems(drops_reasoning, reasoning=True, tools=False) == [
        "chat_features declares reasoning, but the reasoning_content is not in the rendering"]
