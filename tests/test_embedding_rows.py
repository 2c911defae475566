"""The core's untrained-chat-token-rows check, and every in-tree plugin reporting through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from framework import embedding_rows
from framework.embedding_rows import CODE, untrained_rows, untrained_rows_finding, untrained_token_rows


def _model(tied: bool) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=tied)
    return LlamaForCausalLM(config)


def test_zero_and_tiny_rows_are_untrained_small_trained_rows_are_not() -> None:
    weight = torch.randn(1000, 64)
    weight[3] = 0.0  # never touched
    weight[4] = 1e-5 * weight[4]  # a near-zero init, far below any trained row
    weight[5] = 0.05 * weight[5]  # small but trained: 5% of a typical norm
    assert untrained_rows(weight, [3, 4, 5, 6, 5000]) == [3, 4]  # an id beyond the matrix is skipped
    assert untrained_rows(weight.to(torch.bfloat16), [3, 4, 5]) == [3, 4]
    assert untrained_rows(torch.empty(10, 4, device="meta"), [1]) == []  # not loaded yet: nothing to judge
    assert untrained_rows(torch.zeros(10, dtype=torch.int64).view(5, 2), [1]) == []


@pytest.mark.parametrize("tied", [True, False])
def test_the_finding_names_token_id_and_matrix_and_carries_the_fix(tied: bool) -> None:
    model = _model(tied)
    tokens = {"<turn>": 7, "<end>": 8, "<absent>": None}
    assert untrained_rows_finding(model, tokens, advice="x", source="s") is None
    with torch.no_grad():
        model.get_input_embeddings().weight[7] = 0.0
        model.get_output_embeddings().weight[8] = 0.0
    finding = untrained_rows_finding(model, tokens, advice="start from the chat model", source="https://example.org")
    assert finding is not None and finding.code == CODE and finding.severity == "warning"
    assert finding.fix is not None and finding.fix.reinit_token_ids == (7, 8)
    assert "<turn> (7) in the input embedding" in finding.message and finding.message.endswith("start from the chat model")
    where = untrained_token_rows(model, [7, 8])
    # a tied head is the input embedding: one matrix, listed once
    assert where == ({7: ["input embedding"], 8: ["input embedding"]} if tied else
                     {7: ["input embedding"], 8: ["output head"]})


ROOT = Path(__file__).resolve().parents[1]


def test_every_in_tree_plugin_judges_rows_with_the_core_check() -> None:
    """One threshold, one code, one fix: plugins name their format's tokens, the core judges the rows."""
    import re

    packages = sorted(p.parent for p in ROOT.glob("plugins/*/framework_*/__init__.py"))
    users = [p for p in packages if "untrained_rows_finding" in (p / "checks.py").read_text(encoding="utf-8")]
    assert len(users) >= 4, users
    for package in packages:
        sources = {p.name: p.read_text(encoding="utf-8") for p in package.glob("*.py")}
        own = [name for name, text in sources.items() if re.search(r"vector_norm|\.norm\(dim|_row_norms", text)]
        assert own == [], f"{package.name} measures embedding rows itself in {own}"
