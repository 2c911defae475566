"""The CPU-runnable halves of the GPU paths: each test failed before its fix.

The device-only half of each decision is computed from ``HardwareFacts``; here a pretended
H100 drives the real loading code, and what does not need a GPU (clipping switched off, the
QLoRA loss under the Trainer's bf16 autocast, 4-bit parameter counts) runs for real.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from framework.hookdata import HardwareFacts

H100 = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.8.3", gpu_name="NVIDIA H100 80GB HBM3",
                     gpu_memory_bytes=80 * 2**30, gpu_count=1)


def test_max_grad_norm_zero_disables_clipping_and_trains(train: Callable[..., Any]) -> None:
    """``training.max_grad_norm=0`` ("0 disables") used to reach the Trainer as None: TypeError."""
    trained = train(method="lora", sets=["training.max_grad_norm=0"])
    assert trained.metrics["steps"] == 4 and trained.metrics["train_loss_last"] is not None


def test_max_grad_norm_zero_reaches_the_trainer_as_zero(run_plan: Callable[..., Any], tmp_path: Path) -> None:
    from framework.training.arguments import training_arguments

    plan = run_plan(method="lora", sets=["training.max_grad_norm=0"])
    assert training_arguments(plan, tmp_path, has_eval=False).max_grad_norm == 0


def _recorded_moves(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ``Module.to(device)`` target, recorded instead of moved (no GPU here)."""
    moves: list[Any] = []

    def to(self: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.nn.Module:
        moves.append(args[0] if args else kwargs.get("device"))
        return self

    monkeypatch.setattr(torch.nn.Module, "to", to)
    return moves


def test_model_is_on_the_gpu_before_the_demo_answer(run_plan: Callable[..., Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded without a device map, the model stayed on the CPU for the demo's first ``generate``,
    where the llama3 demo's flash-attention has no kernel."""
    from framework.training.inputs import fixed_tokenizer
    from framework.training.model import load_for_training

    plan = run_plan(method="lora")
    on_h100 = dataclasses.replace(plan, hardware=H100)
    tokenizer, fixes = fixed_tokenizer(on_h100)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    real_to = torch.nn.Module.to
    moves = _recorded_moves(monkeypatch)
    model = load_for_training(on_h100, tokenizer, fixes)
    monkeypatch.setattr(torch.nn.Module, "to", real_to)
    assert moves[-1] == "cuda:0"
    assert next(model.parameters()).device.type == "cpu"  # recorded, not moved


def test_no_demo_answer_from_sharded_weights() -> None:
    from types import SimpleNamespace

    from framework.training.model import before_answer

    plan: Any = SimpleNamespace(demo=object(), distributed=SimpleNamespace(sharded=True))
    assert before_answer(object(), object(), plan, []) is None  # never reaches generate


def test_liger_fused_loss_is_applied_where_the_chunked_loss_cannot_run(run_plan: Callable[..., Any],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under DDP the trainer drops the chunked loss; Liger's fused loss used to follow the
    configured ``chunked_loss`` instead, so neither ran."""
    import framework.kernels as kernels
    from framework.training.inputs import fixed_tokenizer
    from framework.training.model import load_for_training

    monkeypatch.setattr("framework.extras.Extra.missing", lambda self: [])  # planned as if liger were installed
    plan = run_plan(method="lora", sets=["training.liger_kernels=true"])
    plan.loss = kernels.choose_loss(plan.config, strategy="ddp", world_size=2)
    applied: list[bool] = []
    monkeypatch.setattr(kernels, "apply_liger", lambda model, *, device, fused_loss: applied.append(fused_loss) or "")
    tokenizer, fixes = fixed_tokenizer(plan)
    load_for_training(plan, tokenizer, fixes)
    assert applied == [True]


def _qlora(model_dir: Path, quant_storage: str | None = None) -> Any:
    from framework.config import RunConfig
    from framework.methods import load_model

    config = RunConfig.model_validate({"method": "qlora", "lora": {"dropout": 0.0}})
    return load_model(model_dir, config, dtype="bf16", attn="sdpa", rope=None, trust_remote_code=False,
                      quant_storage=quant_storage), config


@pytest.mark.parametrize("storage", [None, "bf16"])
def test_qlora_parameter_counts_match_peft_for_any_storage(wide_model_dir: Path, storage: str | None) -> None:
    """With bf16 quant storage (FSDP/ZeRO-3) each stored element holds four 4-bit weights, not two."""
    from transformers import AutoModelForCausalLM

    from framework.hookdata import LoraTargets
    from framework.methods import apply_method, count_parameters

    full = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(wide_model_dir).parameters())
    model, config = _qlora(wide_model_dir, storage)
    assert count_parameters(model).total == full
    peft_model = apply_method(model, config, LoraTargets(target_modules="all-linear"))
    counted = count_parameters(peft_model)
    assert (counted.trainable, counted.total) == peft_model.get_nb_trainable_parameters()


def test_qlora_chunked_loss_runs_under_the_trainers_autocast(wide_model_dir: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """QLoRA's head is upcast to fp32; the chunked loss called it outside the autocast that
    accelerate wraps around the model's forward, so the vocabulary GEMM ran in fp32. Under the
    same bf16 autocast (CPU has one too) it must give the model's own loss."""
    from transformers import TrainingArguments

    import framework.loss as loss_module
    from framework.data.collate import PackingCollator
    from framework.hookdata import LoraTargets
    from framework.methods import apply_method
    from framework.training.trainer import FrameworkTrainer

    model, config = _qlora(wide_model_dir)
    model = apply_method(model, config, LoraTargets(target_modules="all-linear"))
    head = loss_module.causal_lm(model).get_output_embeddings().weight
    assert head.dtype == torch.float32  # prepare_model_for_kbit_training upcast it
    args = TrainingArguments(output_dir=str(tmp_path), bf16=True, use_cpu=True, report_to="none",
                             remove_unused_columns=False, per_device_train_batch_size=2)
    trainer = FrameworkTrainer(model=model, args=args, chunked_loss=True)
    seen: list[tuple[bool, Any]] = []
    real_apply = loss_module.LinearCrossEntropy.apply

    def spy(*values: Any) -> Any:
        seen.append((torch.is_autocast_enabled("cpu"), values[-1]))
        return real_apply(*values)

    monkeypatch.setattr(loss_module.LinearCrossEntropy, "apply", spy)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for n in (23, 31, 17):
        ids = torch.randint(5, 500, (n,), generator=generator).tolist()
        rows.append({"input_ids": ids, "labels": [-100] * (n // 3) + ids[n // 3:]})
    batch = PackingCollator()(rows)
    model.eval()
    with torch.no_grad():
        chunked = trainer.compute_loss(model, batch)
        with trainer.accelerator.autocast():
            own = model(**batch).loss
    assert seen == [(True, torch.bfloat16)]
    assert float(chunked) == pytest.approx(float(own), rel=2e-3)
