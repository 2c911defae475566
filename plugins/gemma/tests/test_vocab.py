"""The vocabulary facts are the published ones: ids in Google's configs, token names in Google's templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework_gemma import vocab

ORACLES = Path(__file__).resolve().parent / "oracles"
GEMMA4_TEMPLATES = ("google-gemma-4-E2B-it.jinja", "google-gemma-4-31B-it.jinja")


@pytest.mark.parametrize("name", ["gemma-2b", "gemma-2-2b-it", "gemma-2-9b-it", "gemma-3-1b-it"])
def test_fixed_ids_and_vocabulary_sizes_are_those_of_the_official_configs(name: str, official_config: Any) -> None:
    config = official_config(name)
    assert (config["pad_token_id"], config["bos_token_id"]) == (vocab.PAD_ID, vocab.BOS_ID)
    eos = config["eos_token_id"]
    assert (eos[0] if isinstance(eos, list) else eos) == vocab.EOS_ID
    sizes = vocab.VOCAB_GEMMA_3 if name.startswith("gemma-3") else (vocab.VOCAB_GEMMA_1_2,)
    assert config["vocab_size"] in sizes


@pytest.mark.parametrize(("name", "generation"), [("gemma-2-2b-it", "2"), ("gemma-3-1b-it", "3")])
def test_end_of_turn_ids_are_the_instruct_configs_second_eos(name: str, generation: str, official_config: Any) -> None:
    """Instruct configs list <end_of_turn> beside <eos>; <start_of_turn> sits right before it."""
    assert official_config(name)["eos_token_id"] == [vocab.EOS_ID, vocab.END_OF_TURN_ID[generation]]
    assert vocab.START_OF_TURN_ID[generation] == vocab.END_OF_TURN_ID[generation] - 1


def test_gemma_1_to_3_turn_tokens_are_spelled_as_in_the_official_templates(official_template: Any) -> None:
    for generation in ("1", "2", "3"):
        template = official_template(generation)
        assert vocab.START_OF_TURN in template and vocab.END_OF_TURN in template
        assert "bos_token" in template and vocab.START_OF_TURN + "model" in template


@pytest.mark.parametrize("template", GEMMA4_TEMPLATES)
def test_gemma4_control_tokens_are_spelled_as_in_both_official_templates(template: str) -> None:
    text = (ORACLES / "2026" / "templates" / template).read_text(encoding="utf-8")
    missing = [t for t in vocab.G4_CONTROL_TOKENS if t not in text]
    assert not missing
    assert "<start_of_turn>" not in text  # Gemma 4 renamed the turn tokens


def test_gemma4_control_tokens_all_have_published_ids() -> None:
    base = {vocab.PAD, vocab.EOS, vocab.BOS, vocab.UNK, "<mask>"}
    assert set(vocab.G4_CONTROL_TOKENS) == set(vocab.GEMMA4_IDS) - base
    assert [vocab.GEMMA4_IDS[t] for t in (vocab.PAD, vocab.EOS, vocab.BOS, vocab.UNK)] == [
        vocab.PAD_ID, vocab.EOS_ID, vocab.BOS_ID, vocab.UNK_ID]
    assert vocab.GEMMA4_IDS[vocab.G4_TURN_CLOSE] + 1 == vocab.GEMMA4_NEWLINE_ID
    assert len(set(vocab.GEMMA4_IDS.values())) == len(vocab.GEMMA4_IDS)
    assert set(vocab.G4_FORMAT_TOKENS) <= set(vocab.GEMMA4_IDS)


def test_gemma4_vocabulary_size_is_the_recorded_one_and_transformers_default() -> None:
    record = json.loads((ORACLES / "2026" / "special_tokens.json").read_text(encoding="utf-8"))["Gemma4"]
    defaults = json.loads((ORACLES / "2026" / "configs" / "transformers-5.23.0-defaults.gemma4.json")
                          .read_text(encoding="utf-8"))["text_config"]
    assert record["vocab_size"] == defaults["vocab_size"] == vocab.VOCAB_GEMMA_4
    assert (defaults["pad_token_id"], defaults["eos_token_id"], defaults["bos_token_id"]) == (
        vocab.PAD_ID, vocab.EOS_ID, vocab.BOS_ID)
