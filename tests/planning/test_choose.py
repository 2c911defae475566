"""Method choice for an 8B model on common accelerators, and what it says when nothing fits."""

from __future__ import annotations

import pytest

from framework.errors import ConfigError
from framework.planning import parse_size
from framework.planning.choose import choose_method

EIGHT_B = "Meta-Llama-3-8B"


@pytest.mark.parametrize(("gpu", "method"), [("80GB", "full"), ("24GB", "lora"), ("16GB", "qlora")])
def test_8b_follows_the_usual_decision_tree(official, gpu: str, method: str) -> None:
    choice = choose_method(official(EIGHT_B), gpu_bytes=parse_size(gpu), seq_len=2048)
    assert choice.fits
    assert choice.method == method
    assert choice.estimate.total <= parse_size(gpu) * 0.9
    assert choice.micro_batch * choice.grad_accum == 16
    assert method in choice.reason and "fits" in choice.reason


def test_8b_on_24gb_reports_why_full_training_was_skipped(official) -> None:
    choice = choose_method(official(EIGHT_B), gpu_bytes=parse_size("24GB"), seq_len=2048)
    assert "full needs" in choice.reason
    assert [name for name, _, _ in choice.alternatives] == ["full", "lora", "qlora"]
    fits = {name: ok for name, _, ok in choice.alternatives}
    assert fits == {"full": False, "lora": True, "qlora": True}


def test_8b_on_8gb_fits_nothing_and_says_what_would(official) -> None:
    choice = choose_method(official(EIGHT_B), gpu_bytes=parse_size("8GB"), seq_len=2048)
    assert not choice.fits
    assert choice.method == "qlora" and choice.micro_batch == 1 and choice.grad_checkpointing
    assert choice.estimate.total > parse_size("8GB") * 0.9
    assert "smaller model" in choice.reason and "ZeRO-3" in choice.reason and "per accelerator" in choice.reason


def test_checkpointing_is_left_off_when_the_activations_fit(official) -> None:
    """A 3B model with LoRA on 80GB: no recompute needed, larger micro batches instead."""
    choice = choose_method(official("Llama-3.2-3B-Instruct"), gpu_bytes=parse_size("80GB"), seq_len=1024,
                           allowed=("lora",))
    assert choice.fits and not choice.grad_checkpointing and choice.micro_batch >= 4


def test_micro_batch_divides_an_odd_global_batch(official) -> None:
    choice = choose_method(official(EIGHT_B), gpu_bytes=parse_size("24GB"), seq_len=2048, global_batch=12)
    assert choice.micro_batch * choice.grad_accum == 12


def test_allowed_methods_are_tried_in_quality_order(official) -> None:
    choice = choose_method(official(EIGHT_B), gpu_bytes=parse_size("80GB"), seq_len=2048, allowed=("qlora", "lora"))
    assert choice.method == "lora"


def test_unknown_methods_are_refused(official) -> None:
    with pytest.raises(ConfigError):
        choose_method(official(EIGHT_B), gpu_bytes=parse_size("80GB"), seq_len=2048, allowed=("magic",))
    with pytest.raises(ConfigError):
        choose_method(official(EIGHT_B), gpu_bytes=parse_size("80GB"), seq_len=2048, margin=1.5)
