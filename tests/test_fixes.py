"""Plugin fixes are applied by the core and reported: pad token, stop tokens, embedding re-init."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from framework.errors import ModelError
from framework.fixes import apply_model_fixes, apply_tokenizer_fixes
from framework.hookdata import Finding, Fix


def _tokenizer():  # type: ignore[no-untyped-def]
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("core_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    assert spec.loader
    spec.loader.exec_module(module)
    return module.build_tokenizer()


def test_pad_fix_uses_an_existing_token_without_resizing() -> None:
    tok = _tokenizer()
    tok.pad_token = tok.eos_token
    size = len(tok)
    finding = Finding(code="pad-equals-eos", severity="warning", message="pad is eos",
                      fix=Fix(description="use <unk>", special_tokens={"pad_token": "<unk>"}))
    report = apply_tokenizer_fixes(tok, [finding], ["<|im_end|>"])
    assert tok.pad_token == "<unk>" and len(tok) == size and not report.added_tokens
    assert report.stop_tokens == ["<|im_end|>", "</s>"]
    assert any("already in the vocabulary" in a for a in report.applied)


def test_error_without_fix_stops_the_run() -> None:
    with pytest.raises(ModelError, match="broken-template"):
        apply_tokenizer_fixes(_tokenizer(), [Finding(code="broken-template", severity="error", message="x")], [])


def test_untrained_rows_are_reinitialised_to_the_mean_and_new_tokens_resize() -> None:
    tok = _tokenizer()
    config = AutoConfig.for_model("llama", vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                  num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    ids = tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    with torch.no_grad():
        model.get_input_embeddings().weight[ids] = 0.0
    fixes = apply_tokenizer_fixes(tok, [Finding(code="new-pad", severity="info", message="m",
                                                fix=Fix(description="d", special_tokens={"pad_token": "<newpad>"}))], [])
    finding = Finding(code="untrained-rows", severity="warning", message="rows near zero",
                      fix=Fix(description="reinit", reinit_token_ids=tuple(ids)))
    apply_model_fixes(model, tok, fixes, [finding])
    weight = model.get_input_embeddings().weight
    assert weight.shape[0] == len(tok)
    assert all(weight[i].norm() > 0 for i in ids)
    assert any("re-initialised" in a for a in fixes.applied) and any("resized" in a for a in fixes.applied)
