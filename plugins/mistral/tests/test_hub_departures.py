"""Where the Hub templates of the 2025-26 models depart from mistral-common, and that it is only there.

Each test renders the same conversation with the plugin (mistral-common's encoding) and with the
Hub template; they agree where the README says they do and differ exactly where it documents a
departure (the plugin follows mistral-common).
"""

from __future__ import annotations

from framework.hookdata import ChatOptions
from framework_mistral import plugin

from .test_generation_2025 import (MAGISTRAL, MINISTRAL_R, PLAIN, REASONING, REASONING_TOOLS, SMALL31, SMALL32,
                                   TOOLS, facts_of)
from .test_tools import TIME, WEATHER


def both(official, tok, template, hub_id, messages, tools=None):
    hub = tok.apply_chat_template(messages, tools=tools, chat_template=official.template(template), tokenize=False)
    return hub, plugin.render_chat(facts_of(hub_id), messages, ChatOptions(), tok, tools).text


def test_small_hub_templates_agree_with_a_system_message_and_no_tools(official, tekken_later):
    for template, hub_id in (("mistralai-Mistral-Small-3.1-24B-Instruct-2503.jinja", SMALL31),
                             ("mistralai-Mistral-Small-3.2-24B-Instruct-2506.jinja", SMALL32)):
        hub, ours = both(official, tekken_later.tokenizer, template, hub_id, PLAIN)
        assert hub == ours


def test_small_hub_templates_add_a_dated_default_system_prompt(official, tekken_later):
    """Departure 1: without a system message the Hub templates insert one with today's date; mistral-common none."""
    hub, ours = both(official, tekken_later.tokenizer, "mistralai-Mistral-Small-3.2-24B-Instruct-2506.jinja",
                     SMALL32, PLAIN[1:])
    assert hub.startswith("<s>[SYSTEM_PROMPT]You are Mistral Small 3") and "The current date is" in hub
    assert ours.startswith("<s>[INST]Hi[/INST]")
    assert hub.endswith(ours[len("<s>"):])  # the rest is identical


def test_small_31_hub_template_renders_tools_in_the_v3_layout(official, tekken_later):
    """Departure 2: the 3.1 Hub template writes v3-style tool JSON and a tool system prompt; v7 has [TOOL_CONTENT]."""
    hub, ours = both(official, tekken_later.tokenizer, "mistralai-Mistral-Small-3.1-24B-Instruct-2503.jinja",
                     SMALL31, TOOLS, [WEATHER, TIME])
    assert '[TOOL_RESULTS] {"content": ' in hub and "[TOOL_CONTENT]" not in hub
    assert "[TOOL_RESULTS]w1e2a3t4h[TOOL_CONTENT]" in ours


def test_generated_v11_template_copies_tool_schemas_unnormalised(official, tekken_later):
    """Departure 3: ``tools|tojson`` keeps a schema without description as is; mistral-common adds ``""``."""
    hub, ours = both(official, tekken_later.tokenizer, "mistral-common-generated/v11.jinja", SMALL32, TOOLS,
                     [WEATHER, TIME])
    assert hub != ours and hub.replace('"name": "local_time", ', '"name": "local_time", "description": "", ') == ours


def test_generated_v13_think_template_equals_the_renderer_on_reasoning(official, tekken_later):
    for messages, tools in ((REASONING, None), (REASONING_TOOLS, [WEATHER])):
        hub, ours = both(official, tekken_later.tokenizer, "mistral-common-generated/v13_think.jinja", MAGISTRAL,
                         messages, tools)
        assert hub == ours


def test_ministral_reasoning_hub_template_drops_reasoning_content(official, tekken_later):
    """Departure 4: the Hub template reads only thinking chunks of the content, so reasoning_content vanishes."""
    hub, ours = both(official, tekken_later.tokenizer, "mistralai-Ministral-3-14B-Reasoning-2512.jinja",
                     MINISTRAL_R, REASONING)
    assert "[THINK]" not in hub and ours.count("[THINK]") == 2
    assert hub == ours.replace("[THINK]17*23 = 17*20 + 17*3 = 340 + 51 = 391[/THINK]", "").replace(
        "[THINK]391 + 9 = 400，很简单。[/THINK]", "")
