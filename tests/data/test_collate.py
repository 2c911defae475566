"""Collators: packing is exact (same logits as samples run one by one), padding, length grouping,
sequence-length schedules."""

from __future__ import annotations

import pytest
import torch

from framework.chat import IGNORE_INDEX
from framework.data.collate import PackingCollator, PaddedCollator, length_at, length_grouped_indices, seq_schedule
from framework.errors import ConfigError

LENGTHS = (7, 12, 3, 9)


@pytest.fixture(scope="module")
def tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        max_position_embeddings=256,
        attn_implementation="sdpa",
    )
    model = LlamaForCausalLM(config).eval()
    assert model.config._attn_implementation == "sdpa"
    return model


def samples(seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = []
    for n in LENGTHS:
        ids = torch.randint(5, 128, (n,), generator=generator).tolist()
        labels = [IGNORE_INDEX] * (n // 2) + ids[n // 2 :]
        features.append({"input_ids": ids, "labels": labels})
    return features


def test_packing_layout():
    features = samples()
    batch = PackingCollator()(features)
    assert set(batch) == {"input_ids", "labels", "position_ids"}  # no attention_mask
    total = sum(LENGTHS)
    assert batch["input_ids"].shape == (1, total)
    positions = batch["position_ids"][0].tolist()
    expected = [p for n in LENGTHS for p in range(n)]
    assert positions == expected
    starts = [sum(LENGTHS[:i]) for i in range(len(LENGTHS))]
    labels = batch["labels"][0].tolist()
    for i, start in enumerate(starts):
        assert labels[start] == IGNORE_INDEX  # never learnt from the previous sample
        assert labels[start + 1 : start + LENGTHS[i]] == features[i]["labels"][1:]


def test_packing_defaults_labels_and_keeps_given_positions():
    batch = PackingCollator()([{"input_ids": [1, 2, 3], "position_ids": [0, 1, 0]}, {"input_ids": [4, 5]}])
    assert batch["labels"][0].tolist() == [IGNORE_INDEX, 2, 3, IGNORE_INDEX, 5]
    assert batch["position_ids"][0].tolist() == [0, 1, 0, 0, 1]


def test_packing_max_tokens_splits_rows():
    batch = PackingCollator(max_tokens=16, pad_token_id=0)(samples())
    assert batch["input_ids"].shape == (3, 15)  # 7 | 12+3 | 9
    assert batch["labels"][0, 7:].eq(IGNORE_INDEX).all() and batch["input_ids"][0, 7:].eq(0).all()
    assert batch["position_ids"][0].tolist() == list(range(7)) + list(range(8))
    with pytest.raises(ConfigError):
        PackingCollator(max_tokens=0)


@pytest.mark.parametrize("max_tokens", [None, 16])
def test_packed_logits_equal_separate_logits(tiny_model, max_tokens):
    features = samples(1)
    batch = PackingCollator(max_tokens=max_tokens)(features)
    with torch.no_grad():
        packed = tiny_model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        separate = [tiny_model(input_ids=torch.tensor([f["input_ids"]])).logits[0] for f in features]
    row, at = 0, 0
    for feature, alone in zip(features, separate):
        n = len(feature["input_ids"])
        if max_tokens is not None and at + n > max_tokens and at:
            row, at = row + 1, 0
        torch.testing.assert_close(packed[row, at : at + n], alone, atol=1e-4, rtol=1e-4)
        at += n


def test_packed_loss_is_the_token_weighted_mean_of_separate_losses(tiny_model):
    features = samples(2)
    batch = PackingCollator()(features)
    with torch.no_grad():
        packed = tiny_model(**batch, use_cache=False).loss
        total, count = 0.0, 0
        for f in features:
            labels = torch.tensor([f["labels"]])
            n = int((labels[0, 1:] != IGNORE_INDEX).sum())
            total += tiny_model(input_ids=torch.tensor([f["input_ids"]]), labels=labels).loss.item() * n
            count += n
    assert packed.item() == pytest.approx(total / count, abs=1e-4)


def test_padded_collator():
    features = [{"input_ids": [1, 2, 3], "labels": [IGNORE_INDEX, 2, 3]}, {"input_ids": [4], "labels": [4]}]
    batch = PaddedCollator(pad_token_id=9, pad_to_multiple_of=8)(features)
    assert batch["input_ids"].tolist() == [[1, 2, 3] + [9] * 5, [4] + [9] * 7]
    assert batch["attention_mask"].tolist() == [[1, 1, 1] + [0] * 5, [1] + [0] * 7]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 2, 3] + [IGNORE_INDEX] * 5, [4] + [IGNORE_INDEX] * 7]
    with pytest.raises(ConfigError, match="pad token"):
        PaddedCollator(pad_token_id=None)  # type: ignore[arg-type]


def test_length_grouped_indices():
    lengths = [(i * 37) % 101 for i in range(1000)]
    order = length_grouped_indices(lengths, batch_size=4, seed=0, megabatch_mult=10)
    assert sorted(order) == list(range(1000))
    assert order == length_grouped_indices(lengths, batch_size=4, seed=0, megabatch_mult=10)
    assert order != length_grouped_indices(lengths, batch_size=4, seed=1, megabatch_mult=10)
    assert lengths[order[0]] == max(lengths)  # the longest batch runs first
    spread = [
        max(lengths[i] for i in order[k : k + 4]) - min(lengths[i] for i in order[k : k + 4]) for k in range(4, 1000, 4)
    ]
    assert sum(spread) / len(spread) < 10  # batches hold similar lengths (random order: ~70)


def test_seq_schedule():
    schedule = seq_schedule("512:0.3, 1024:0.6,2048:1.0")
    assert schedule == [(512, 0.3), (1024, 0.6), (2048, 1.0)]
    assert [length_at(schedule, p) for p in (0.0, 0.3, 0.59, 0.99, 1.0)] == [512, 1024, 1024, 2048, 2048]


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("512", "not length:fraction"),
        ("512:x", "not length:fraction"),
        ("0:1.0", "positive length"),
        ("512:1.5", "fraction in (0, 1]"),
        ("1024:0.5,512:1.0", "does not increase"),
        ("512:0.5,1024:0.4,2048:1.0", "does not increase"),
        ("512:0.5,1024:0.9", "last item must run until 1.0"),
    ],
)
def test_bad_seq_schedule(spec, text):
    with pytest.raises(ConfigError) as exc:
        seq_schedule(spec)
    assert text in str(exc.value) and "\n" not in str(exc.value) and str(exc.value).startswith("seq_schedule:")
