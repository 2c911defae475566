"""Continued pre-training (``--stage pt``) and progressive sequence length through the normal run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from framework.chat import IGNORE_INDEX
from framework.data.collate import PaddedCollator
from framework.errors import ConfigError
from framework.seq_schedule import ScheduledCollator, scheduled


def test_pretraining_on_packed_documents_lowers_the_loss(train: Any) -> None:
    run = train(method="lora", stage="pt", sets=["training.learning_rate=3e-2", "training.max_steps=6"])
    m = run.metrics
    assert m["steps"] == 6
    assert m["train_loss_last"] < m["train_loss_first"] - 0.1, m["train_history"]
    assert any(s.startswith("  packed ") and "blocks of up to 128" in s for s in run.said)
    assert (run.output_dir / "adapter_config.json").exists()


class _Recorder:
    """The run's collator, noting the longest sample of every batch it builds."""

    def __init__(self, inner: Any, seen: list[int]) -> None:
        self.inner = inner
        self.seen = seen

    def __call__(self, features: Any) -> Any:
        self.seen.append(max(len(f["input_ids"]) for f in features))
        return self.inner(features)


def test_sequence_length_schedule_in_a_run(train: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.training import sft

    seen: list[int] = []
    original = sft.collator
    monkeypatch.setattr(sft, "collator", lambda *a: _Recorder(original(*a), seen))
    run = train(method="lora", sets=["training.max_steps=8", "training.micro_batch_size=2", "training.learning_rate=1e-2"],
                seq_schedule="24:0.5,128:1.0")  # the replies start at token 19: phase 1 trains them
    assert run.metrics["steps"] == 8
    assert "sequence length 128 after step 4" in run.said
    # steps 1-4 (progress < 0.5) train batches cut to 24 tokens; steps 5-8 whole samples. The
    # loader collates one batch ahead, which can only delay a switch, never bring it forward;
    # here every epoch (two batches) starts at a step boundary, so the switch is exact
    assert len(seen) == 8 and all(n <= 24 for n in seen[:4]) and all(n > 24 for n in seen[4:]), seen
    losses = [loss for _, loss in run.metrics["train_history"]]
    assert losses and all(loss > 0 for loss in losses)  # no step trained on nothing


def _state(step: int, max_steps: int = 10) -> Any:
    return SimpleNamespace(global_step=step, max_steps=max_steps)


def _control(evaluate: bool = False) -> Any:
    return SimpleNamespace(should_evaluate=evaluate)


def _sample(prompt: int, reply: int) -> dict[str, list[int]]:
    ids = list(range(10, 10 + prompt + reply))
    return {"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]}


def test_collator_cuts_to_the_phase_length_and_moves_on() -> None:
    said: list[str] = []
    collate = scheduled(PaddedCollator(pad_token_id=0), "4:0.3,8:0.6,16:1.0", said.append)
    assert isinstance(collate, ScheduledCollator)
    batch = [_sample(2, 10), _sample(1, 2)]
    assert collate(batch)["input_ids"].shape == (2, 4)
    for step, width in ((2, 4), (3, 8), (5, 8), (6, 12), (9, 12)):
        collate.on_step_begin(None, _state(step), _control())
        assert collate(batch)["input_ids"].shape[1] == width, step
    assert said == ["sequence length 8 after step 3", "sequence length 16 after step 6"]


def test_samples_without_trained_tokens_after_the_cut_are_left_out() -> None:
    collate = scheduled(PaddedCollator(pad_token_id=0), "4:0.5,64:1.0")
    out = collate([_sample(6, 3), _sample(1, 5)])
    assert out["input_ids"].shape == (1, 4)  # the first sample's reply lies past the cut
    only_prompts = collate([_sample(6, 3)])
    # nothing trained within the cut: the sample goes whole, never a step on nothing (loss 0)
    assert only_prompts["input_ids"].shape == (1, 9)


def test_evaluation_sees_whole_samples() -> None:
    collate = scheduled(PaddedCollator(pad_token_id=0), "4:0.5,64:1.0")
    collate.on_step_begin(None, _state(1), _control())
    collate.on_step_end(None, _state(1), _control(evaluate=True))
    assert collate([_sample(2, 10)])["input_ids"].shape[1] == 12
    collate.on_evaluate(None, _state(1), _control())
    assert collate([_sample(2, 10)])["input_ids"].shape[1] == 4
    collate.on_train_end(None, _state(10), _control())
    assert collate([_sample(2, 10)])["input_ids"].shape[1] == 12


def test_progress_of_a_run_in_several_trainers() -> None:
    collate = scheduled(PaddedCollator(pad_token_id=0), "4:0.5,64:1.0", step_offset=5, total_steps=10)
    collate.on_step_begin(None, _state(0, max_steps=5), _control())
    assert collate.max_length == 64  # step 5 of 10, not step 0 of 5


def test_no_schedule_is_the_plain_collator_and_bad_ones_are_refused() -> None:
    inner = PaddedCollator(pad_token_id=0)
    assert scheduled(inner, None) is inner
    with pytest.raises(ConfigError):
        scheduled(inner, "1024:0.5,512:1.0")
