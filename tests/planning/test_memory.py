"""The estimate's terms: what each method keeps, and how settings move the peak."""

from __future__ import annotations

import pytest

from framework.errors import ConfigError
from framework.planning import estimate
from framework.planning.sharding import estimate_sharded

GIB = 2**30
EIGHT_B = "Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def facts(official):
    return official(EIGHT_B)


def _peak(facts, **settings) -> int:
    return estimate(facts, **{"micro_batch": 1, "seq_len": 2048, **settings}).total


def test_methods_rank_by_memory(facts) -> None:
    peaks = {m: _peak(facts, method=m) for m in ("full", "freeze", "lora", "dora", "qlora8", "qlora", "prompt")}
    assert peaks["full"] > peaks["freeze"] > peaks["lora"] > peaks["qlora8"] > peaks["qlora"]
    assert peaks["dora"] > peaks["lora"]
    # prompt learning cannot use the chunked loss, so compare it with LoRA on the plain loss
    assert _peak(facts, method="prompt") < _peak(facts, method="lora", chunked_loss=False)
    assert _peak(facts, method="hybrid") == peaks["full"]


def test_full_bf16_holds_weights_gradients_and_two_moments(facts) -> None:
    full = estimate(facts, method="full", micro_batch=1, seq_len=2048, optimizer="adamw_fused")
    n = 8_030_261_248
    assert full.breakdown["weights"] == full.breakdown["gradients"] == 2 * n
    assert full.breakdown["optimizer"] == 4 * n and full.breakdown["optimizer_step"] == 0
    fp16 = estimate(facts, method="full", micro_batch=1, seq_len=2048, compute_dtype="fp16", optimizer="adamw_fused")
    assert fp16.breakdown["weights"] == 4 * n and fp16.breakdown["optimizer"] == 8 * n
    assert fp16.breakdown["autocast_weights"] == 2 * n


def test_multi_tensor_adamw_adds_a_state_sized_scratch(facts) -> None:
    foreach = estimate(facts, method="full", micro_batch=1, seq_len=2048, optimizer="adamw")
    fused = estimate(facts, method="full", micro_batch=1, seq_len=2048, optimizer="adamw_fused")
    assert foreach.breakdown["optimizer_step"] == foreach.breakdown["gradients"]
    assert foreach.total > fused.total + 10 * GIB


def test_eight_bit_states_take_about_two_bytes_per_parameter(facts) -> None:
    est = estimate(facts, method="full", micro_batch=1, seq_len=2048, optimizer="adamw_8bit")
    assert est.breakdown["optimizer"] / 8_030_261_248 == pytest.approx(2.03, abs=0.01)


def test_checkpointing_and_chunked_loss_shrink_the_step(facts) -> None:
    plain = estimate(facts, method="lora", micro_batch=2, seq_len=4096, grad_checkpointing=False, chunked_loss=False)
    ckpt = estimate(facts, method="lora", micro_batch=2, seq_len=4096, grad_checkpointing=True, chunked_loss=False)
    chunked = estimate(facts, method="lora", micro_batch=2, seq_len=4096, grad_checkpointing=True, chunked_loss=True)
    assert plain.breakdown["activations"] > 5 * ckpt.breakdown["activations"]
    # full logits: 8192 tokens x 128256 vocab x 12 bytes; chunked: 1024 rows at a time
    assert ckpt.breakdown["logits"] == 8192 * 128256 * 12
    assert chunked.breakdown["logits"] < ckpt.breakdown["logits"] / 6
    assert plain.total > ckpt.total > chunked.total


def test_activations_grow_linearly_with_tokens(facts) -> None:
    one = estimate(facts, method="lora", micro_batch=1, seq_len=2048).breakdown["activations"]
    four = estimate(facts, method="lora", micro_batch=4, seq_len=2048).breakdown["activations"]
    assert four == pytest.approx(4 * one, rel=0.01)


