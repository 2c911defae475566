"""Detection, RoPE policy, defaults, LoRA targets and tokenizer checks, as plain function calls."""

from __future__ import annotations

from framework.facts import facts_from_config
from framework.hookdata import HardwareFacts
from framework_phi3 import checks, detect, presets, rope
from framework_phi3.testing import build_tokenizer, tiny_config

CPU = HardwareFacts(device="cpu", bf16_supported=False)


def facts(**overrides):
    return facts_from_config(tiny_config(**overrides), "tiny")


def test_published_4k_config_is_claimed_with_its_facts() -> None:
    config = presets.known_model_configs()["microsoft/Phi-3-mini-4k-instruct"]
    result = detect.match(facts_from_config(config, "microsoft/Phi-3-mini-4k-instruct"))
    assert result.score == 100 and result.variant == "3-4k"
    assert "vocab_size=32064" in result.reasons[1]


def test_old_longrope_names_are_recognised() -> None:
    for name in ("su", "longrope"):
        scaling = {"type": name, "short_factor": [1.0] * 4, "long_factor": [2.0] * 4}
        assert detect.match(facts(max_position_embeddings=131072, rope_scaling=scaling)).variant == "3-128k"


def test_phi4_generations_sharing_the_model_type_are_not_claimed() -> None:
    assert detect.match(facts(vocab_size=100352)) is None
    assert detect.match(facts(vocab_size=200064)) is None


def test_4k_refuses_beyond_its_context_and_warns_about_the_window() -> None:
    four_k = facts()
    assert rope.decide(four_k, 1024).action == "native" and not rope.decide(four_k, 1024).warnings
    within = rope.decide(four_k, 4096)
    assert within.action == "native" and "sliding window of 2047" in within.warnings[0]
    beyond = rope.decide(four_k, 8192)
    assert beyond.action == "refuse" and "128k checkpoint" in beyond.reason


def test_128k_is_native_with_a_warning_past_the_short_factors() -> None:
    long = facts_from_config(tiny_config(long_context=True), "tiny-128k")
    assert rope.decide(long, 4096).action == "native" and not rope.decide(long, 4096).warnings
    decision = rope.decide(long, 32768)
    assert decision.action == "native" and "long factors" in decision.warnings[0]
    assert rope.decide(long, 200_000).action == "refuse"


def test_defaults_per_method() -> None:
    assert presets.default_hyperparameters("lora")["lora.r"] == 16
    assert presets.default_hyperparameters("qlora")["training.learning_rate"] == 2e-4
    assert presets.default_hyperparameters("full")["training.learning_rate"] == 5e-6
    assert "lora.r" not in presets.default_hyperparameters("prefix")


def test_lora_targets_are_the_fused_projections() -> None:
    targets = presets.lora_targets(facts(), train_embeddings=False)
    assert targets.target_modules == ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
    assert presets.lora_targets(facts(), train_embeddings=True).modules_to_save == ("embed_tokens", "lm_head")


def test_load_settings_explain_the_window_and_remote_code() -> None:
    settings = presets.load_settings(facts(), CPU)
    assert not settings.trust_remote_code and "sliding window of 2047" in settings.notes[1]


def test_pad_equal_to_eos_is_fixed_with_unk() -> None:
    findings = {f.code: f for f in checks.check_tokenizer(build_tokenizer())}
    assert findings["pad-equals-eos"].fix.special_tokens == {"pad_token": "<unk>"}


def test_a_foreign_tokenizer_is_an_error() -> None:
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models

    foreign = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, "<unk>")))
    assert [f.code for f in checks.check_tokenizer(foreign)] == ["phi3-chat-tokens-missing"]


def test_old_tokenizer_files_that_strip_after_chat_tokens_are_reported() -> None:
    """Before Microsoft's fix the chat tokens had rstrip=True: the newline after <|end|> vanished."""
    from tokenizers import AddedToken, Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"<unk>": 0, "a": 1}, "<unk>"))
    backend.add_special_tokens([AddedToken(t, special=True, rstrip=t != "<|endoftext|>", normalized=False)
                                for t in ("<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>")])
    old = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<|endoftext|>")
    findings = {f.code: f for f in checks.check_tokenizer(old)}
    assert "<|end|>" in findings["chat-token-rstrip"].message
    assert findings["chat-token-rstrip"].source.endswith("discussions/53")
    assert "phi3-chat-token-ids" in findings  # ids 1..5 instead of 32000..32010
    end = old.convert_tokens_to_ids("<|end|>")
    assert old("<|end|>\n", add_special_tokens=False)["input_ids"] == [end]  # the newline is gone


def test_chat_token_text_in_data_is_reported() -> None:
    assert checks.check_data(["plain", "has <|end|> inside"])[0].message.startswith("1 of 2")
    assert checks.check_data(["plain"]) == []
