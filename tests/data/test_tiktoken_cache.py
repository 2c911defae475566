"""The tiktoken form kept on disk (``framework.data.tiktoken_cache``): a second run reads it instead
of deriving it, gets the same encoder, and a changed tokenizer or a broken file is derived again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import framework.data.tiktoken_encoder as fast
from framework.data import tiktoken_cache

from .conftest import llama3_tokenizer


@pytest.fixture(autouse=True)
def fresh_memory_cache(monkeypatch: Any) -> None:
    """Each test starts as a new process would: nothing built in memory."""
    monkeypatch.setattr(fast, "_CACHE", {})


def _derivations(monkeypatch: Any) -> list[int]:
    calls: list[int] = []
    real = fast.derive_form
    monkeypatch.setattr(fast, "derive_form", lambda text: calls.append(1) or real(text))
    return calls


def test_the_second_build_reads_the_file_and_encodes_the_same(tmp_path: Path, monkeypatch: Any) -> None:
    tokenizer = llama3_tokenizer()
    calls = _derivations(monkeypatch)
    first = fast.fast_vocab(tokenizer, tmp_path)
    assert isinstance(first, fast.FastVocab) and calls == [1]
    assert list((tmp_path / "tiktoken").glob("*.npz"))
    monkeypatch.setattr(fast, "_CACHE", {})
    second = fast.fast_vocab(tokenizer, tmp_path)
    assert isinstance(second, fast.FastVocab) and calls == [1]  # read, not derived
    text = "Grüße 你好 <|eot_id|> code:\n    x = 1  "
    allowed = {"<|eot_id|>"}
    assert (second.encoding.encode(text, allowed_special=allowed)
            == first.encoding.encode(text, allowed_special=allowed)
            == tokenizer(text, add_special_tokens=False)["input_ids"])
    assert (second.token_bytes == first.token_bytes).all() and second.specials == first.specials
    assert second.nfc == first.nfc


def test_a_reason_is_kept_too(tmp_path: Path) -> None:
    tiktoken_cache.save(tmp_path, "{}", "the merges are not every split")
    assert tiktoken_cache.load(tmp_path, "{}") == "the merges are not every split"
    assert tiktoken_cache.load(tmp_path, "{ }") is None  # another tokenizer, another file


def test_a_broken_file_is_derived_again_and_replaced(tmp_path: Path, monkeypatch: Any) -> None:
    tokenizer = llama3_tokenizer()
    calls = _derivations(monkeypatch)
    fast.fast_vocab(tokenizer, tmp_path)
    (stored,) = (tmp_path / "tiktoken").glob("*.npz")
    stored.write_bytes(b"not an npz file")
    monkeypatch.setattr(fast, "_CACHE", {})
    assert isinstance(fast.fast_vocab(tokenizer, tmp_path), fast.FastVocab) and calls == [1, 1]
    monkeypatch.setattr(fast, "_CACHE", {})
    fast.fast_vocab(tokenizer, tmp_path)
    assert calls == [1, 1]  # the rewritten file reads


def test_an_unwritable_cache_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    tiktoken_cache.save(blocker, "{}", "a reason")  # its 'directory' is a file: nothing written, no error
    assert tiktoken_cache.load(blocker, "{}") is None


def test_a_given_fingerprint_finds_the_file_without_serializing_the_tokenizer(tmp_path: Path, monkeypatch: Any) -> None:
    """The data cache has computed the tokenizer's fingerprint already; passing it on reads the
    kept form without serializing the tokenizer again (neither a fingerprint nor a derivation)."""
    from framework.data.cache import tokenizer_fingerprint

    tokenizer = llama3_tokenizer()
    fingerprint = tokenizer_fingerprint(tokenizer)
    fast.fast_vocab(tokenizer, tmp_path)  # derived and kept, under the same fingerprint
    monkeypatch.setattr(fast, "_CACHE", {})
    calls = _derivations(monkeypatch)
    monkeypatch.setattr(fast, "tokenizer_fingerprint", lambda _: pytest.fail("fingerprinted again"))
    assert isinstance(fast.fast_vocab(tokenizer, tmp_path, fingerprint), fast.FastVocab) and calls == []
