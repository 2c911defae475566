"""Both chat formats against the official templates: same string, same ids, right labels.

Token ids are compared on the synthetic vocabularies of ``framework_gemma.tokenizer`` (Gemma's special
tokens at Gemma's ids; the real tokenizers cannot be obtained offline).

Gemma 1-3: each generation's own template (gemma-7b-it, gemma-2-9b-it, gemma-3-1b-it); conversations
with a system message against Gemma 3's, the only one that defines them. Gemma 1-3 declare and refuse
reasoning and tools.

Gemma 4: Google's two shipped templates. E2B/E4B ("small") renders must equal the official template's
output. For 12B/26B-A4B/31B ("large") the final model turn is rendered after the inference prompt,
whose pre-filled empty thought block the full rendering lacks (chat docstring): the oracle is then the
official inference prompt followed by the official rendering of the reply.
"""

from __future__ import annotations

from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.errors import DataError
from framework.hookdata import ChatOptions, ModelFacts
from framework_gemma import plugin

# ══ Gemma 1-3 ═════════════════════════════════════════════════════════════════════════════

#: Facts of a Gemma 3 model whose chat the plugin renders itself (no shipped template of another format).
PLAIN = ModelFacts(name_or_path="google/gemma-3-1b-it", model_type="gemma3_text", variant="3")


def render_chat(messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
                tools: list[dict[str, Any]] | None = None) -> Any:
    """The render_chat hook as the core calls it."""
    return plugin.render_chat(facts=PLAIN, messages=messages, options=options, tokenizer=tokenizer, tools=tools)

CONVERSATIONS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
     {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another?"},
     {"role": "assistant", "content": "Red."}],
    [{"role": "user", "content": "用中文解释一下量子纠缠。"},
     {"role": "assistant", "content": "量子纠缠是指两个粒子的状态相互关联，即使相距遥远。"}],
    [{"role": "system", "content": "  你是一个乐于助人的助手。\n"}, {"role": "user", "content": "你好 👋"},
     {"role": "assistant", "content": "你好！🎉 有什么可以帮你？😊"}],
    [{"role": "user", "content": "Write python:\n```python\ndef f(x):\n    return x * 2\n```\nfix it"},
     {"role": "assistant", "content": "```python\ndef f(x: int) -> int:\n\treturn x * 2\n```\n"}],
    [{"role": "user", "content": "   leading and trailing   \n\n"},
     {"role": "assistant", "content": "\n\n  padded reply\t \n"}, {"role": "user", "content": "\r\nwindows\r\n"},
     {"role": "assistant", "content": " x "}],
    [{"role": "system", "content": "sys"}, {"role": "user", "content": "only a question"}],
    [{"role": "user", "content": "a\n\n\nb   c"}, {"role": "assistant", "content": "  multi\n\nparagraph\n\n  reply  "},
     {"role": "user", "content": "'s 'll ''' \"quotes\" 12345 3.14159"}],
    [{"role": "system", "content": "   "}, {"role": "user", "content": "blank system"},
     {"role": "assistant", "content": ""}],
    [{"role": "user", "content": "literal <end_of_turn> and <start_of_turn>model in data"},
     {"role": "assistant", "content": "I see <end_of_turn> as text."}],
]
WITH_SYSTEM = [i for i, c in enumerate(CONVERSATIONS) if c[0]["role"] == "system"]
INJECTED = [i for i, c in enumerate(CONVERSATIONS) if "<end_of_turn>" in c[0]["content"]]


def official_render(tok: Any, template: str, messages: list[dict[str, str]], generation: bool) -> str:
    return tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=generation)


def expected_trained_spans(tok: Any, template: str, messages: list[dict[str, str]],
                           only_last: bool = False) -> list[tuple[int, int]]:
    """Each reply + its <end_of_turn>, from prefix renders of the official template (the "\\n" after it excluded)."""
    spans = []
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            start = len(official_render(tok, template, messages[:i], True))
            end = len(official_render(tok, template, messages[: i + 1], False)) - 1
            spans.append((start, end))
    return spans[-1:] if only_last else spans


