"""``training.cpu_bf16_head``: a frozen head's loss with bf16 GEMM operands on CPUs that multiply
bf16 natively. Chosen from /proc/cpuinfo flags (auto), named with its reason in ``plan``'s loss
line, switched off by one key; the loss stays within 1% of the exact fp32 run over several
AdamW steps, and the off (and non-CPU) path is the exact fp32 one."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

from framework.data.collate import PackingCollator
from framework.errors import ConfigError
from framework.hardware import cpu_bf16_matmul
from framework.hookdata import HardwareFacts
from framework.kernels import choose_loss

from .conftest import RecordingTrainer, tiny_lora_llama

VOCAB = 2053  # not a multiple of the attention kernel's 512-key tiles

AMX = HardwareFacts(device="cpu", bf16_supported=False, cpu_bf16="amx_bf16")
PLAIN_CPU = HardwareFacts(device="cpu", bf16_supported=False)
GPU = HardwareFacts(device="cuda", bf16_supported=True)


def test_the_flag_is_read_from_cpuinfo_amx_first() -> None:
    both = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    assert cpu_bf16_matmul(both) == "amx_bf16"
    assert cpu_bf16_matmul("flags\t: fpu avx512f avx512_bf16 avx512_vnni\n") == "avx512_bf16"
    assert cpu_bf16_matmul("flags\t: fpu avx2 fma\n") is None
    assert cpu_bf16_matmul("") is None


def _config(**training: Any) -> Any:
    from framework.config import RunConfig

    method = training.pop("method", "lora")
    return RunConfig.model_validate({"method": method, "training": training})


def test_auto_picks_bf16_only_on_a_cpu_with_native_bf16_and_says_why() -> None:
    chosen = choose_loss(_config(), hardware=AMX, dtype="fp32")
    assert chosen.chunked and chosen.head_dtype == "bf16"
    line = chosen.line()
    assert "frozen head in bf16" in line and "amx_bf16" in line and "training.cpu_bf16_head=off" in line
    plain = choose_loss(_config(), hardware=PLAIN_CPU, dtype="fp32")
    assert plain.head_dtype == "fp32" and "no native bf16" in plain.reason + plain.head_reason
    assert choose_loss(_config(), hardware=GPU, dtype="bf16").head_dtype is None  # the run's own bf16
    assert "frozen head" not in choose_loss(_config(), hardware=GPU, dtype="bf16").line()
    assert choose_loss(_config(), hardware=AMX, dtype="bf16").head_dtype is None  # a bf16 model already is


def test_off_full_fine_tuning_and_the_model_loss_keep_fp32() -> None:
    off = choose_loss(_config(cpu_bf16_head="off"), hardware=AMX, dtype="fp32")
    assert off.head_dtype == "fp32" and "training.cpu_bf16_head=off" in off.line()
    full = choose_loss(_config(method="full"), hardware=AMX, dtype="fp32")
    assert full.head_dtype == "fp32" and "may train the head" in full.head_reason
    assert choose_loss(_config(chunked_loss=False), hardware=AMX, dtype="fp32").head_dtype is None
    capped = choose_loss(_config(), hardware=AMX, dtype="fp32", raw_config={"final_logit_softcapping": 30.0})
    assert capped.head_dtype == "fp32" and "final_logit_softcapping=30.0" in capped.line()  # Gemma 2: logits path
    forced = choose_loss(_config(cpu_bf16_head="on"), hardware=PLAIN_CPU, dtype="fp32")
    assert forced.head_dtype == "bf16" and "emulates" in forced.head_reason


def test_on_for_an_accelerator_run_is_one_line_error() -> None:
    with pytest.raises(ConfigError) as caught:
        choose_loss(_config(cpu_bf16_head="on"), hardware=GPU, dtype="bf16")
    line = caught.value.line()
    assert "\n" not in line and "training.cpu_bf16_head" in line and "cuda" in line


def test_a_wrong_value_is_refused() -> None:
    with pytest.raises(Exception, match="cpu_bf16_head"):
        _config(cpu_bf16_head="yes please")


def _model() -> Any:
    return tiny_lora_llama(VOCAB, 64, r=8, alpha=16, gaussian=False)


def _dataset() -> Any:
    from datasets import Dataset

    rng = random.Random(0)
    rows: dict[str, list[Any]] = {"input_ids": [], "labels": []}
    for _ in range(8):
        n = rng.randint(20, 120)
        ids = [rng.randrange(1, VOCAB) for _ in range(n)]
        rows["input_ids"].append(ids)
        rows["labels"].append([-100] * (n // 3) + ids[n // 3 :])
    return Dataset.from_dict({key: value * 4 for key, value in rows.items()})  # seen again: the loss falls


def _train(tmp: Path, frozen_head_dtype: Any) -> list[float]:
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp), per_device_train_batch_size=4, max_steps=8, learning_rate=2e-2, optim="adamw_torch",
        lr_scheduler_type="constant", warmup_steps=0, logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=True, seed=0, data_seed=0, remove_unused_columns=False, disable_tqdm=True,
    )
    trainer = RecordingTrainer(model=_model(), args=args, train_dataset=_dataset(), data_collator=PackingCollator(),
                         frozen_head_dtype=frozen_head_dtype)
    trainer.train()
    return trainer.losses


def test_bf16_head_training_stays_within_one_percent_of_fp32(tmp_path: Path) -> None:
    exact = _train(tmp_path / "fp32", None)
    fast = _train(tmp_path / "bf16", torch.bfloat16)
    assert len(exact) == len(fast) == 8
    assert exact[-1] < exact[0] - 0.05  # it learned: later batches see the earlier updates
    assert fast != exact  # the head really ran in bf16
    for a, b in zip(exact, fast):
        assert abs(a - b) / a < 0.01, (exact, fast)


def test_a_trained_head_ignores_the_setting_and_stays_exact() -> None:
    from framework.loss import chunked_causal_lm_loss

    model = _model()
    head = model.get_base_model().get_output_embeddings()
    head.weight.requires_grad_(True)  # e.g. new special-token rows of a tied embedding train
    batch = PackingCollator()([_dataset()[i] for i in range(4)])
    exact = chunked_causal_lm_loss(model, batch)
    asked = chunked_causal_lm_loss(model, batch, frozen_head_dtype=torch.bfloat16)
    assert float(asked) == float(exact)
