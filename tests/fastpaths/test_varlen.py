"""Packed batches carry the flash-attention varlen keys transformers' flash path expects."""

from __future__ import annotations

import torch
from transformers.modeling_flash_attention_utils import prepare_fa_kwargs_from_position_ids

from framework.data.collate import PackingCollator

FEATURES = [{"input_ids": [5, 6, 7]}, {"input_ids": [8, 9]}, {"input_ids": [10, 11, 12, 13]}, {"input_ids": [14]}]


def test_boundaries_equal_what_transformers_derives_from_position_ids() -> None:
    batch = PackingCollator(flash_kwargs=True)(FEATURES)
    (cu_q, cu_k), (max_q, max_k) = prepare_fa_kwargs_from_position_ids(batch["position_ids"])
    assert batch["cu_seq_lens_q"].tolist() == cu_q.tolist() == [0, 3, 5, 9, 10]
    assert batch["cu_seq_lens_k"].tolist() == cu_k.tolist()
    assert batch["cu_seq_lens_q"].dtype == torch.int32  # what flash_attn_varlen_func takes
    assert batch["max_length_q"] == batch["max_length_k"] == int(max_q) == int(max_k) == 4
    assert "attention_mask" not in batch  # an attention mask would send transformers down the unpad path


def test_several_rows_flatten_with_padding_as_its_own_sequence() -> None:
    batch = PackingCollator(max_tokens=5, flash_kwargs=True, pad_token_id=0)(FEATURES)
    assert batch["input_ids"].shape == (2, 5)
    # rows [5 6 7 8 9] and [10 11 12 13 14]: transformers flattens q/k/v row after row
    assert batch["cu_seq_lens_q"].tolist() == [0, 3, 5, 9, 10]
    (cu_q, _), _ = prepare_fa_kwargs_from_position_ids(batch["position_ids"])
    assert batch["cu_seq_lens_q"].tolist() == cu_q.tolist()


def test_pretraining_blocks_keep_document_restarts() -> None:
    block = {"input_ids": list(range(1, 9)), "position_ids": [0, 1, 2, 0, 1, 2, 3, 4]}
    batch = PackingCollator(flash_kwargs=True)([block])
    assert batch["cu_seq_lens_q"].tolist() == [0, 3, 8]
    assert batch["max_length_q"] == 5


def test_off_by_default() -> None:
    assert "cu_seq_lens_q" not in PackingCollator()(FEATURES)