def labels_from_spans(tok: Any, text: str, spans: list[tuple[int, int]]) -> list[int]:
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    return [i if any(a < max(e, s + 1) and s < b for a, b in spans) else IGNORE_INDEX
            for i, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])]


def oracle(generation: str, index: int) -> str:
    """The template that defines the expected string: a system message is only defined by Gemma 3's."""
    return "3" if index in WITH_SYSTEM else generation


CASES = [(g, p, i) for g in ("1", "2", "3") for p in (False, True) for i in range(len(CONVERSATIONS))]


@pytest.mark.parametrize(("generation", "prompt", "index"), CASES)
def test_render_equals_official_string_and_ids(generation: str, prompt: bool, index: int,
                                               tokenizers: dict[str, Any], official_template: Any) -> None:
    tok, messages = tokenizers[generation], CONVERSATIONS[index]
    rendered = render_chat(messages, ChatOptions(add_generation_prompt=prompt), tok)
    expected = official_render(tok, official_template(oracle(generation, index)), messages, prompt)
    assert rendered.text == expected
    tokenized = tokenize_chat(tok, rendered)
    assert tokenized.input_ids[0] == 2 and tokenized.input_ids.count(2) == 1  # exactly one <bos>, first
    eot = tok.convert_tokens_to_ids("<end_of_turn>")
    if index in INJECTED:
        # Control-token text inside data stays text (the core's protection), unlike a naive tokenize.
        assert tokenized.input_ids.count(eot) == expected.count("<end_of_turn>") - 2
        return
    assert tokenized.input_ids == tok(expected, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("generation", ["1", "2"])
def test_gemma_1_2_templates_refuse_system_and_the_plugin_folds_it(generation: str, tokenizers: dict[str, Any],
                                                                   official_template: Any) -> None:
    """The Gemma 1/2 templates raise on a system message; the plugin folds it like Gemma 3 (README)."""
    import jinja2

    tok, messages = tokenizers[generation], CONVERSATIONS[2]
    with pytest.raises(jinja2.exceptions.TemplateError, match="System role not supported"):
        official_render(tok, official_template(generation), messages, False)
    text = render_chat(messages, ChatOptions(), tok).text
    assert text.startswith("<bos><start_of_turn>user\nYou are terse.\n\nName a colour.<end_of_turn>\n")


@pytest.mark.parametrize("generation", ["1", "2", "3"])
@pytest.mark.parametrize("index", [i for i in range(len(CONVERSATIONS)) if i not in INJECTED])
def test_labels_train_replies_and_their_end_of_turn(generation: str, index: int, tokenizers: dict[str, Any],
                                                    official_template: Any) -> None:
    tok, messages = tokenizers[generation], CONVERSATIONS[index]
    template = official_template(oracle(generation, index))
    rendered = render_chat(messages, ChatOptions(), tok)
    text = rendered.text
    all_turns = tokenize_chat(tok, rendered, "all_assistant")
    assert all_turns.labels == labels_from_spans(tok, text, expected_trained_spans(tok, template, messages))
    last = tokenize_chat(tok, rendered, "last_assistant")
    assert last.labels == labels_from_spans(tok, text, expected_trained_spans(tok, template, messages, True))
    assert tokenize_chat(tok, rendered, "everything").labels == all_turns.input_ids
    trained = [i for i in all_turns.labels if i != IGNORE_INDEX]
    eot, sot = tok.convert_tokens_to_ids("<end_of_turn>"), tok.convert_tokens_to_ids("<start_of_turn>")
    replies = sum(m["role"] == "assistant" for m in messages)
    assert trained.count(eot) == replies  # every reply's <end_of_turn>, and no other
    assert not {2, sot} & set(trained)
    ends = [k for k, label in enumerate(all_turns.labels) if label == eot]
    assert all(all_turns.labels[k + 1] == IGNORE_INDEX for k in ends if k + 1 < len(all_turns.labels))


def test_base_tokenizer_without_template_gets_the_instruct_format(tok12: Any) -> None:
    assert not tok12.chat_template
    text = render_chat(CONVERSATIONS[0], ChatOptions(add_generation_prompt=True), tok12).text
    assert text == ("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
                    "<start_of_turn>model\n")


def test_system_only_conversation(tok3: Any, official_template: Any) -> None:
    messages = [{"role": "system", "content": "x"}]
    for prompt in (False, True):
        ours = render_chat(messages, ChatOptions(add_generation_prompt=prompt), tok3).text
        assert ours == official_render(tok3, official_template("3"), messages, prompt)


def test_missing_bos_token_still_renders_bos(build_tokenizer: Any) -> None:
    """G1: the format starts with <bos> even when the tokenizer has lost its bos_token."""
    tok = build_tokenizer("3", bos_token=None)
    assert render_chat(CONVERSATIONS[0], ChatOptions(), tok).text.startswith("<bos><start_of_turn>")


@pytest.mark.parametrize("bad", [
    [{"role": "assistant", "content": "first"}],
    [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    [{"role": "user", "content": "a"}, {"role": "system", "content": "late"}],
    [{"role": "user", "content": "a"}, {"role": "tool", "content": "42"}],
    [{"role": "user", "content": ["not", "text"]}],
])
def test_non_alternating_or_non_text_turns_are_refused(bad: list[dict[str, Any]], tok3: Any) -> None:
    with pytest.raises(DataError):
        render_chat(bad, ChatOptions(), tok3)


def test_stop_tokens(tok12: Any) -> None:
    assert plugin.stop_tokens(PLAIN, tok12) == ["<end_of_turn>"]
    assert plugin.stop_tokens(PLAIN, None) == ["<end_of_turn>"]


CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def test_gemma_1_to_3_declare_neither_reasoning_nor_tools() -> None:
    features = plugin.chat_features(facts=PLAIN, tokenizer=None)
    assert features.reasoning is False and features.tools is False
    assert "no tool role" in features.notes[0]


@pytest.mark.parametrize(("messages", "tools", "says"), [
    ([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "add"}],
     None, "message 1 carries reasoning_content"),
    ([{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "",
      "tool_calls": [{"id": None, "type": "function", "function": {"name": "w", "arguments": {}}}]}],
     None, "message 1 carries tool_calls"),
    (CHAT, [{"type": "function", "function": {"name": "w", "description": "d"}}], "declares tools"),
    ([{"role": "user", "content": "a"}, {"role": "tool", "content": "42"}], None, "role 'tool'"),
])
def test_gemma_1_to_3_refuse_reasoning_and_tools_in_one_line(messages: list[dict[str, Any]], tools: Any, says: str,
                                                            tok3: Any) -> None:
    with pytest.raises(DataError, match=says) as caught:
        plugin.render_chat(facts=PLAIN, messages=messages, options=ChatOptions(), tokenizer=tok3, tools=tools)
    assert "\n" not in str(caught.value)


# ══ Gemma 4 ═══════════════════════════════════════════════════════════════════════════════

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                          "arguments": {"city": "Paris", "unit": "c"}}}
CALL_2 = {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": {"tz": "Europe/Paris"}}}
CALL_ZH = {"id": None, "type": "function", "function": {"name": "搜索", "arguments": {
    "查询": "北京天气", "limit": 3, "exact": False, "filters": {"Lang": "zh", "after": None, "tags": ["a", 1.5]}}}}
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "array", "items": {"type": "integer"}, "nullable": True}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "时间",
                                      "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "搜索", "description": "Web search"}},
]

