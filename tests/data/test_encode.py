"""The tokenizer speed-ups change no id and no label: checked on the tiny tokenizer and on two
real ones (a tiktoken BPE with 128k tokens and a sentencepiece model with control tokens),
both built offline from files shipped with installed packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import framework.data.pipeline as pipeline
from framework.chat import special_token_strings
from framework.data.encode import BatchEncoder, batch_encoder, special_text_finder
from framework.data.pipeline import prepare_sft

from .conftest import llama3_tokenizer

TEXTS = [
    "Hello world!  Two  spaces,\ttabs\nand new lines\n\n",
    "中文文本，标点。混合 English 123 4567 ",
    "   leading and trailing   ",
    "emoji 🙂🙂 accents é ü ñ and a very long wooooooooooooooooord",
    "",
    "control text <|eot_id|> [INST] <s> inside data",
]


def sentencepiece_tokenizer() -> Any:
    import mistral_common
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    path = Path(mistral_common.__file__).parent / "data" / "mistral_instruct_tokenizer_240323.model.v3"
    proto = import_protobuf().ModelProto()
    proto.ParseFromString(path.read_bytes())
    vocab = {piece.piece: i for i, piece in enumerate(proto.pieces)}
    backend = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=False)
    control = [p.piece for p in proto.pieces if p.type in (2, 3)]
    backend.add_special_tokens([AddedToken(c, special=True, normalized=False) for c in control])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    assert "[INST]" in special_token_strings(tokenizer)
    return tokenizer


@pytest.fixture(scope="module", params=["tiny", "tiktoken", "sentencepiece"])
def any_tokenizer(request, tokenizer):
    builders = {"tiny": lambda: tokenizer, "tiktoken": llama3_tokenizer, "sentencepiece": sentencepiece_tokenizer}
    return builders[request.param]()


def test_batch_encoder_gives_the_tokenizers_ids_and_offsets(any_tokenizer):
    encoder = batch_encoder(any_tokenizer, special_token_strings(any_tokenizer))
    assert isinstance(encoder, BatchEncoder)
    fast = encoder(TEXTS, add_special_tokens=False, return_offsets_mapping=True)
    plain = any_tokenizer(TEXTS, add_special_tokens=False, return_offsets_mapping=True)
    assert fast["input_ids"] == [list(x) for x in plain["input_ids"]]
    assert [[tuple(o) for o in row] for row in fast["offset_mapping"]] == [
        [tuple(o) for o in row] for row in plain["offset_mapping"]
    ]
    split = encoder(TEXTS[-1], add_special_tokens=False, split_special_tokens=True)  # delegated unchanged
    assert (
        split["input_ids"] == any_tokenizer(TEXTS[-1], add_special_tokens=False, split_special_tokens=True)["input_ids"]
    )


def test_pipeline_rows_are_the_same_without_the_speed_ups(any_tokenizer, kit, render, monkeypatch):
    rows = [{"instruction": t or "empty?", "output": f"reply {i}: {t}"} for i, t in enumerate(TEXTS)]
    rows.append({"instruction": "say <|end|> and <|eot_id|> and [INST]", "output": "ok </s>"})
    path = kit.jsonl("a.jsonl", rows)
    fast = prepare_sft(path, any_tokenizer, render, cutoff_len=512, seed=0)
    monkeypatch.setattr(pipeline, "batch_encoder", lambda tok, specials: tok)
    monkeypatch.setattr(pipeline, "special_text_finder", lambda specials: lambda text: True)
    plain = prepare_sft(path, any_tokenizer, render, cutoff_len=512, seed=0)
    assert fast.train["input_ids"] == plain.train["input_ids"]
    assert fast.train["labels"] == plain.train["labels"]
    assert fast.report.special_text == plain.report.special_text >= 1


def test_backend_with_padding_is_not_bypassed(tokenizer):
    from tokenizers import Tokenizer

    copy = type(tokenizer)(tokenizer_object=Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()))
    copy.backend_tokenizer.enable_padding(length=64)
    assert batch_encoder(copy) is copy


def test_special_text_finder():
    find = special_text_finder(["<|end|>", "<|end_of_text|>", "[INST]"])
    assert find("a <|end_of_text|> b") and find("[INST]") and not find("<|end") and not find("plain")
    assert not special_text_finder([])("<|end|>")
