"""Recognise Qwen checkpoints from config.json and name the generation (the variant).

Variants and what decides them:

* ``"1"``   Qwen v1: ``architectures == ["QWenLMHeadModel"]`` (remote code, ``model_type`` ``qwen``).
* ``"3"``   Qwen3: ``model_type`` ``qwen3`` / ``qwen3_moe``.
* ``"1.5"``, ``"2"``, ``"2.5"``: ``model_type`` ``qwen2`` / ``qwen2_moe``. Their configs have the
  same keys and, size for size, the same shapes, so the generation is read from (in order) the
  model name, the absence of grouped-query attention (Qwen1.5 only), and a transformers
  version older than Qwen2 (Qwen1.5). Where none decides, the answer is ``"2"``: the
  Qwen1.5/Qwen2 chat format, which differs from Qwen2.5's only in the default system prompt.
"""

from __future__ import annotations

import re
from typing import Any

from framework.hookdata import MatchResult, ModelFacts

V1_ARCHITECTURE = "QWenLMHeadModel"

#: Embedding rows of published Qwen checkpoints (151643 BPE ranks + specials, padded).
#: 151936: Qwen-7B-Chat, Qwen1.5, Qwen2/2.5 <= 3B, Qwen3 (official configs in
#: /work/shared/reference/official/configs); 152064: Qwen2/2.5 7B and larger
#: (Qwen2-7B-Instruct, Qwen2.5-7B-Instruct official configs).
QWEN_VOCAB_SIZES = frozenset({151936, 152064})

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


def match(facts: ModelFacts) -> MatchResult | None:
    """Score 100 on facts only Qwen has (its architecture class or vocabulary), 50 on model_type alone."""
    if V1_ARCHITECTURE in facts.architectures:
        return MatchResult(score=100, variant="1", reasons=(f"architectures={list(facts.architectures)}",
                                                            "Qwen v1 remote code"))
    if facts.model_type == "qwen":
        return MatchResult(score=50, variant="1", reasons=("model_type=qwen",))
    if facts.model_type not in QWEN2_TYPES | QWEN3_TYPES:
        return None
    reasons = [f"model_type={facts.model_type}"]
    if facts.vocab_size in QWEN_VOCAB_SIZES:
        score = 100
        reasons.append(f"vocab_size={facts.vocab_size}")
    else:
        score = 50
        reasons.append(f"vocab_size={facts.vocab_size} is not a published Qwen size "
                       f"({', '.join(map(str, sorted(QWEN_VOCAB_SIZES)))})")
    if facts.model_type in QWEN3_TYPES:
        variant = "3"
    else:
        variant, why = qwen2_generation(facts)
        reasons.extend(why)
    if facts.num_experts:
        reasons.append(f"mixture of experts: {facts.num_experts} experts")
    return MatchResult(score=score, variant=variant, reasons=tuple(reasons))
