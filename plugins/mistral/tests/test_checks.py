"""Tokenizer, weight and data checks: each pitfall is shown to bite without the fix."""

from __future__ import annotations

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ChatOptions
from framework_mistral import checks, plugin


def codes(findings):
    return {f.code for f in findings}


@pytest.fixture
def fresh_v1(build_tokenizer):
    """A private copy of the v1 tokenizer with some attributes changed."""

    def make(**attributes):
        tok = build_tokenizer("tokenizer.model.v1")
        for key, value in attributes.items():
            setattr(tok, key, value)
        return tok

    return make


def test_real_tokenizers_need_only_a_pad(facts_v01, facts_v03, facts_nemo, tok_v1, tok_v3, tok_tekken):
    assert codes(plugin.check_tokenizer(facts_v01, tok_v1)) == {"pad-missing", "bos-added-by-tokenizer"}
    assert codes(plugin.check_tokenizer(facts_v03, tok_v3)) == {"pad-missing", "bos-added-by-tokenizer"}
    # transformers' Tekken conversion sets <pad> (id 11) and adds no BOS itself
    assert plugin.check_tokenizer(facts_nemo, tok_tekken) == []
    for tok in (tok_v1, tok_v3):
        pad = next(f for f in plugin.check_tokenizer(facts_v01, tok) if f.code == "pad-missing")
        assert pad.fix.special_tokens == {"pad_token": "<unk>"}
    assert checks.pad_candidate(tok_tekken) == "<pad>"


def test_pad_equal_to_eos_masks_every_end_of_turn_until_fixed(facts_v01, fresh_v1):
    from transformers import DataCollatorForLanguageModeling

    tok = fresh_v1(pad_token="</s>")
    finding = next(f for f in plugin.check_tokenizer(facts_v01, tok) if f.code == "pad-equals-eos")
    assert finding.severity == "error"
    pad = finding.fix.special_tokens["pad_token"]
    assert pad in tok.get_vocab() and pad not in (tok.eos_token, tok.bos_token)

    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    text = plugin.render_chat(facts_v01, messages, ChatOptions(), tok, None).text
    ids = tok(text, add_special_tokens=False)["input_ids"]
    collate = DataCollatorForLanguageModeling(tok, mlm=False)
    assert tok.eos_token_id not in collate([{"input_ids": ids}])["labels"][0].tolist()  # the pitfall
    tok.pad_token = pad  # the fix
    fixed = DataCollatorForLanguageModeling(tok, mlm=False)([{"input_ids": ids}])["labels"][0].tolist()
    assert tok.eos_token_id in fixed
    assert "pad-equals-eos" not in codes(plugin.check_tokenizer(facts_v01, tok))


def test_bos_that_is_not_one_token_is_an_error(facts_v01, spm_proto):
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import SpmConverter

    proto = spm_proto("tokenizer.model.v1")
    backend = SpmConverter.build_tokenizer_from_spm_proto(proto, {p.piece: i for i, p in enumerate(proto.pieces)},
                                                         legacy=False)
    tok = PreTrainedTokenizerFast(tokenizer_object=backend)
    tok.bos_token, tok.eos_token = "<s>", "</s>"  # attributes only: "<s>" is not a special token here
    assert "bos-not-single" in codes(plugin.check_tokenizer(facts_v01, tok))


def test_config_eos_differing_from_the_tokenizer_adds_stop_tokens(tok_v1):
    facts = facts_from_config({"model_type": "mistral", "vocab_size": 32000, "sliding_window": 4096,
                               "eos_token_id": 32}, "retrained-eos")
    finding = next(f for f in plugin.check_tokenizer(facts, tok_v1) if f.code == "eos-mismatch")
    assert finding.fix.stop_tokens == ("</s>", tok_v1.convert_ids_to_tokens(32))


def test_v3_checkpoint_with_a_v1_tokenizer(facts_v03, facts_v01, tok_v1, tok_v3):
    assert "control-token-split" in codes(plugin.check_tokenizer(facts_v03, tok_v1))
    assert "tokenizer-larger-than-model" in codes(plugin.check_tokenizer(facts_v01, tok_v3))