G4_PLAIN = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    [{"role": "system", "content": "  You are terse.\n"}, {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another?"},
     {"role": "assistant", "content": "Red."}],
    [{"role": "user", "content": "用中文解释一下量子纠缠。"},
     {"role": "assistant", "content": "量子纠缠是指两个粒子的状态相互关联，即使相距遥远。🎉"}],
    [{"role": "user", "content": "   padded  \n\n"}, {"role": "assistant", "content": "\n\n  reply\t \n"},
     {"role": "user", "content": "```python\ndef f(x):\n    return x * 2\n```"}],
    [{"role": "system", "content": "sys"}, {"role": "user", "content": "only a question"}],
]
REASONING = [
    [{"role": "user", "content": "What is 17*23?"},
     {"role": "assistant", "content": "391", "reasoning_content": "17*23 = 17*20 + 17*3 = 340 + 51 = 391."}],
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "early thought"},
     {"role": "user", "content": "再加3？"},
     {"role": "assistant", "content": "7", "reasoning_content": "4 加 3 等于 7。"}],
]
TOOL_USE = [
    [{"role": "user", "content": "Weather in Paris?"},
     {"role": "assistant", "content": "", "tool_calls": [CALL]},
     {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
     {"role": "assistant", "content": "It is 18 C and sunny."}],
    [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather and time in Paris?"},
     {"role": "assistant", "content": "", "reasoning_content": "Two tools.", "tool_calls": [CALL, CALL_2]},
     {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
     {"role": "tool", "tool_call_id": "call_2", "content": "14:00"},
     {"role": "assistant", "content": "18 C at 14:00.", "reasoning_content": "Both answered."}],
    [{"role": "user", "content": "搜索北京天气"}, {"role": "assistant", "content": "", "tool_calls": [CALL_ZH]},
     {"role": "tool", "name": "搜索", "content": "晴，25度"}, {"role": "assistant", "content": "北京今天晴，25度。"}],
    [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": "", "tool_calls": [CALL]}],
    [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": "", "tool_calls": [CALL]},
     {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}],
]
G4_CONVERSATIONS = [*G4_PLAIN, *REASONING, *TOOL_USE]
LARGE = ModelFacts(name_or_path="google/gemma-4-31B-it", model_type="gemma4", variant="4-31B", chat_format="plugin")
SMALL = ModelFacts(name_or_path="google/gemma-4-E2B-it", model_type="gemma4", variant="4-E2B", chat_format="plugin")
FACTS = {"small": SMALL, "large": LARGE}


def _tools(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return TOOLS if any(m.get("tool_calls") for m in messages) else None


def official4(tok: Any, template: str, messages: list[dict[str, Any]], generation: bool, thinking: bool,
             tools: Any) -> str:
    return tok.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False,
                                   add_generation_prompt=generation, enable_thinking=thinking)


def render4(which: str, messages: list[dict[str, Any]], generation: bool, tok: Any, **extra: Any) -> Any:
    options = ChatOptions(add_generation_prompt=generation, extra=tuple(extra.items()))
    return plugin.render_chat(facts=FACTS[which], messages=messages, options=options, tokenizer=tok,
                              tools=_tools(messages))


G4_CASES = [(w, g, i) for w in ("small", "large") for g in (False, True) for i in range(len(G4_CONVERSATIONS))]


@pytest.mark.parametrize(("which", "generation", "index"), G4_CASES)
def test_render_equals_official_text_and_ids(which: str, generation: bool, index: int, tok4: Any,
                                             gemma4_template: Any, gemma4_expected: Any) -> None:
    messages = G4_CONVERSATIONS[index]
    rendered = render4(which, messages, generation, tok4)
    expected = gemma4_expected(tok4, gemma4_template(which), which, messages, generation, _tools(messages))
    assert rendered.text == expected
    ids = tokenize_chat(tok4, rendered).input_ids
    assert ids == tok4(expected, add_special_tokens=False)["input_ids"]
    assert ids[0] == 2 and ids.count(2) == 1


def test_large_inference_prompt_pre_fills_the_empty_thought_block(tok4: Any, gemma4_template: Any) -> None:
    messages = G4_PLAIN[0][:1]
    large, small = render4("large", messages, True, tok4).text, render4("small", messages, True, tok4).text
    assert large == official4(tok4, gemma4_template("large"), messages, True, False, None)
    assert large.endswith("<|turn>model\n<|channel>thought\n<channel|>") and small.endswith("<|turn>model\n")
    # The training text of the reply starts with that prompt: train and inference see the same context.
    for which in ("small", "large"):
        for k, message in enumerate(G4_PLAIN[1]):
            if message["role"] == "assistant":
                prompt = render4(which, G4_PLAIN[1][:k], True, tok4).text
                assert render4(which, G4_PLAIN[1][: k + 1], False, tok4).text.startswith(prompt)


def _trained(rendered: Any, index: int) -> str:
    return "".join(s.text for s in rendered.segments if s.trainable and s.message_index == index)


def test_labels_train_reply_and_turn_end_only(tok4: Any) -> None:
    messages = G4_PLAIN[1]
    rendered = render4("large", messages, False, tok4)
    assert _trained(rendered, 2) == "Blue.<turn|>" and _trained(rendered, 4) == "Red.<turn|>"
    tokens = tokenize_chat(tok4, rendered)
    trained = [t for t, label in zip(tokens.input_ids, tokens.labels) if label != IGNORE_INDEX]
    assert trained.count(106) == 2 and 107 not in trained and 105 not in trained
    assert tok4.decode(trained) == "Blue.<turn|>Red.<turn|>"
    assert "<|channel>thought\n<channel|>" not in tok4.decode(trained)  # the pre-fill is prompt


def test_reasoning_is_trained_as_its_own_kind_and_dropped_before_the_last_user(tok4: Any) -> None:
    messages = REASONING[1]
    rendered = render4("small", messages, False, tok4)
    assert "early thought" not in rendered.text  # the template drops reasoning before the last user message
    assert rendered.text.startswith("<bos><|turn>system\n<|think|>\n<turn|>\n")
    assert _trained(rendered, 3) == "<|channel>thought\n4 加 3 等于 7。\n<channel|>7<turn|>"
    kinds = {s.kind for s in rendered.segments if s.trainable and s.message_index == 3}
    assert kinds == {"reasoning", "text"}
    masked = tokenize_chat(tok4, rendered, "all_assistant")
    assert tok4.decode([t for t, lab in zip(masked.input_ids, masked.labels) if lab != IGNORE_INDEX]).startswith("4")


def test_tool_call_result_answer_labels(tok4: Any) -> None:
    messages = TOOL_USE[1]
    rendered = render4("large", messages, False, tok4)
    assert _trained(rendered, 2) == ('<|channel>thought\nTwo tools.\n<channel|>'
                                     '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,unit:<|"|>c<|"|>}<tool_call|>'
                                     '<|tool_call>call:get_time{tz:<|"|>Europe/Paris<|"|>}<tool_call|><|tool_response>')
    assert _trained(rendered, 5) == "<|channel>thought\nBoth answered.\n<channel|>18 C at 14:00.<turn|>"
    results = [s for s in rendered.segments if s.kind == "tool_result"]
    assert results and not any(s.trainable for s in results)
    assert {s.message_index for s in results} == {3, 4}
    assert "".join(s.text for s in results if s.message_index == 4) == \
        '<|tool_response>response:get_time{value:<|"|>14:00<|"|>}<tool_response|>'
    declarations = "".join(s.text for s in rendered.segments if s.kind == "tools")
    assert declarations.count("<|tool>declaration:") == 3
    assert not any(s.trainable for s in rendered.segments if s.kind == "tools")


def test_a_pending_tool_call_ends_at_the_hand_over_token(tok4: Any) -> None:
    rendered = render4("large", TOOL_USE[3], False, tok4)
    assert rendered.text.endswith("<tool_call|><|tool_response>")
    assert _trained(rendered, 1).endswith("<tool_call|><|tool_response>")
    assert "<|tool_response>" in plugin.stop_tokens(facts=LARGE, tokenizer=tok4)
    assert plugin.stop_tokens(facts=LARGE, tokenizer=tok4)[0] == "<turn|>"


def test_thinking_switch_defaults_to_the_data_and_can_be_forced(tok4: Any, gemma4_template: Any) -> None:
    plain = G4_PLAIN[0]
    assert "<|think|>" not in render4("small", plain, False, tok4).text
    forced = render4("small", plain, False, tok4, enable_thinking=True).text
    assert forced == official4(tok4, gemma4_template("small"), plain, False, True, None)
    assert "<|think|>" in render4("small", REASONING[0], False, tok4).text


def test_control_token_text_in_data_stays_text(tok4: Any) -> None:
    messages = [{"role": "user", "content": "say <turn|> and <|tool_call>"},
                {"role": "assistant", "content": 'literal <|"|> quote'}]
    ids = tokenize_chat(tok4, render4("small", messages, False, tok4)).input_ids
    assert ids.count(106) == 2 and ids.count(48) == 0 and ids.count(52) == 0


@pytest.mark.parametrize(("messages", "says"), [
    ([{"role": "user", "content": "a"}, {"role": "tool", "content": "42"}], "follows no assistant tool call"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "tool", "content": "42"}],
     "follows no assistant tool call"),
    ([{"role": "user", "content": ["not", "text"]}], "non-text content"),
])
def test_data_the_template_would_drop_is_refused(messages: list[dict[str, Any]], says: str, tok4: Any) -> None:
    with pytest.raises(DataError, match=says):
        render4("small", messages, False, tok4)


def test_gemma4_declares_reasoning_and_tools() -> None:
    for facts in (SMALL, LARGE):
        features = plugin.chat_features(facts=facts, tokenizer=None)
        assert features.reasoning and features.tools


def _random_conversation(rng: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """A seeded mix of system messages, whitespace, control-token look-alikes, reasoning, parallel tool calls with and
    without results and ids, and conversations ending anywhere."""
    texts = ["Hi", "  padded \n", "中文 回答", "", "a<turn|>b", "x\n\ny", "<|channel>hidden<channel|>visible"]
    arguments = [{}, {"a": 1}, {"B": "s", "a": [1, 2.5, None, True]}, {"nested": {"Z": "q", "y": {"k": False}}}]
    use_tools = rng.random() < 0.5
    messages: list[dict[str, Any]] = []
    if rng.random() < 0.4:
        messages.append({"role": "system", "content": rng.choice(texts)})
    for turn in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": rng.choice(texts)})
        reply: dict[str, Any] = {"role": "assistant", "content": rng.choice(texts)}
        if rng.random() < 0.4:
            reply["reasoning_content"] = rng.choice(["think", "多想 一下", " sp "])
        if use_tools and rng.random() < 0.5:
            count = rng.randint(1, 2)
            reply["tool_calls"] = [{"id": f"c{turn}{j}", "type": "function", "function": {
                "name": rng.choice(["get_weather", "get_time"]), "arguments": rng.choice(arguments)}}
                for j in range(count)]
            messages.append(reply)
            messages += [{"role": "tool", "tool_call_id": f"c{turn}{j}" if rng.random() < 0.8 else None,
                          "content": rng.choice(texts)} for j in range(count) if rng.random() < 0.85]
            if rng.random() < 0.7:
                messages.append({"role": "assistant", "content": rng.choice(texts)})
        else:
            messages.append(reply)
    if rng.random() < 0.3 and messages[-1]["role"] == "assistant":
        messages.pop()
    return messages, TOOLS if use_tools else None


def test_random_conversations_match_the_official_templates(tok4: Any, gemma4_template: Any,
                                                           gemma4_expected: Any) -> None:
    import random

    rng = random.Random(0)
    for _ in range(60):
        messages, tools = _random_conversation(rng)
        for which in ("small", "large"):
            for generation in (False, True):
                options = ChatOptions(add_generation_prompt=generation)
                got = plugin.render_chat(facts=FACTS[which], messages=messages, options=options, tokenizer=tok4,
                                         tools=tools).text
                assert got == gemma4_expected(tok4, gemma4_template(which), which, messages, generation, tools), \
                    (which, generation, messages)
