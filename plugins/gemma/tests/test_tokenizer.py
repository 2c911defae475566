"""The synthetic tokenizers carry Gemma's special tokens at Gemma's ids and behave like Google's pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework_gemma.tokenizer import CORPUS, build_gemma4_tokenizer, build_gemma_tokenizer
from framework_gemma.vocab import END_OF_TURN_ID, START_OF_TURN_ID


def test_end_of_turn_ids_per_generation(tok12: Any, tok3: Any) -> None:
    """The synthetic vocabularies carry Gemma's real ids (Gemma 1/2: 106/107, Gemma 3: 105/106)."""
    assert [tok12.convert_tokens_to_ids(t) for t in ("<pad>", "<eos>", "<bos>", "<unk>")] == [0, 1, 2, 3]
    assert tok12.convert_tokens_to_ids(["<start_of_turn>", "<end_of_turn>"]) == [106, 107]
    assert tok3.convert_tokens_to_ids(["<start_of_turn>", "<end_of_turn>"]) == [105, 106]


@pytest.mark.parametrize("generation", ["1", "2", "3", "3-multimodal"])
def test_each_generation_gets_its_turn_ids_and_gemmas_encode_behaviour(generation: str) -> None:
    tok = build_gemma_tokenizer(generation)
    key = generation[0]
    assert tok.convert_tokens_to_ids(["<start_of_turn>", "<end_of_turn>"]) == [START_OF_TURN_ID[key],
                                                                               END_OF_TURN_ID[key]]
    assert tok.bos_token == "<bos>" and tok.eos_token == "<eos>" and tok.pad_token == "<pad>"
    ids = tok("x")["input_ids"]
    assert ids[0] == 2  # add_bos_token=True, as in Google's tokenizer_config
    turn = tok("<start_of_turn>user\n", add_special_tokens=False)["input_ids"]
    assert turn[0] == START_OF_TURN_ID[key]  # a control token is one id, never split into characters


def test_every_corpus_text_and_unseen_text_round_trip(tok3: Any) -> None:
    """Byte fallback: text outside the trained merges (a rare CJK character, an emoji) still decodes exactly."""
    for text in [*CORPUS, "鑫 🦜 ümlaut"]:
        ids = tok3(text, add_special_tokens=False)["input_ids"]
        assert tok3.decode(ids) == text
    assert "<0xF0>" in tok3.convert_ids_to_tokens(tok3("🦜", add_special_tokens=False)["input_ids"])


def test_attributes_override_the_defaults() -> None:
    tok = build_gemma_tokenizer("2", bos_token=None, pad_token=None)
    assert tok.bos_token is None and tok.pad_token is None
    assert build_gemma_tokenizer("2").bos_token == "<bos>"  # a fresh tokenizer each call
    assert build_gemma4_tokenizer(add_bos_token=False)("x")["input_ids"][0] != 2


def test_synthetic_gemma4_vocabulary_carries_the_published_control_token_ids(tok4: Any) -> None:
    """Every Gemma 4 id the plugin and the synthetic tokenizer use is the one the reference collection records."""
    from framework_gemma.vocab import GEMMA4_IDS, GEMMA4_NEWLINE_ID

    record = json.loads((Path(__file__).resolve().parent / "oracles" / "2026" / "special_tokens.json")
                        .read_text(encoding="utf-8"))["Gemma4"]
    published = {**{t: int(i) for t, i in record["ids"].items() if "(" not in t},
                 **{t: int(v.rstrip("?")) for t, v in record["unconfirmed"].items()}}
    for name in ("pad", "eos", "bos", "unk", "mask"):
        token, number = record[name].split("=")
        published[token] = int(number)
    assert published.pop("\\n") == GEMMA4_NEWLINE_ID == tok4.convert_tokens_to_ids("\n")
    media = {t for t in published if t.startswith(("<|image", "<|audio", "<|video"))}
    assert {t: i for t, i in published.items() if t not in media} == GEMMA4_IDS
    assert all(tok4.convert_tokens_to_ids(t) == i for t, i in GEMMA4_IDS.items())
    assert record["vocab_size"] == 262144
