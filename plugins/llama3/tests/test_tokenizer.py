"""The offline tokenizer gives the ids of Meta's own Llama 3 tokenizer (llama-models, tiktoken), per generation."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from framework.errors import UserError
from framework_llama3 import vocab
from framework_llama3.tokenizer import build_llama3_tokenizer, tiktoken_file

TEXTS = [
    "Hello world! It's 2026, isn't it? We'll see.",
    "北京今天天气怎么样？量子纠缠是指两个粒子的状态相互关联。",
    "def f(x):\n    return x * 2\n\n\n  tabs\t\tend \r\n",
    "emoji 👋🎉, accents ÄÖÜ ß, numbers 1234567 3.14159",
]


@pytest.fixture(scope="module")
def meta() -> Any:
    from llama_models.llama3.tokenizer import Tokenizer

    return Tokenizer.get_instance()


@pytest.mark.parametrize("text", TEXTS)
def test_same_ids_as_meta(text: str, tok31: Any, meta: Any) -> None:
    assert tok31(text, add_special_tokens=False)["input_ids"] == meta.encode(text, bos=False, eos=False)
    assert tok31(text)["input_ids"][0] == vocab.BOS_ID  # the Hub files' post-processor prepends BOS
    assert tok31.decode(tok31(text, add_special_tokens=False)["input_ids"]) == text


def test_control_tokens_of_each_generation(tok3: Any, tok31: Any, meta: Any) -> None:
    """3.0 names slot 128008 reserved; 3.1+ names it <|eom_id|>: the same ids, as Meta's tokenizer assigns them."""
    assert len(tok3) == len(tok31) == vocab.VOCAB_SIZE == meta.n_words
    assert tok3.convert_tokens_to_ids("<|reserved_special_token_4|>") == 128_008 == vocab.EOM_ID
    for name in (vocab.BOS, vocab.END_OF_TEXT, vocab.START_HEADER, vocab.END_HEADER, vocab.EOM, vocab.EOT,
                 vocab.PYTHON_TAG, vocab.FINETUNE_PAD):
        assert tok31.convert_tokens_to_ids(name) == meta.special_tokens[name], name
    assert (tok3.eos_token, tok31.eos_token) == (vocab.END_OF_TEXT, vocab.EOT)  # base vs Instruct repos
    assert tok3.model_max_length == 8192 and tok31.model_max_length == 131_072
    chat = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    assert tok31(chat, add_special_tokens=False)["input_ids"] == meta.encode(chat, bos=False, eos=False,
                                                                              allowed_special="all")


def test_unknown_generation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Llama 3 version '3.4'"):
        build_llama3_tokenizer("3.4")


def test_missing_llama_models_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_models", None)
    with pytest.raises(UserError, match=r'pip install "framework-llama3\[demo\]"'):
        tiktoken_file()
