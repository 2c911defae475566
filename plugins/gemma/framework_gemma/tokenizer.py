"""Synthetic Gemma tokenizers, built offline for tests and tiny models.

No real Gemma tokenizer can be obtained offline: Google's files are gated on the Hub, and no PyPI
package ships them (the ``gemma`` 4.0.1 package only points to a GCS path; oracles/2026/SOURCES).
So the tokenizers here carry a **synthetic vocabulary with Gemma's special tokens at Gemma's ids**:

* Gemma 1-3: ``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2, ``<unk>`` 3, ``<mask>`` 4, fillers ``<unusedN>``,
  then ``<start_of_turn>`` / ``<end_of_turn>`` at 106 / 107 (Gemma 1 and 2) or 105 / 106 (Gemma 3);
* Gemma 4: every control token at its published id (``vocab.GEMMA4_IDS``: ``<|turn>`` 105,
  ``<turn|>`` 106, ``<|tool_call>`` 48, ...), fillers between, and "\\n" as the ordinary token 107;

then the 256 byte-fallback tokens and a BPE vocabulary trained here on English, Chinese, emoji and
code. The pipeline around that vocabulary is transformers' own ``GemmaTokenizer`` (BPE with byte
fallback, spaces replaced by "▁", no prefix space), with ``add_bos_token=True`` as in Google's
tokenizer_config. Token-level equality with render-then-tokenize of an official template is
therefore still a real check of the plugin's segments; only the ordinary text's ids are not
Google's.

Heavy libraries (tokenizers, transformers) are imported inside the functions.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from framework_gemma.vocab import END_OF_TURN, GEMMA4_IDS, GEMMA4_NEWLINE_ID, START_OF_TURN, START_OF_TURN_ID

#: The text the synthetic BPE is trained on: English, Chinese, emoji, code, whitespace and quotes.
CORPUS = [
    "user model Hello world! How are you today? I am fine, thank you.",
    "The quick brown fox jumps over the lazy dog.\n\nA new paragraph starts here.",
    "You are a helpful assistant. Answer briefly and precisely.",
    "Name a colour. Blue. Another? Red. What is 2+2? It is 4.",
    "量子纠缠是指两个粒子的状态相互关联，即使相距遥远。请用中文回答下面的问题。",
    "你好 👋 有什么可以帮你？😊 🎉 谢谢！",
    "def f(x: int) -> int:\n    return x * 2\n\nprint(f(21))\n",
    "```python\nimport torch\nfor i in range(10):\n\tprint(i)\n```",
    "   leading and trailing spaces   \n\t tabs and\r\nwindows lines\n",
    "'s 'll ''' \"quotes\" 12345 3.14159 <tag> [brackets] {braces}",
]


def _reserved(start_of_turn_id: int) -> list[str]:
    head = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "[multimodal]"]
    fillers = [f"<unused{i}>" for i in range(start_of_turn_id - len(head))]
    return [*head, *fillers, START_OF_TURN, END_OF_TURN]


@functools.lru_cache(maxsize=None)
def _trained_vocab(generation: str) -> tuple[str, str]:
    """(vocab json, merges json) of a BPE trained on CORPUS with Gemma's reserved ids first."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    reserved = _reserved(START_OF_TURN_ID[generation])
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous", invert=False)
    trainer = BpeTrainer(vocab_size=2000, special_tokens=reserved + byte_tokens, show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer)
    model = json.loads(tok.to_str())["model"]
    return json.dumps(model["vocab"]), json.dumps(model["merges"])


def _reserved_gemma4() -> list[str]:
    """Gemma 4's first 108 ids: the control tokens at their real ids, unused fillers between, "\\n" at 107."""
    by_id = {i: t for t, i in GEMMA4_IDS.items()}
    by_id[GEMMA4_NEWLINE_ID] = "\n"
    return [by_id.get(i, f"<unused{i}>") for i in range(GEMMA4_NEWLINE_ID + 1)]


@functools.lru_cache(maxsize=None)
def _trained_vocab_gemma4() -> tuple[str, str]:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous", invert=False)
    trainer = BpeTrainer(vocab_size=2000, special_tokens=_reserved_gemma4() + byte_tokens, show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer)
    model = json.loads(tok.to_str())["model"]
    return json.dumps(model["vocab"]), json.dumps(model["merges"])


def build_gemma4_tokenizer(**attributes: Any) -> Any:
    """A synthetic Gemma 4 tokenizer: Gemma 4's control tokens at their real ids (no Gemma 4 tokenizer file ships
    in any package: oracles/2026/SOURCES), the rest a BPE trained here, in transformers' GemmaTokenizer pipeline."""
    from transformers.models.gemma.tokenization_gemma import GemmaTokenizer

    vocab, merges = _trained_vocab_gemma4()
    tok = GemmaTokenizer(vocab=json.loads(vocab), merges=[tuple(m) for m in json.loads(merges)])
    controls = [t for t in GEMMA4_IDS if t not in ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")]
    tok.add_special_tokens({"additional_special_tokens": controls})
    tok.add_bos_token = True
    for name, value in attributes.items():
        setattr(tok, name, value)
    return tok


def build_gemma_tokenizer(generation: str = "3", **attributes: Any) -> Any:
    """A fresh synthetic Gemma 1-3 tokenizer (see the module docstring); attributes override defaults.

    ``generation`` is "1", "2" or "3" (any "3..." variant, e.g. "3-multimodal", takes Gemma 3's ids).
    """
    from transformers.models.gemma.tokenization_gemma import GemmaTokenizer

    vocab, merges = _trained_vocab("3" if generation.startswith("3") else generation)
    tok = GemmaTokenizer(vocab=json.loads(vocab), merges=[tuple(m) for m in json.loads(merges)])
    tok.add_special_tokens({"additional_special_tokens": [START_OF_TURN, END_OF_TURN]})
    tok.add_bos_token = True
    for name, value in attributes.items():
        setattr(tok, name, value)
    return tok
