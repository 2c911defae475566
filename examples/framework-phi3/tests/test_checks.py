"""Tokenizer and data findings: pad equal to eos, foreign tokenizers, old rstrip files, chat text in data."""

from __future__ import annotations

from framework_phi3 import checks
from framework_phi3.tokenizer import build_tokenizer


def test_pad_equal_to_eos_is_fixed_with_unk() -> None:
    findings = {f.code: f for f in checks.check_tokenizer(build_tokenizer())}
    assert findings["pad-equals-eos"].fix.special_tokens == {"pad_token": "<unk>"}
    assert set(findings) == {"pad-equals-eos"}  # the stand-in has Phi-3's ids and the fixed rstrip


def test_a_foreign_tokenizer_is_an_error() -> None:
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

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
