"""Tokenizer, data and weight findings; each pitfall the plugin fixes fails without its fix."""

from __future__ import annotations

from typing import Any

import pytest

from framework.hookdata import ModelFacts
from framework_qwen import plugin

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"


def facts(variant: str, name: str = "Qwen/Qwen2.5-7B-Instruct") -> ModelFacts:
    return ModelFacts(name_or_path=name, model_type="qwen2", variant=variant)


def codes(findings: list[Any]) -> list[str]:
    return [f.code for f in findings]


def test_instruct_tokenizer_is_clean(tokenizer: Any) -> None:
    for variant in ("1.5", "2", "2.5", "3"):
        assert plugin.check_tokenizer(facts=facts(variant), tokenizer=tokenizer) == []


def test_base_tokenizer_stops_on_im_end(base_tokenizer: Any) -> None:
    """Q1: a base checkpoint's eos is <|endoftext|>; ChatML needs <|im_end|> in the stop list."""
    findings = plugin.check_tokenizer(facts=facts("2.5"), tokenizer=base_tokenizer)
    assert codes(findings) == ["eos-not-end-of-turn"]  # pad = eos = <|endoftext|> is fine: not the stop token
    assert findings[0].fix is not None and findings[0].fix.stop_tokens == (IM_END,)


def test_pad_fix(make_tokenizer: Any) -> None:
    """Q2: pad equal to the end-of-turn token -> <|endoftext|>, in the vocabulary, not a stop token."""
    broken = make_tokenizer(eos_token=IM_END, pad_token=IM_END, model_max_length=4242)  # fresh: the fix mutates it
    findings = plugin.check_tokenizer(facts=facts("3"), tokenizer=broken)
    assert codes(findings) == ["pad-token"]
    fix = findings[0].fix
    assert fix is not None and fix.special_tokens == {"pad_token": ENDOFTEXT}
    pad_id = broken.convert_tokens_to_ids(ENDOFTEXT)
    assert pad_id not in (broken.eos_token_id, broken.convert_tokens_to_ids(IM_END))
    for key, value in fix.special_tokens.items():
        setattr(broken, key, value)
    assert plugin.check_tokenizer(facts=facts("3"), tokenizer=broken) == []


def small_tokenizer(**attributes: Any) -> Any:
    """A few-token stand-in for tokenizers this plugin must reject or warn about (BOS, no ChatML)."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate("abcdefghij")}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="a"))
    backend.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    specials = attributes.pop("specials")
    backend.add_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    bos = attributes.get("bos_token")
    if attributes.pop("adds_bos", False):
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, backend.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=backend, **attributes)


def test_missing_pad_fix() -> None:
    no_pad = small_tokenizer(specials=[ENDOFTEXT, IM_START, IM_END], eos_token=IM_END)
    findings = plugin.check_tokenizer(facts=facts("2.5"), tokenizer=no_pad)
    assert codes(findings) == ["pad-token"]
    assert findings[0].fix is not None and findings[0].fix.special_tokens == {"pad_token": ENDOFTEXT}
    without_candidate = small_tokenizer(specials=[IM_START, IM_END], eos_token=IM_END)
    assert codes(plugin.check_tokenizer(facts=facts("2.5"), tokenizer=without_candidate)) == ["no-pad-candidate"]


def test_bos_added_is_reported() -> None:
    """Q9: Qwen has no BOS; a tokenizer that adds one (or uses <|im_start|> as BOS) is reported."""
    chatml = [ENDOFTEXT, IM_START, IM_END]
    adds = small_tokenizer(specials=chatml + ["<s>"], bos_token="<s>", adds_bos=True, eos_token=IM_END,
                           pad_token=ENDOFTEXT)
    assert codes(plugin.check_tokenizer(facts=facts("2.5"), tokenizer=adds)) == ["tokenizer-adds-bos"]
    im_start_bos = small_tokenizer(specials=chatml, bos_token=IM_START, eos_token=IM_END, pad_token=ENDOFTEXT)
    assert codes(plugin.check_tokenizer(facts=facts("2.5"), tokenizer=im_start_bos)) == ["bos-is-im-start"]


def test_missing_chatml_tokens_stop_the_run() -> None:
    other = small_tokenizer(specials=["<s>", "</s>"], eos_token="</s>", pad_token="<s>")
    findings = plugin.check_tokenizer(facts=facts("2.5"), tokenizer=other)
    assert codes(findings) == ["missing-chat-tokens"] and findings[0].severity == "error"
    qwen25 = small_tokenizer(specials=[ENDOFTEXT, IM_START, IM_END], eos_token=IM_END, pad_token=ENDOFTEXT)
    assert plugin.check_tokenizer(facts=facts("2.5"), tokenizer=qwen25) == []
    assert "<think>" in plugin.check_tokenizer(facts=facts("3"), tokenizer=qwen25)[0].message


@pytest.mark.parametrize(("template_name", "variant", "expected"), [
    ("qwen2.5-7b-instruct.jinja", "2.5", []),
    ("qwen2.5-7b-instruct.jinja", "2", ["template-variant-mismatch"]),
    ("qwen2-7b-instruct.jinja", "1.5", []),
    ("qwen2-7b-instruct.jinja", "2.5", ["template-variant-mismatch"]),
    ("qwen3-1.7b.rev-openvino.jinja", "3", []),
    ("qwen3-0.6b.rev-llamacpp.jinja", "2", ["template-variant-mismatch"]),
    ("meta-llama-3-8b-instruct.jinja", "2.5", ["template-not-chatml"]),
])
def test_template_of_another_generation(template: Any, template_name: str, variant: str, expected: list[str]) -> None:
    carrying = small_tokenizer(specials=[ENDOFTEXT, IM_START, IM_END, "<think>", "</think>"], eos_token=IM_END,
                               pad_token=ENDOFTEXT, chat_template=template(template_name))
    assert codes(plugin.check_tokenizer(facts=facts(variant), tokenizer=carrying)) == expected


def test_data_findings() -> None:
    plain, thought = ["hello", "你好"], ["<think>\nx\n</think>\n\ny", "z"]
    assert codes(plugin.check_data(facts=facts("2.5"), tokenizer=None, texts=plain)) == []
    assert codes(plugin.check_data(facts=facts("2.5"), tokenizer=None, texts=thought)) == ["think-tags-as-text"]
    assert codes(plugin.check_data(facts=facts("3"), tokenizer=None, texts=plain)) == ["no-reasoning-in-data"]
    assert codes(plugin.check_data(facts=facts("3"), tokenizer=None, texts=thought)) == ["reasoning-last-turn-only"]
    assert plugin.check_data(facts=facts("3"), tokenizer=None, texts=[]) == []


@pytest.fixture(scope="module")
def chat_vocab_model(tiny_dense: Any) -> Any:
    """A tiny untied Qwen2 whose embedding covers the real special-token ids."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(tiny_dense("qwen2", vocab_size=151680, hidden_size=16,
                                                       intermediate_size=32, num_hidden_layers=1))


