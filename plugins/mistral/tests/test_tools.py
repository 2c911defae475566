"""Tool use (v0.3+ formats): token parity with mistral-common and labels on exactly the replies.

mistral-common is the ground truth: its ``encode_chat_completion`` ids must equal
``framework.chat.tokenize_chat`` over the plugin's rendering, and the trained token runs must
equal the ids mistral-common produces for each assistant message (tool calls with their
``</s>``, answers with theirs); tool declarations and results are never trained.
"""

from __future__ import annotations

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.errors import DataError
from framework.hookdata import ChatOptions
from framework_mistral import plugin

from .conftest import mistral_common_encoder, mistral_common_request

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string",
                   "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "local_time", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}  # no description: mistral-common adds ""


def call(ident: str, name: str, **arguments: object) -> dict:
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


SAMPLES = {
    "call-result-answer": ([
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call("a1B2c3D4e", "get_weather", city="Paris")]},
        {"role": "tool", "content": '{"temperature": 21, "sky": "clear"}', "tool_call_id": "a1B2c3D4e"},
        {"role": "assistant", "content": "21 °C and clear."},
        {"role": "user", "content": "Thanks!"},
        {"role": "assistant", "content": "You're welcome."},
    ], [WEATHER]),
    "two-calls": ([
        {"role": "user", "content": "Weather and time in Tokyo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            call("w1e2a3t4h", "get_weather", city="Tokyo", unit="celsius"), call("t1i2m3e4x", "local_time",
                                                                                city="Tokyo")]},
        {"role": "tool", "content": '{"temperature": 18}', "tool_call_id": "w1e2a3t4h"},
        {"role": "tool", "content": "22:15", "tool_call_id": "t1i2m3e4x"},  # not JSON: quoted by mistral-common
        {"role": "assistant", "content": "18 °C, and it is 22:15 there."},
    ], [WEATHER, TIME]),
    "chinese": ([
        {"role": "user", "content": "北京今天天气怎么样？"},
        {"role": "assistant", "content": "", "tool_calls": [call("z9Y8x7W6v", "get_weather", city="北京")]},
        {"role": "tool", "content": '{"天气": "晴", "温度": 25}', "tool_call_id": "z9Y8x7W6v"},
        {"role": "assistant", "content": "北京今天晴，气温25度。"},
    ], [WEATHER]),
    "last-call-without-result": ([
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [call("o5s6l7o8x", "get_weather", city="Oslo")]},
    ], [WEATHER]),
}
FORMATS = [("facts_v03", "tok_v3", "mistral_instruct_tokenizer_240323.model.v3"),
           ("facts_nemo", "tok_tekken", "tekken_240718.json")]


@pytest.fixture(params=FORMATS, ids=["v0.3", "nemo"], scope="module")
def fmt(request):
    facts, tok, name = request.param
    return request.getfixturevalue(facts), request.getfixturevalue(tok), mistral_common_encoder(name)


def trained_runs(chat) -> list[list[int]]:
    runs: list[list[int]] = []
    previous = IGNORE_INDEX
    for token, label in zip(chat.input_ids, chat.labels):
        if label != IGNORE_INDEX:
            if previous == IGNORE_INDEX:
                runs.append([])
            runs[-1].append(token)
        previous = label
    return runs


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_ids_equal_mistral_common_and_labels_are_the_replies(fmt, sample):
    from mistral_common.protocol.instruct.messages import AssistantMessage

    facts, tok, encoder = fmt
    messages, tools = SAMPLES[sample]
    rendered = plugin.render_chat(facts, messages, ChatOptions(), tok, tools)
    chat = tokenize_chat(tok, rendered)
    request = mistral_common_request(messages, tools)
    assert chat.input_ids == encoder.encode_chat_completion(request).tokens, sample

    instruct = encoder.instruct_tokenizer
    replies = [instruct.encode_assistant_message(m, False) for m in request.messages
               if isinstance(m, AssistantMessage)]
    assert trained_runs(chat) == replies, sample


