"""Device decisions made from ``HardwareFacts``, checked on CPU for a pretended H100 with flash-attn.

No GPU path can run here, so every choice that differs on a GPU is a function of the detected
facts, and these tests hand it the facts of an H100: which attention kernel for which dtype,
model class and head size (and the reason ``plan`` prints), where the model goes before the
demo's first answer, TF32, and which fused loss runs under which strategy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.errors import ConfigError
from framework.facts import facts_from_config
from framework.hardware import (
    AttentionNeeds,
    attention_needs,
    choose_attention,
    choose_dtype,
    placement,
    use_tf32,
)
from framework.hookdata import HardwareFacts, LoadSettings

H100 = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.8.3", gpu_name="NVIDIA H100 80GB HBM3",
                     gpu_memory_bytes=80 * 2**30, gpu_count=1)
T4_WITH_FLASH = HardwareFacts(device="cuda", bf16_supported=False, flash_attn_version="2.8.3", gpu_name="Tesla T4",
                              gpu_memory_bytes=16 * 2**30, gpu_count=1)
CPU = HardwareFacts(device="cpu", bf16_supported=False)
DEFAULT = LoadSettings()  # the generic fallback's settings: flash-attn, then SDPA, then eager


def _facts(model_type: str, **overrides: Any) -> Any:
    from transformers import AutoConfig

    return facts_from_config(AutoConfig.for_model(model_type, **overrides).to_dict(), f"tiny-{model_type}")


# ── attention after the dtype (issue: fp32 with flash-attn fails at the first forward) ─────────


def test_bf16_on_an_h100_gets_flash_attention() -> None:
    dtype = choose_dtype(DEFAULT, H100)[0]
    assert dtype == "bf16"
    assert choose_attention(DEFAULT, H100, dtype=dtype, needs=_facts("llama")) == (
        "flash_attention_2", "CUDA with flash-attn 2.8.3")


def test_fp32_gets_sdpa_with_the_reason() -> None:
    dtype = choose_dtype(DEFAULT, H100, "fp32")[0]
    impl, why = choose_attention(DEFAULT, H100, dtype=dtype, needs=_facts("llama"))
    assert impl == "sdpa" and why == "flash-attn runs only in fp16/bf16 and model.dtype is fp32"
    assert choose_attention(DEFAULT, H100, dtype="fp16")[0] == "flash_attention_2"


def test_requested_flash_with_fp32_is_one_line_at_plan_time() -> None:
    with pytest.raises(ConfigError) as caught:
        choose_attention(DEFAULT, H100, "flash_attention_2", dtype="fp32")
    line = caught.value.line()
    assert "\n" not in line and "model.attn_implementation" in line and "fp32" in line and "sdpa" in line


def test_pre_ampere_gpu_never_gets_flash_attention() -> None:
    assert choose_attention(DEFAULT, T4_WITH_FLASH, dtype="fp16") == (
        "sdpa", "flash-attn 2 needs an Ampere or newer GPU (Tesla T4 has no native bf16)")


# ── the model class and head size (issue: the generic fallback offered flash-attn to Gemma 4) ────


def test_model_class_without_flash_support_gets_sdpa() -> None:
    facts = _facts("gemma4")
    needs = attention_needs(facts)
    assert needs.model_class == "Gemma4ForConditionalGeneration" and needs.supports_flash is False
    assert choose_attention(DEFAULT, H100, dtype="bf16", needs=facts) == (
        "sdpa", "Gemma4ForConditionalGeneration does not support flash-attention in transformers")


def test_head_dim_above_flash_limit_gets_sdpa() -> None:
    # Gemma 4's text model declares flash support, but its global layers use head_dim 512
    facts = _facts("gemma4_text")
    needs = attention_needs(facts)
    assert needs.supports_flash is True and max(needs.head_dims) == 512
    assert choose_attention(DEFAULT, H100, dtype="bf16", needs=facts) == (
        "sdpa", "head_dim 512 is above flash-attn's limit of 256")
    assert choose_attention(DEFAULT, H100, dtype="bf16", needs=AttentionNeeds("X", True, (64, 256)))[0] == "flash_attention_2"


def test_requested_flash_for_a_class_without_support_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        choose_attention(DEFAULT, H100, "flash_attention_2", dtype="bf16", needs=_facts("gemma4"))
    assert "Gemma4ForConditionalGeneration does not support flash-attention" in caught.value.line()


def test_cpu_plans_never_import_a_modeling_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import framework.hardware as hardware

    monkeypatch.setattr(hardware, "attention_needs", lambda facts: pytest.fail("model class read on CPU"))
    assert choose_attention(DEFAULT, CPU, dtype="fp32", needs=_facts("llama"))[0] == "sdpa"


# ── placement before the first generate, TF32 ──────────────────────────────────────────────────


def test_model_goes_to_the_gpu_unless_sharded_or_quantized(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert placement(H100, sharded=False, quantized=False) == "cuda:0"
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert placement(H100, sharded=False, quantized=False) == "cuda:3"
    assert placement(H100, sharded=True, quantized=False) is None  # FSDP / ZeRO-3 place the shards
    assert placement(H100, sharded=False, quantized=True) is None  # bitsandbytes placed it at load
    assert placement(CPU, sharded=False, quantized=False) is None


def test_tf32_only_where_the_gpu_has_it() -> None:
    assert use_tf32(H100) and not use_tf32(T4_WITH_FLASH) and not use_tf32(CPU)


# ── the same decisions through `framework plan` on the pretended H100 ───────────────────────────


@pytest.fixture
def pretend_h100(monkeypatch: pytest.MonkeyPatch) -> HardwareFacts:
    import framework.hardware as hardware

    monkeypatch.setattr(hardware, "detect_hardware", lambda: H100)
    return H100


def _plan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    from framework.cli import main

    assert main(["plan", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_shows_sdpa_for_fp32_on_the_h100(pretend_h100: HardwareFacts, tiny_model_dir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    default = _plan_json(capsys, "--model", str(tiny_model_dir), "--method", "lora", "--cutoff-len", "256")
    assert default["dtype"]["dtype"] == "bf16" and default["attention"]["implementation"] == "flash_attention_2"
    fp32 = _plan_json(capsys, "--model", str(tiny_model_dir), "--method", "lora", "--cutoff-len", "256",
                      "--set", "model.dtype=fp32")
    assert fp32["attention"] == {"implementation": "sdpa",
                                 "why": "flash-attn runs only in fp16/bf16 and model.dtype is fp32"}


def test_generic_fallback_plan_for_gemma4_avoids_flash(pretend_h100: HardwareFacts, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoConfig

    AutoConfig.for_model("gemma4").save_pretrained(tmp_path)
    out = _plan_json(capsys, "--model", str(tmp_path), "--method", "lora", "--plugin", "generic")
    assert out["plugin"]["name"] == "generic"  # offers flash-attention first to every model
    assert out["attention"]["implementation"] == "sdpa"
    assert "does not support flash-attention" in out["attention"]["why"]
    # whichever plugin claims it, the core's check stands
    claimed = _plan_json(capsys, "--model", str(tmp_path), "--method", "lora")
    assert claimed["attention"]["implementation"] in ("sdpa", "eager")