def test_per_chunk_dummy_prefix_is_reported(facts_v01, facts_v03, tok_v1_legacy, tok_v3_legacy, tok_v1, tok_v3):
    assert "dummy-prefix-per-chunk" in codes(plugin.check_tokenizer(facts_v01, tok_v1_legacy))
    assert "dummy-prefix-per-chunk" in codes(plugin.check_tokenizer(facts_v03, tok_v3_legacy))
    assert "dummy-prefix-per-chunk" not in codes(plugin.check_tokenizer(facts_v03, tok_v3))


def test_left_padding_is_fixed_for_training(facts_v01, fresh_v1):
    finding = next(f for f in plugin.check_tokenizer(facts_v01, fresh_v1(padding_side="left"))
                   if f.code == "padding-side-left")
    assert finding.fix.tokenizer_attributes == {"padding_side": "right"}


def test_untrained_chat_token_rows_are_reinitialised(facts_v03, tok_v3, tiny):
    import torch
    from transformers import MistralForCausalLM

    torch.manual_seed(0)
    model = MistralForCausalLM(tiny.mistral(vocab_size=32768, hidden_size=16, intermediate_size=32,
                                            num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    assert plugin.check_model(facts_v03, model, tok_v3) == []
    with torch.no_grad():
        model.get_input_embeddings().weight[[3, 4]] = 0.0  # [INST], [/INST] never trained
        model.get_output_embeddings().weight[2] = 0.0  # </s> head row
    (finding,) = plugin.check_model(facts_v03, model, tok_v3)
    assert finding.fix.reinit_token_ids == (2, 3, 4)


def test_byte_fallback_heavy_data(facts_v01, facts_nemo, tok_v1, tok_tekken):
    rare = ["龘靐齉齾爩鱻麤龗灪 " * 5, "𠀀𠀁𠀂 ancient characters"]
    (finding,) = plugin.check_data(facts_v01, tok_v1, rare)
    assert finding.code == "byte-fallback-heavy" and "chars/token" in finding.message
    assert plugin.check_data(facts_v01, tok_v1, ["Plain English text, nothing unusual.", "你好，世界"]) == []
    assert plugin.check_data(facts_nemo, tok_tekken, rare) == []  # byte-level BPE: no fallback pieces


def test_double_bos_is_what_the_report_warns_about(facts_v01, tok_v1):
    """The tokenizer adds <s> and the template emits <s>: default tokenization doubles it."""
    assert "bos-added-by-tokenizer" in codes(plugin.check_tokenizer(facts_v01, tok_v1))
    text = plugin.render_chat(facts_v01, [{"role": "user", "content": "Hi"}], ChatOptions(), tok_v1, None).text
    assert tok_v1(text)["input_ids"][:2] == [1, 1]  # the pitfall
    assert tok_v1(text, add_special_tokens=False)["input_ids"].count(1) == 1  # what the core does


def test_tekken_v7_formats_demand_their_system_and_think_tokens(tekken_later, tok_tekken):
    """A Magistral checkpoint loaded with NeMo's tokenizer (no [THINK] at rank 35) splits [THINK]: an error."""
    from framework.facts import facts_from_config

    config = plugin.known_model_configs()["mistralai/Magistral-Small-2507"]
    facts = facts_from_config(config, "mistralai/Magistral-Small-2507")
    facts = facts.model_copy(update={"variant": plugin.match_model(facts).variant})
    assert "control-token-split" not in {f.code for f in plugin.check_tokenizer(facts, tekken_later.tokenizer)}
    wrong = [f for f in plugin.check_tokenizer(facts, tok_tekken) if f.code == "control-token-split"]
    assert wrong and "[THINK], [/THINK]" in wrong[0].message and "[SYSTEM_PROMPT]" not in wrong[0].message
    from framework_mistral import checks

    ids = checks.template_token_ids(facts, tekken_later.tokenizer)
    assert {17, 18, 35, 36} <= set(ids)