def test_segment_kinds_mark_declarations_calls_and_results(fmt):
    facts, tok, _ = fmt
    messages, tools = SAMPLES["two-calls"]
    segments = plugin.render_chat(facts, messages, ChatOptions(), tok, tools).segments
    kinds = {s.kind for s in segments}
    assert kinds == {"text", "tools", "tool_call", "tool_result"}
    assert all(s.trainable and s.message_index == 1 for s in segments if s.kind == "tool_call")
    assert not any(s.trainable for s in segments if s.kind in ("tools", "tool_result"))
    assert [s.message_index for s in segments if s.kind == "tool_result" and s.from_data] == [2, 3]


@pytest.mark.parametrize("bad", ["short", "ten_chars1", "abc-12345", None])
def test_a_wrong_call_id_is_a_data_error_naming_the_message(fmt, bad):
    facts, tok, _ = fmt
    messages = [dict(m) for m in SAMPLES["call-result-answer"][0]]
    messages[2] = {**messages[2], "tool_calls": [call(bad, "get_weather", city="Paris")]}
    with pytest.raises(DataError, match="9 letters or digits") as err:
        plugin.render_chat(facts, messages, ChatOptions(), tok, [WEATHER])
    assert "message 2" in str(err.value) and "\n" not in str(err.value)
    results = [dict(m) for m in SAMPLES["call-result-answer"][0]]
    results[3] = {**results[3], "tool_call_id": bad}
    with pytest.raises(DataError, match="message 3"):
        plugin.render_chat(facts, results, ChatOptions(), tok, [WEATHER])


def test_text_and_calls_in_one_v3_message_is_refused_like_mistral_common(fmt):
    facts, tok, encoder = fmt
    messages = [{"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": "Let me check.", "tool_calls": [call("a1B2c3D4e", "get_weather",
                                                                                       city="Paris")]}]
    from mistral_common.exceptions import InvalidAssistantMessageException

    with pytest.raises(InvalidAssistantMessageException, match="content or tool_calls, but not both"):
        encoder.encode_chat_completion(mistral_common_request(messages, [WEATHER]))
    with pytest.raises(DataError, match="both text and tool_calls"):
        plugin.render_chat(facts, messages, ChatOptions(), tok, [WEATHER])


def test_v1_formats_declare_no_tools_and_refuse_them(facts_v01, facts_v03, facts_nemo, tok_v1, tok_v3,
                                                     tok_tekken):
    assert not plugin.chat_features(facts_v01, tok_v1).tools
    assert plugin.chat_features(facts_v03, tok_v3).tools and plugin.chat_features(facts_nemo, tok_tekken).tools
    assert not plugin.chat_features(facts_v03, tok_v3).reasoning
    messages, tools = SAMPLES["chinese"]
    with pytest.raises(DataError, match="no tool tokens"):
        plugin.render_chat(facts_v01, messages, ChatOptions(), tok_v1, tools)
    with pytest.raises(DataError, match="no tool tokens"):
        plugin.render_chat(facts_v01, messages[:2], ChatOptions(), tok_v1, None)
    thinking = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "2+2"}]
    with pytest.raises(DataError, match="no reasoning markers"):
        plugin.render_chat(facts_v03, thinking, ChatOptions(), tok_v3, None)


@pytest.mark.parametrize("facts_name,tok_name,file", FORMATS, ids=["v0.3", "nemo"])
def test_inference_prompt_after_a_tool_result_is_mistral_commons(request, facts_name, tok_name, file):
    """The prompt for the final answer: everything up to the tool result, as mistral-common serves it."""
    facts, tok = request.getfixturevalue(facts_name), request.getfixturevalue(tok_name)
    messages, tools = SAMPLES["chinese"]
    prompt = messages[:3]
    rendered = plugin.render_chat(facts, prompt, ChatOptions(add_generation_prompt=True), tok, tools)
    expected = mistral_common_encoder(file, "test").encode_chat_completion(mistral_common_request(prompt, tools))
    chat = tokenize_chat(tok, rendered)
    assert chat.input_ids == expected.tokens
    assert trained_runs(chat) == [expected.tokens[expected.tokens.index(tok.convert_tokens_to_ids("[TOOL_CALLS]")):
                                                  expected.tokens.index(tok.convert_tokens_to_ids("[TOOL_RESULTS]"))]]
