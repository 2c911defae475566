"""Recognise Qwen checkpoints from config.json, the name and the shipped chat template.

Variants and what decides them:

* ``"1"``   Qwen v1: ``architectures == ["QWenLMHeadModel"]`` (remote code, ``model_type`` ``qwen``).
* ``"1.5"``, ``"2"``, ``"2.5"``: ``model_type`` ``qwen2`` / ``qwen2_moe``. Their configs have the
  same keys and, size for size, the same shapes, so the generation is read from (in order) the
  shipped chat template (Qwen2.5's default system line), the model name, the absence of
  grouped-query attention (Qwen1.5 only), and a transformers version older than Qwen2 (Qwen1.5).
  Where none decides, the answer is ``"2"``: the Qwen1.5/Qwen2 chat format, which differs from
  Qwen2.5's only in the default system prompt.
* ``"3"``, ``"2507"``, ``"2507-thinking"``: ``model_type`` ``qwen3`` / ``qwen3_moe``; the 2507 releases by
  the shipped template (no think block) or the name.
* ``"3.5"``, ``"3.6"``, ``"3.8"``: ``model_type`` ``qwen3_5`` / ``qwen3_5_moe`` (vision-language
  wrappers) or their ``*_text`` models; the shipped template (``preserve_thinking``,
  ``reasoning_effort``) or the name tells the generations apart.

A shipped template that is none of the official ones of the architecture (a DeepSeek-R1 distill, a
ChatML variant Qwen never published, another generation's template) keeps the claim with
``chat_format="shipped"``: the core renders with that template, the architecture settings stay.
"""

from __future__ import annotations

import re
from typing import Any

from framework.hookdata import MatchResult, ModelFacts

from framework_qwen.chat import QWEN2_SYSTEM, QWEN25_SYSTEM
from framework_qwen.vocab import IM_START, QWEN35_VOCAB_SIZE, QWEN_VOCAB_SIZES, THINK_OPEN, TOOL_CALL_OPEN

V1_ARCHITECTURE = "QWenLMHeadModel"

#: model_type values of the transformers-native Qwen architectures.
QWEN2_TYPES = frozenset({"qwen2", "qwen2_moe"})
QWEN3_TYPES = frozenset({"qwen3", "qwen3_moe"})

# Generation named in a hub id or directory name: "Qwen2.5-7B", "qwen1.5_chat", "Qwen2-0.5B".
_NAME_GENERATION = re.compile(r"qwen[-_ ]?(1\.5|2\.5|2)(?![\d.])", re.IGNORECASE)


def _version(text: Any) -> tuple[int, ...] | None:
    if not isinstance(text, str):
        return None
    numbers = re.findall(r"\d+", text)[:3]
    return tuple(int(n) for n in numbers) if numbers else None


def _name_generation(facts: ModelFacts) -> tuple[str, str] | None:
    """The generation written in the model's name (hub id, directory or ``_name_or_path``)."""
    for name in (facts.name_or_path, facts.raw.get("_name_or_path")):
        if isinstance(name, str):
            found = _NAME_GENERATION.search(name)
            if found:
                return found.group(1), f"name {name!r} says Qwen{found.group(1)}"
    return None


def qwen2_generation(facts: ModelFacts) -> tuple[str, list[str]]:
    """Tell Qwen1.5, Qwen2 and Qwen2.5 apart (all ``model_type`` qwen2 / qwen2_moe)."""
    named = _name_generation(facts)
    if named:
        return named[0], [named[1]]
    heads, kv_heads = facts.num_attention_heads, facts.num_key_value_heads
    if heads and (kv_heads is None or kv_heads == heads):
        # Every Qwen2/Qwen2.5 size uses GQA (official configs: 14/2, 28/4, 16/2, ...);
        # Qwen1.5 uses full multi-head attention (Qwen1.5-1.8B-Chat: 16/16) except 32B/110B.
        return "1.5", [f"num_key_value_heads == num_attention_heads == {heads} (no GQA, as in Qwen1.5)"]
    saved_with = _version(facts.raw.get("transformers_version"))
    if saved_with is not None and saved_with < (4, 40):
        # Qwen1.5 configs were saved with 4.37 (Qwen1.5-1.8B-Chat: 4.37.2); Qwen2 and Qwen2.5 ones
        # with 4.40 or later (4.40.1, 4.41.2, 4.43.1). Re-saving only ever raises the version.
        shown = facts.raw["transformers_version"]
        return "1.5", [f"transformers_version {shown} predates Qwen2 (Qwen1.5 shipped with 4.37)"]
    # Not decidable from the config: Qwen2.5-0.5B's official config was even saved with the same
    # transformers 4.40.1 as Qwen2-0.5B-Instruct's.
    return "2", [
        "Qwen2 and Qwen2.5 configs are identical in shape and no name says which: "
        "Qwen2 chat format (give every conversation a system message to make the two identical)"
    ]


#: model_type values of Qwen3.5 (Gated DeltaNet + attention, 3:1): the vision-language wrapper and its
#: text model (transformers 5 ``qwen3_5`` / ``qwen3_5_moe`` and ``*_text``). Qwen3.6 and 3.8 share them.
QWEN35_TYPES = frozenset({"qwen3_5", "qwen3_5_moe", "qwen3_5_text", "qwen3_5_moe_text"})

def is_qwen35(facts: ModelFacts) -> bool:
    """The 2026 architecture (Qwen3.5, and Qwen3.6/3.8 on the same one), wrapper or text model."""
    return facts.model_type in QWEN35_TYPES


