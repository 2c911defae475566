"""The converted fast tokenizer gives the ids of Meta's own Llama 4 tokenizer (llama-models, tiktoken)."""

from __future__ import annotations

from typing import Any

import pytest

from framework_llama4 import vocab

TEXTS = [
    "Hello world! It's 2026, isn't it? We'll see.",
    "北京今天天气怎么样？量子纠缠是指两个粒子的状态相互关联。",
    "def f(x):\n    return x * 2\n\n\n  tabs\t\tend \r\n",
    "emoji 👋🎉, accents ÄÖÜ ß, numbers 1234567 3.14159, URL https://example.com/a/b?c=d",
    "日本語のテキストと한국어 텍스트 and Ελληνικά",
]


@pytest.fixture(scope="module")
def meta() -> Any:
    from llama_models.llama4.tokenizer import Tokenizer

    return Tokenizer.get_instance()


@pytest.mark.parametrize("text", TEXTS)
def test_same_ids_as_meta(text: str, tok4: Any, meta: Any) -> None:
    assert tok4(text, add_special_tokens=False)["input_ids"] == meta.encode(text, bos=False, eos=False)
    assert tok4(text)["input_ids"][0] == vocab.BOS_ID  # BOS prepended on encode, like the Llama 3 Hub files
    assert tok4.decode(tok4(text, add_special_tokens=False)["input_ids"]) == text


def test_vocabulary_and_control_tokens(tok4: Any, meta: Any) -> None:
    assert len(tok4) == vocab.VOCAB_SIZE == meta.n_words
    for name, token_id in meta.special_tokens.items():
        assert tok4.convert_tokens_to_ids(name) == token_id
    header = "<|header_start|>user<|header_end|>\n\nHi<|eot|>"
    assert tok4(header, add_special_tokens=False)["input_ids"] == meta.encode(header, bos=False, eos=False,
                                                                              allowed_special="all")


def test_missing_llama_models_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from framework.errors import UserError
    from framework_llama4.tokenizer import tiktoken_file

    monkeypatch.setitem(sys.modules, "llama_models", None)
    with pytest.raises(UserError, match=r'pip install "framework-llama4\[tokenizer\]"'):
        tiktoken_file()
