"""The method groups plugins choose defaults by: defined once in the core, covering every method."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from framework import method_kinds as kinds
from framework.config import Method

ROOT = Path(__file__).resolve().parents[1]


def test_the_groups_cover_every_method_and_hybrid_is_both_full_and_lora() -> None:
    methods = set(get_args(Method))
    groups = [kinds.LORA_METHODS, kinds.WEIGHT_UPDATING, kinds.PROMPT, kinds.BOTTLENECK]
    assert set().union(*groups) == methods
    assert sum(len(g) for g in groups) == len(methods)  # a partition: each method in one group
    assert kinds.LORA_METHODS & kinds.WEIGHT_UPDATING == set()
    assert "hybrid" in kinds.WEIGHT_UPDATING and "hybrid" in kinds.LORA_TARGETED
    assert kinds.QUANTIZED <= kinds.LORA_METHODS


def test_no_plugin_redefines_a_method_list() -> None:
    """A literal list of method names in a plugin is a second opinion that drifts (one named method,
    a family fact such as the methods that cannot adapt experts, is fine)."""
    names = "lora|dora|rslora|qlora|qlora8|full|freeze|hybrid|prefix|prompt|ptuning"
    listing = re.compile(rf"""^[A-Z_]+\s*=\s*(frozenset\(\{{|\(|\{{|\[)\s*["']({names})["']\s*,\s*["']({names})["']""", re.M)
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sorted(ROOT.glob("plugins/*/framework_*/*.py"))
                 for m in listing.finditer(p.read_text(encoding="utf-8"))]
    assert offenders == []