_NAME_2026 = re.compile(r"qwen[-_ ]?3\.([568])(?!\d)", re.IGNORECASE)
_NAME_2507 = re.compile(r"qwen[-_ ]?3-.*2507", re.IGNORECASE)  # Qwen3-4B-Instruct-2507, Qwen3-30B-A3B-Thinking-2507
_SMALL_35 = re.compile(r"qwen[-_ ]?3\.5-(0\.8|2)b(?![\d.])", re.IGNORECASE)

#: The variants each architecture can be: a shipped template of another generation is not re-labelled.
ARCHITECTURE_VARIANTS = {"qwen2": {"1.5", "2", "2.5"}, "qwen3": {"3", "2507", "2507-thinking"},
                         "qwen3.5": {"3.5", "3.6", "3.8"}}


def _names(facts: ModelFacts) -> list[str]:
    return [n for n in (facts.name_or_path, facts.raw.get("_name_or_path")) if isinstance(n, str) and n]


def template_variant(template: str) -> tuple[str | None, str]:
    """Which official Qwen template a shipped chat template is, and the evidence (None: not a known one).

    The markers are the lines each official template alone has (oracles/templates, oracles/2026/templates)."""
    if IM_START not in template:
        return None, "not ChatML (no <|im_start|>)"
    if "<function=" in template:
        if "reasoning_effort" in template:
            return "3.8", "Qwen3.8 template (XML tool calls, reasoning_effort)"
        if "preserve_thinking" in template:
            return "3.6", "Qwen3.6 template (XML tool calls, preserve_thinking)"
        return "3.5", "Qwen3.5 template (XML tool calls)"
    if "enable_thinking" in template:
        return "3", "Qwen3 hybrid-thinking template (enable_thinking)"
    if QWEN25_SYSTEM in template:
        return "2.5", "Qwen2.5 default system prompt"
    if QWEN2_SYSTEM in template:
        return "2", "Qwen1.5/Qwen2 default system prompt"
    if TOOL_CALL_OPEN in template and THINK_OPEN not in template:
        return "2507", "Qwen3-Instruct-2507 template (Hermes tools, no think block, no default system)"
    return None, "a ChatML template that is none of Qwen's official ones"


def thinking_default(facts: ModelFacts) -> bool:
    """Whether the inference prompt thinks unless told not to: the Qwen3.5 0.8B/2B template thinks
    only with ``enable_thinking=True`` (oracles/2026/templates/Qwen-Qwen3.5-0.8B.jinja)."""
    if facts.chat_template:
        return "enable_thinking is defined and enable_thinking is true" not in facts.chat_template
    return not any(_SMALL_35.search(name) for name in _names(facts))


def _architecture(facts: ModelFacts) -> str | None:
    if facts.model_type in QWEN2_TYPES:
        return "qwen2"
    if facts.model_type in QWEN3_TYPES:
        return "qwen3"
    if facts.model_type in QWEN35_TYPES:
        return "qwen3.5"
    return None


def _config_variant(architecture: str, facts: ModelFacts) -> tuple[str, list[str]]:
    """The variant config.json and the name say (before any shipped template is consulted)."""
    if architecture == "qwen2":
        return qwen2_generation(facts)
    if architecture == "qwen3":
        for name in _names(facts):
            found = _NAME_2507.search(name)
            if found:
                thinking = "thinking" in name.lower()
                return ("2507-thinking" if thinking else "2507"), [f"name {name!r} says Qwen3-2507"]
        return "3", []
    for name in _names(facts):
        found = _NAME_2026.search(name)
        if found:
            return f"3.{found.group(1)}", [f"name {name!r} says Qwen3.{found.group(1)}"]
    return "3.5", ["Qwen3.5 architecture (Qwen3.6 and 3.8 share it: the name or shipped template tells them apart)"]


def match(facts: ModelFacts) -> MatchResult | None:
    """Score 100 on facts only Qwen has (its architecture class or vocabulary), 50 on model_type alone.

    A shipped chat template decides the variant among those of the architecture; a shipped template
    that is not one of Qwen's (a distill's own markers, a ChatML variant Qwen never published) keeps
    the claim, with ``chat_format="shipped"``: the core then renders with that template."""
    if V1_ARCHITECTURE in facts.architectures:
        return MatchResult(score=100, variant="1", reasons=(f"architectures={list(facts.architectures)}",
                                                            "Qwen v1 remote code"))
    if facts.model_type == "qwen":
        return MatchResult(score=50, variant="1", reasons=("model_type=qwen",))
    architecture = _architecture(facts)
    if architecture is None:
        return None
    reasons = [f"model_type={facts.model_type}"]
    known_vocab = QWEN_VOCAB_SIZES | {QWEN35_VOCAB_SIZE}
    if facts.vocab_size in known_vocab:
        score = 100
        reasons.append(f"vocab_size={facts.vocab_size}")
    else:
        score = 50
        reasons.append(f"vocab_size={facts.vocab_size} is not a published Qwen size "
                       f"({', '.join(map(str, sorted(known_vocab)))})")
    variant, why = _config_variant(architecture, facts)
    chat_format = "plugin"
    if facts.chat_template:
        shipped, evidence = template_variant(facts.chat_template)
        if shipped in ARCHITECTURE_VARIANTS[architecture]:
            if not (shipped == "2" and variant == "1.5"):  # Qwen1.5 ships the Qwen2 template
                variant, why = shipped, []
            why.append(f"chat template of the model directory: {evidence}")
        else:
            chat_format = "shipped"
            why.append(f"chat template of the model directory: {evidence}; rendered with that template, "
                       "the Qwen architecture settings kept")
    reasons.extend(why)
    if facts.num_experts:
        reasons.append(f"mixture of experts: {facts.num_experts} experts")
    return MatchResult(score=score, variant=variant, reasons=tuple(reasons), chat_format=chat_format)
