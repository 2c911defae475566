"""Each fast path, switched on and off through the trainer, gives the plain path's loss.

A tiny LoRA model trains two SGD steps on the same samples in the same order: the loss of
step one checks the forward, the loss of step two checks that the gradients (and so the
update) were the same. Paths: padding-free packing vs padded batches (``data.packing``),
the fused chunked labelled-only loss vs the model's own full-logits loss
(``training.chunked_loss``), flash-attention varlen keys in a packed batch (ignored by SDPA),
and ``training.torch_compile`` (dynamo's eager backend: the tracing, not a C++ build).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from framework.data.collate import PackingCollator, PaddedCollator

from .conftest import RecordingTrainer, tiny_lora_llama

PAD = 0
VOCAB = 257


def _model() -> Any:
    return tiny_lora_llama(VOCAB, 32)


def _dataset(count: int = 8, longest: int = 60) -> Any:
    from datasets import Dataset

    rng = random.Random(0)
    rows: dict[str, list[Any]] = {"input_ids": [], "labels": []}
    for _ in range(count):
        n = rng.randint(8, longest)
        ids = [rng.randrange(1, VOCAB) for _ in range(n)]
        prompt = n // 3
        rows["input_ids"].append(ids)
        rows["labels"].append([-100] * prompt + ids[prompt:])
    return Dataset.from_dict(rows)


def _train(tmp: Path, collator: Any, *, chunked: bool, steps: int = 2, **extra: Any) -> tuple[list[float], Any]:
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp), per_device_train_batch_size=4, max_steps=steps, learning_rate=0.5, optim="sgd",
        lr_scheduler_type="constant", warmup_steps=0, logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=True, seed=0, data_seed=0, remove_unused_columns=False, disable_tqdm=True, **extra,
    )
    trainer = RecordingTrainer(model=_model(), args=args, train_dataset=_dataset(), data_collator=collator,
                               chunked_loss=chunked)
    trainer.train()
    return trainer.losses, trainer


def _adapter_moved(trainer: Any) -> bool:
    """LoRA B starts at zero: any non-zero entry means the optimizer stepped with a real gradient."""
    return any(p.abs().sum() > 0 for n, p in trainer.model.named_parameters() if "lora_B" in n)


def test_packing_gives_the_padded_loss_and_update(tmp_path: Path) -> None:
    packed, trainer = _train(tmp_path / "packed", PackingCollator(), chunked=False)
    padded, _ = _train(tmp_path / "padded", PaddedCollator(pad_token_id=PAD), chunked=False)
    assert len(packed) == len(padded) == 2
    assert packed == pytest.approx(padded, abs=2e-5)
    assert _adapter_moved(trainer)  # step two saw a real update, the same one both ways


def test_chunked_loss_gives_the_full_logits_loss_and_update(tmp_path: Path) -> None:
    chunked, trainer = _train(tmp_path / "chunked", PaddedCollator(pad_token_id=PAD), chunked=True)
    full, _ = _train(tmp_path / "full", PaddedCollator(pad_token_id=PAD), chunked=False)
    assert chunked == pytest.approx(full, abs=2e-5)
    assert _adapter_moved(trainer)


def test_both_fast_paths_together_give_the_plain_loss(tmp_path: Path) -> None:
    fast, _ = _train(tmp_path / "fast", PackingCollator(), chunked=True)
    plain, _ = _train(tmp_path / "plain", PaddedCollator(pad_token_id=PAD), chunked=False)
    assert fast == pytest.approx(plain, abs=2e-5)


def test_flash_varlen_keys_pass_through_sdpa_unchanged(tmp_path: Path) -> None:
    with_keys, _ = _train(tmp_path / "keys", PackingCollator(flash_kwargs=True), chunked=True)
    without, _ = _train(tmp_path / "plain", PackingCollator(), chunked=True)
    assert with_keys == pytest.approx(without, abs=1e-6)


def test_torch_compile_compiles_the_decoder_the_chunked_loss_runs(tmp_path: Path) -> None:
    compiled, trainer = _train(tmp_path / "compiled", PackingCollator(), chunked=True, steps=1,
                               torch_compile=True, torch_compile_backend="eager")
    eager, _ = _train(tmp_path / "eager", PackingCollator(), chunked=True, steps=1)
    decoder = trainer.model.get_base_model().get_decoder()
    assert decoder._compiled_call_impl is not None, "the decoder was not compiled"
    assert compiled == pytest.approx(eager, abs=1e-5)


def test_flops_estimate_is_transformers_own_with_the_count_taken_once(tmp_path: Path, monkeypatch: Any) -> None:
    """``FrameworkTrainer.floating_point_ops`` caches the parameter count transformers walks the
    model for on every step; the estimate is the same number."""
    import torch
    from transformers import Trainer, TrainingArguments

    model = _model()
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = RecordingTrainer(model=model, args=args)
    calls: list[int] = []
    counting = model.num_parameters
    monkeypatch.setattr(model, "num_parameters", lambda **kw: calls.append(1) or counting(**kw))
    batch = {"input_ids": torch.ones(3, 17, dtype=torch.long)}
    expected = Trainer.floating_point_ops(trainer, batch)
    calls.clear()
    assert [trainer.floating_point_ops(batch) for _ in range(5)] == [expected] * 5 and expected > 0
    assert len(calls) == 1
    assert trainer.floating_point_ops({"labels": batch["input_ids"]}) == 0


def test_clipping_with_the_listed_parameters_is_transformers_clipping(tmp_path: Path) -> None:
    import torch
    from transformers import Trainer, TrainingArguments

    from framework.training.trainer import all_parameters

    model = _model()
    trainer = RecordingTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to=[],
                                                                   use_cpu=True, max_grad_norm=0.5))
    torch.manual_seed(1)
    trained = [p for p in model.parameters() if p.requires_grad]
    grads = [torch.randn_like(p) * 3 for p in trained]

    def clipped(clip: Any) -> tuple[float, list[Any]]:
        for p, g in zip(trained, grads):
            p.grad = g.clone()
        norm = float(clip(model))
        return norm, [p.grad.clone() for p in trained]

    ours, theirs = clipped(trainer._clip_grad_norm), clipped(lambda m: Trainer._clip_grad_norm(trainer, m))
    assert ours[0] == theirs[0] > 0.5
    assert all(torch.equal(a, b) for a, b in zip(ours[1], theirs[1]))
    assert all_parameters(model) is all_parameters(model) and len(all_parameters(model)) == len(list(model.parameters()))