def test_k_bit_preparation_keeps_unquantized_weights_in_fp32(facts) -> None:
    upcast = estimate(facts, method="qlora", micro_batch=1, seq_len=2048)
    kept = estimate(facts, method="qlora", micro_batch=1, seq_len=2048, upcast_unquantized=False)
    embeddings = 2 * 128256 * 4096
    assert upcast.breakdown["weights"] - kept.breakdown["weights"] == pytest.approx(2 * embeddings, rel=0.001)


def test_lora_targets_select_the_adapted_matrices(facts) -> None:
    qv = estimate(facts, method="lora", micro_batch=1, seq_len=2048, lora_r=8, lora_targets=["q_proj", "v_proj"])
    per_layer = 8 * (4096 + 4096) + 8 * (4096 + 1024)
    assert qv.breakdown["adapter_weights"] == 4 * 32 * per_layer  # fp32 adapters
    regex = estimate(facts, method="lora", micro_batch=1, seq_len=2048, lora_r=8, lora_targets=r".*(q|v)_proj")
    assert regex.breakdown["adapter_weights"] == qv.breakdown["adapter_weights"]
    with pytest.raises(ConfigError):
        estimate(facts, method="lora", micro_batch=1, seq_len=2048, lora_targets=["c_attn"])


def test_eager_attention_adds_a_quadratic_term(facts) -> None:
    flash = estimate(facts, method="lora", micro_batch=1, seq_len=4096, grad_checkpointing=False)
    eager = estimate(facts, method="lora", micro_batch=1, seq_len=4096, grad_checkpointing=False,
                     attn_implementation="eager")
    quadratic = 32 * 32 * 4096 * 4096 * (4 + 2)  # layers x heads x seq^2 x (fp32 softmax + bf16 cast)
    assert eager.breakdown["activations"] - flash.breakdown["activations"] >= quadratic


def test_table_lists_terms_and_the_peak(facts) -> None:
    est = estimate(facts, method="lora", micro_batch=1, seq_len=2048)
    rows = dict(est.table())
    assert rows["weights"] == "14.96 GiB"
    assert rows["peak"].endswith("GiB") and "optimizer" in rows
    assert est.without_context < est.total
    assert any("checkpointing" in note for note in est.assumptions)


def test_zero3_shards_the_states_but_not_the_activations(facts) -> None:
    settings = dict(method="full", micro_batch=1, seq_len=2048)
    one = estimate(facts, **settings)
    ddp = estimate_sharded(facts, world_size=8, strategy="ddp", **settings)
    zero2 = estimate_sharded(facts, world_size=8, strategy="zero2", **settings)
    zero3 = estimate_sharded(facts, world_size=8, strategy="zero3", **settings)
    offload = estimate_sharded(facts, world_size=8, strategy="zero3-offload", **settings)
    assert ddp.total > one.total > zero2.total > zero3.total > offload.total
    assert zero3.breakdown["optimizer"] == one.breakdown["optimizer"] // 8
    assert zero3.breakdown["activations"] == one.breakdown["activations"]
    assert estimate_sharded(facts, world_size=16, strategy="fsdp", **settings).total < zero3.total
    with pytest.raises(ConfigError):
        estimate_sharded(facts, world_size=8, strategy="zero4", **settings)


@pytest.mark.parametrize(("setting", "value"), [("method", "magic"), ("optimizer", "sgd"), ("compute_dtype", "fp8"),
                                                ("attn_implementation", "xformers"), ("micro_batch", 0)])
def test_bad_settings_are_config_errors(facts, setting: str, value: object) -> None:
    settings = {"method": "lora", "micro_batch": 1, "seq_len": 2048, setting: value}
    with pytest.raises(ConfigError):
        estimate(facts, **settings)


def test_the_api_is_reachable_where_the_planner_names_it() -> None:
    from framework.planning import MethodChoice, choose_method, estimate_sharded, parameter_count, parse_size

    assert callable(choose_method) and callable(estimate_sharded) and callable(parameter_count)
    assert MethodChoice.__name__ == "MethodChoice" and parse_size("1GB") == GIB
