"""The memory planner's GRPO accounting: completions × length in the KV cache, the reference copy, vLLM."""

from __future__ import annotations

import json

import pytest

from framework.cli import main
from framework.config import RunConfig
from framework.facts import facts_from_config
from framework.planning.memory import estimate
from framework.planning.rl import grpo_estimate, kv_cache_bytes

#: Llama 3 8B's published config (the sizes the planner reads).
LLAMA3_8B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 4096,
             "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 8, "max_position_embeddings": 8192, "rope_theta": 500000.0,
             "tie_word_embeddings": False}


def _config(method: str = "lora", **grpo: object) -> RunConfig:
    return RunConfig.model_validate({"stage": "grpo", "method": method, "grpo": {"rewards": ["format"], **grpo},
                                     "data": {"cutoff_len": 512},
                                     "training": {"micro_batch_size": 8, "grad_accum": 2}})


@pytest.fixture(scope="module")
def facts():  # type: ignore[no-untyped-def]
    return facts_from_config(LLAMA3_8B, "meta-llama/Meta-Llama-3-8B")


def test_generation_holds_a_kv_cache_of_every_completion(facts) -> None:  # type: ignore[no-untyped-def]
    plan = grpo_estimate(facts, _config(max_completion_length=512), compute_dtype="bf16")
    # 16 completions (8 × grad_accum 2) of 512 prompt + 512 completion tokens; 32 layers × 8 kv heads × 128 dims
    kv = 2 * 32 * 8 * 128 * 2 * 16 * 1024
    assert kv_cache_bytes(facts, sequences=16, tokens=1024, compute_dtype="bf16") == kv == 2 * 2**30
    assert plan.breakdown["generation"] == kv + 16 * 128256 * 4
    longer = grpo_estimate(facts, _config(max_completion_length=2048), compute_dtype="bf16")
    assert longer.breakdown["generation"] > plan.breakdown["generation"] and longer.total > plan.total
    # the training step sees prompt + completion tokens, padded, with full logits
    step = estimate(facts, method="lora", micro_batch=8, seq_len=1024, packed=False, chunked_loss=False,
                    compute_dtype="bf16")
    assert plan.breakdown["logits"] == step.breakdown["logits"] and plan.total >= step.total


def test_reference_copy_only_for_full_training_with_kl(facts) -> None:  # type: ignore[no-untyped-def]
    free = grpo_estimate(facts, _config("full", beta=0.0), compute_dtype="bf16")
    kl = grpo_estimate(facts, _config("full", beta=0.04), compute_dtype="bf16")
    lora = grpo_estimate(facts, _config("lora", beta=0.04), compute_dtype="bf16")
    assert free.breakdown["reference"] == 0 and lora.breakdown["reference"] == 0
    assert kl.breakdown["reference"] == kl.breakdown["weights"] and kl.total == free.total + kl.breakdown["weights"]
    assert any("adapter is disabled" in note for note in lora.assumptions)
    assert any("beta 0" in note for note in free.assumptions)


def test_vllm_generation_is_named_not_counted(facts) -> None:  # type: ignore[no-untyped-def]
    plan = grpo_estimate(facts, _config(), compute_dtype="bf16", vllm=True)
    assert plan.breakdown["generation"] == 0 and any("vLLM" in note for note in plan.assumptions)


def test_framework_plan_shows_the_grpo_terms(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--model", "meta-llama/Meta-Llama-3-8B", "--stage", "grpo", "--reward", "exact_match",
            "--method", "full", "--set", "grpo.beta=0.04", "--json"]
    assert main(argv) == 0
    memory = json.loads(capsys.readouterr().out)["memory"]["breakdown"]
    assert memory["reference"] == memory["weights"] > 0 and memory["generation"] > 0
    assert main(argv[:-1]) == 0
    text = capsys.readouterr().out
    assert "reference" in text and "generation" in text