def test_untrained_chat_rows_are_reinitialised(chat_vocab_model: Any, tokenizer: Any) -> None:
    """L4/Q3: zero rows of <|im_start|>/<|im_end|> in a base checkpoint -> re-initialise them."""
    import torch

    model = chat_vocab_model
    assert plugin.check_model(facts=facts("2.5"), model=model, tokenizer=tokenizer) == []
    ids = [tokenizer.convert_tokens_to_ids(t) for t in (IM_START, IM_END)]
    saved = model.get_input_embeddings().weight[ids].clone(), model.get_output_embeddings().weight[ids].clone()
    try:
        with torch.no_grad():
            model.get_input_embeddings().weight[ids] = 0.0
            model.get_output_embeddings().weight[ids[1]] = 0.0
        findings = plugin.check_model(facts=facts("2.5"), model=model, tokenizer=tokenizer)
        assert codes(findings) == ["untrained-format-tokens"]  # the core check (framework.embedding_rows)
        assert findings[0].fix is not None and findings[0].fix.reinit_token_ids == tuple(ids)
        assert "output head" in findings[0].message
        with torch.no_grad():  # the fix as the core applies it: the mean of the trained rows
            for matrix in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
                matrix[list(findings[0].fix.reinit_token_ids)] = matrix[:151643].mean(dim=0)
        assert plugin.check_model(facts=facts("2.5"), model=model, tokenizer=tokenizer) == []
        with torch.no_grad():
            model.get_input_embeddings().weight[ids] = 0.0
        think = [tokenizer.convert_tokens_to_ids(t) for t in ("<think>", "</think>")]
        with torch.no_grad():
            model.get_input_embeddings().weight[think[0]] = 0.0
        qwen3 = plugin.check_model(facts=facts("3"), model=model, tokenizer=tokenizer)
        assert qwen3[0].fix is not None and qwen3[0].fix.reinit_token_ids == (*ids, think[0])
    finally:
        with torch.no_grad():
            model.get_input_embeddings().weight[ids] = saved[0]
            model.get_output_embeddings().weight[ids] = saved[1]


def test_v1_base_is_told_to_train_embeddings(chat_vocab_model: Any, tokenizer: Any) -> None:
    base = plugin.check_model(facts=facts("1", "Qwen/Qwen-7B"), model=chat_vocab_model, tokenizer=tokenizer)
    assert codes(base) == ["v1-base-chat-tokens"]
    chat = plugin.check_model(facts=facts("1", "Qwen/Qwen-7B-Chat"), model=chat_vocab_model, tokenizer=tokenizer)
    assert chat == []


def test_linear_attention_kernel_finding() -> None:
    """Qwen3.5 on CUDA without flash-linear-attention / causal-conv1d: a warning with the slowdown and the
    install line; nothing on CPU (the fallback is the only path there) or with the kernels."""
    from framework_qwen import checks

    [finding] = checks.kernel_findings("cuda", have_kernels=False)
    assert finding.code == "linear-attention-slow-path" and finding.severity == "warning"
    assert "1.7x" in finding.message and "pip install flash-linear-attention causal-conv1d" in finding.message
    assert checks.kernel_findings("cuda", have_kernels=True) == []
    assert checks.kernel_findings("cpu", have_kernels=False) == []


def test_model_findings_of_a_tiny_qwen35_on_cpu(tokenizer: Any) -> None:
    from transformers import AutoModelForCausalLM, Qwen3_5TextConfig

    config = Qwen3_5TextConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=8, linear_num_key_heads=2,
                               linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=8)
    model = AutoModelForCausalLM.from_config(config)
    qwen35 = ModelFacts(name_or_path="tiny", model_type="qwen3_5_text", variant="3.5")
    assert "linear-attention-slow-path" not in codes(plugin.check_model(facts=qwen35, model=model,
                                                                        tokenizer=tokenizer))
