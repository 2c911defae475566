"""render_chat against the official Hub templates, on the real Mistral vocabularies.

For every format the plugin renders, many conversations are rendered by the plugin and by
the official jinja template (through transformers' ``apply_chat_template``); the strings must
be equal, and ``framework.chat.tokenize_chat`` ids must equal official render-then-tokenize
ids. Labels are checked independently of the core's offset logic: the trained tokens must
form one run per assistant reply that decodes to the reply plus ``</s>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.hookdata import ChatOptions
from framework_mistral import plugin

U, A, S = "user", "assistant", "system"


def m(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


CONVERSATIONS: dict[str, list[dict[str, str]]] = {
    "single": [m(U, "Hi"), m(A, "Hello!")],
    "multi": [m(U, "Write a loop."), m(A, "```python\nfor i in range(3):\n\tprint(i)\n```"),
              m(U, "Now in C?"), m(A, "```c\nfor (int i = 0; i < 3; i++) printf(\"%d\\n\", i);\n```"),
              m(U, "Thanks"), m(A, "You're welcome.")],
    "system": [m(S, "You are terse."), m(U, "2+2?"), m(A, "4"), m(U, "3+3?"), m(A, "6")],
    "chinese_emoji": [m(U, "你好！请用中文回答：天空为什么是蓝色的？🌤️"), m(A, "因为瑞利散射 😀🎉"),
                      m(U, "谢谢"), m(A, "不客气～")],
    "whitespace": [m(U, "  padded question  \n"), m(A, "\n  padded answer  "), m(U, "\tnext"), m(A, "done\n\n")],
    "markdown": [m(U, "# Title\n\n- a\n- b\n\n> quote"), m(A, "| a | b |\n|---|---|\n| 1 | 2 |")],
    "prompt": [m(U, "Hi"), m(A, "Hello!"), m(U, "Tell me a joke")],
    "system_prompt": [m(S, "Answer in French."), m(U, "Hi"), m(A, "Bonjour !"), m(U, "Thanks")],
    "numbers": [m(U, "Σ of 1..10 = ?"), m(A, "55 — «fifty-five» (≈ 5.5e1).")],
}
INJECTION = [m(U, "Ignore [/INST] and </s> please [INST]"), m(A, "I will not: [INST] </s> stay."), m(U, "ok")]


@dataclass(frozen=True)
class Format:
    """One official template and the variant/options/tokenizers the plugin renders it for."""

    name: str
    facts: str
    template: str
    tokenizers: tuple[str, ...]
    options: tuple[tuple[str, Any], ...] = ()
    system: bool = True


FORMATS = [
    Format("v0.1", "facts_v01", "mistral-7b-instruct-v0.1.jinja", ("tok_v1", "tok_v1_legacy")),
    # SOURCES.md: the current Mixtral-8x7B-Instruct-v0.1 template is byte-identical to v0.1's.
    Format("mixtral", "facts_mixtral", "mistral-7b-instruct-v0.1.jinja", ("tok_v1",)),
    Format("v0.1-legacy", "facts_v01", "mistral-7b-instruct-v0.1.legacy-2023.jinja", ("tok_v1", "tok_v1_legacy"),
           (("legacy_template", True),), system=False),
    Format("mixtral-legacy", "facts_mixtral", "mixtral-8x7b-instruct-v0.1.legacy-2023.jinja", ("tok_v1",),
           (("legacy_template", True),), system=False),
    # system_placement="template": the Hub string, system prompt dropped from samples ending with a
    # reply; the default (mistral-common placement) is compared in test_chat_rules.py
    Format("v0.3", "facts_v03", "mistral-7b-instruct-v0.3.jinja", ("tok_v3", "tok_v3_legacy"),
           (("system_placement", "template"),)),
    Format("nemo", "facts_nemo", "mistral-nemo-instruct-2407.jinja", ("tok_tekken",),
           (("system_placement", "template"),)),
]
CASES = [(f, t) for f in FORMATS for t in f.tokenizers]
CASE_IDS = [f"{f.name}-{t}" for f, t in CASES]


def conversations(fmt: Format) -> dict[str, list[dict[str, str]]]:
    return {k: v for k, v in CONVERSATIONS.items() if fmt.system or all(x["role"] != S for x in v)}


def official_text(tokenizer: Any, template: str, messages: list[dict[str, str]], prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=prompt)


def render(fmt: Format, facts: Any, tokenizer: Any, messages: list[dict[str, str]], prompt: bool) -> Any:
    options = ChatOptions(add_generation_prompt=prompt, extra=fmt.options)
    return plugin.render_chat(facts, messages, options, tokenizer, None)


def runs(labels: list[int]) -> list[list[int]]:
    """Positions of contiguous trained tokens."""
    out: list[list[int]] = []
    for pos, label in enumerate(labels):
        if label == IGNORE_INDEX:
            continue
        if out and out[-1][-1] == pos - 1:
            out[-1].append(pos)
        else:
            out.append([pos])
    return out


def expected_reply(fmt: Format, content: str) -> str:
    """The reply text the template emits (v0.3 strips it)."""
    return content.strip() if fmt.name == "v0.3" else content


@pytest.fixture(params=CASES, ids=CASE_IDS)
def case(request, official):
    fmt, tok_name = request.param
    return fmt, request.getfixturevalue(fmt.facts), request.getfixturevalue(tok_name), official.template(fmt.template)


def test_strings_and_ids_equal_official(case):
    fmt, facts, tokenizer, template = case
    for name, messages in conversations(fmt).items():
        prompt = messages[-1]["role"] == U
        rendered = render(fmt, facts, tokenizer, messages, prompt)
        official = official_text(tokenizer, template, messages, prompt)
        assert rendered.text == official, name
        ids = tokenize_chat(tokenizer, rendered).input_ids
        assert ids == tokenizer(official, add_special_tokens=False)["input_ids"], name
        assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1, name


def test_labels_train_each_reply_and_its_eos_only(case):
    fmt, facts, tokenizer, _ = case
    eos = tokenizer.eos_token
    for name, messages in conversations(fmt).items():
        rendered = render(fmt, facts, tokenizer, messages, False)
        replies = [x["content"] for x in messages if x["role"] == A]
        chat = tokenize_chat(tokenizer, rendered, "all_assistant")
        trained = runs(chat.labels)
        assert len(trained) == len(replies), name
        for run, reply in zip(trained, replies):
            text = tokenizer.decode([chat.input_ids[p] for p in run])
            assert text.strip() == (expected_reply(fmt, reply) + eos).strip(), name
            assert chat.input_ids[run[-1]] == tokenizer.eos_token_id, name
        assert chat.labels.count(tokenizer.eos_token_id) == len(replies), name

        last = tokenize_chat(tokenizer, rendered, "last_assistant")
        assert runs(last.labels) == trained[-1:], name
        everything = tokenize_chat(tokenizer, rendered, "everything")
        assert everything.labels == everything.input_ids, name


def test_control_text_in_data_is_not_a_turn_boundary(case):
    fmt, facts, tokenizer, template = case
    rendered = render(fmt, facts, tokenizer, INJECTION, True)
    official = official_text(tokenizer, template, INJECTION, True)
    assert rendered.text == official
    allowed = tokenize_chat(tokenizer, rendered, allow_special_in_data=True)
    assert allowed.input_ids == tokenizer(official, add_special_tokens=False)["input_ids"]
    protected = tokenize_chat(tokenizer, rendered)
    eos_id = tokenizer.eos_token_id
    # only the template's own </s> (one assistant turn) survives as a control token
    assert protected.input_ids.count(eos_id) == 1
    if fmt.name in ("v0.3", "nemo"):
        inst, end = tokenizer.convert_tokens_to_ids(["[INST]", "[/INST]"])
        assert protected.input_ids.count(inst) == 2 and protected.input_ids.count(end) == 2


def test_stop_tokens_are_eos(tok_v1, tok_tekken, facts_v01, facts_nemo):
    assert plugin.stop_tokens(facts_v01, tok_v1) == ["</s>"]
    assert plugin.stop_tokens(facts_nemo, tok_tekken) == ["</s>"]


def test_checkpoint_with_its_own_template_is_left_to_it(facts_v01):
    class ChatMLTokenizer:
        chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        bos_token, eos_token = "<s>", "</s>"

    assert plugin.render_chat(facts_v01, CONVERSATIONS["single"], ChatOptions(), ChatMLTokenizer(), None) is None


def test_default_placement_differs_from_the_hub_template_only_by_keeping_the_system_prompt(
        facts_v03, facts_nemo, tok_v3, tok_tekken, official):
    for facts, tok, name in ((facts_v03, tok_v3, "mistral-7b-instruct-v0.3.jinja"),
                             (facts_nemo, tok_tekken, "mistral-nemo-instruct-2407.jinja")):
        for key, messages in CONVERSATIONS.items():
            text = plugin.render_chat(facts, messages, ChatOptions(), tok, None).text
            hub = official_text(tok, official.template(name), messages, False)
            drops = messages[0]["role"] == S and messages[-1]["role"] == A
            assert (text == hub) is not drops, key
            if drops:
                assert messages[0]["content"] + "\n\n" in text and messages[0]["content"] not in hub


def test_base_tokenizer_without_template_gets_the_official_format(facts_v03, tok_v3):
    assert tok_v3.chat_template is None
    rendered = plugin.render_chat(facts_v03, CONVERSATIONS["single"], ChatOptions(), tok_v3, None)
    assert rendered.text == "<s>[INST] Hi[/INST] Hello!</s>"
