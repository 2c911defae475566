"""LoRA on fused MoE experts through the core: peft's target_parameters, the router loss, the planner's count.

Tiny random models from transformers' own MoE configs (hidden 32, 2 layers, 4 experts). The
plugins decide the targets; the core is given the same ``LoraTargets`` here directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from framework.config import RunConfig
from framework.errors import ConfigError
from framework.hookdata import LoraTargets
from framework.loss import chunked_causal_lm_loss
from framework.methods import apply_method, check_expert_lora, count_parameters

EXPERTS = ("mlp.experts.gate_up_proj", "mlp.experts.down_proj")
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


def _mixtral() -> Any:
    from transformers import MixtralConfig

    return MixtralConfig(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                         router_aux_loss_coef=0.02, tie_word_embeddings=False)


def _qwen3_moe() -> Any:
    from transformers import Qwen3MoeConfig

    return Qwen3MoeConfig(vocab_size=96, hidden_size=32, intermediate_size=64, moe_intermediate_size=24,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                          num_experts=4, num_experts_per_tok=2, router_aux_loss_coef=0.05, tie_word_embeddings=False)


CONFIGS = {"mixtral": _mixtral, "qwen3_moe": _qwen3_moe}


def _model(kind: str, seed: int = 0) -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(CONFIGS[kind](), dtype=torch.float32)


def _run_config(**lora: Any) -> RunConfig:
    return RunConfig.model_validate({"method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0, **lora},
                                     "model": {"name_or_path": "tiny"}})


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 96, (2, 12), generator=g)
    labels = ids.clone()
    labels[:, :4] = -100
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


TARGETS = LoraTargets(target_modules=ATTENTION, target_parameters=EXPERTS, exclude_modules=("mlp.gate",))


# ── the router's load-balancing loss ──────────────────────────────────────────────────────


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_router_loss_is_kept_in_both_losses_and_is_not_zero(kind: str) -> None:
    """Published configs ship output_router_logits=false: enabled, the model's own loss and the
    chunked labelled-only loss (which calls the decoder directly) both carry coef * aux."""
    from framework import moe

    batch = _batch()
    off = _model(kind)
    assert moe.enable(off, 0) == 0.0  # off: the plain cross-entropy
    with torch.no_grad():
        plain = off(**batch).loss
        plain_chunked = chunked_causal_lm_loss(off, batch, chunk_size=5)
    torch.testing.assert_close(plain_chunked, plain, rtol=1e-5, atol=1e-6)

    model = _model(kind)  # the same weights
    coef = moe.enable(model, None)  # the config's coefficient
    assert coef == CONFIGS[kind]().router_aux_loss_coef
    with torch.no_grad():
        own = model(**batch)
        chunked = chunked_causal_lm_loss(model, batch, chunk_size=5)
    assert own.aux_loss is not None and float(own.aux_loss) > 0.5  # ~top_k for a balanced router
    torch.testing.assert_close(own.loss, plain + coef * own.aux_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunked, own.loss, rtol=1e-5, atol=1e-6)
    assert float(chunked - plain_chunked) > 1e-3  # not silently zero

    assert moe.enable(model, 1.5) == 1.5  # the config key overrides the model's value
    with torch.no_grad():
        heavier = chunked_causal_lm_loss(model, batch, chunk_size=5)
    torch.testing.assert_close(heavier, plain + 1.5 * own.aux_loss, rtol=1e-5, atol=1e-6)


def test_router_loss_gradient_reaches_the_adapters() -> None:
    """The router term is part of the graph the adapters train on (not a detached number)."""
    from framework import moe

    model = apply_method(_model("mixtral"), _run_config(), TARGETS)
    moe.enable(model, 1.0)
    batch = {**_batch(), "labels": torch.full((2, 12), -100)}  # no labelled token: the router loss alone
    loss = chunked_causal_lm_loss(model, batch)
    assert float(loss) > 0.5
    loss.backward()
    grads = [p.grad.abs().sum() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None]
    assert grads and float(sum(grads)) > 0


def test_plan_line_names_the_coefficient_and_its_source() -> None:
    from framework import moe
    from framework.facts import facts_from_config

    facts = facts_from_config(_mixtral().to_dict(), "tiny-moe", None)
    line = moe.router_loss(facts, None).line()
    assert "4 experts, 2 per token" in line and "coef 0.02 (config.json router_aux_loss_coef)" in line
    assert "coef 0.1 (training.router_aux_loss_coef)" in moe.router_loss(facts, 0.1).line()
    assert "off" in moe.router_loss(facts, 0.0).line()
    dense = facts_from_config({"model_type": "llama", "hidden_size": 32}, "dense", None)
    assert moe.router_loss(dense, None) is None


# ── peft's limits on fused experts ────────────────────────────────────────────────────────


def test_dropout_on_fused_experts_is_refused_in_one_line() -> None:
    config = _run_config(dropout=0.05)
    with pytest.raises(ConfigError) as caught:
        apply_method(_model("mixtral"), config, TARGETS)
    line = caught.value.line()
    assert "\n" not in line and caught.value.exit_code == 2
    assert line.startswith("lora.dropout: lora.dropout=0.05") and "target_parameters" in line
    assert "lora.dropout=0" in line  # what to do
    # a user's own module targets replace the plugin's, experts included: dropout is fine then
    check_expert_lora(_run_config(dropout=0.05, target_modules=["q_proj"]), TARGETS)
    check_expert_lora(config, LoraTargets(target_modules=ATTENTION))  # a dense model


def test_dora_on_fused_experts_is_refused_naming_the_workaround() -> None:
    config = _run_config().model_copy(update={"method": "dora"})
    with pytest.raises(ConfigError) as caught:
        apply_method(_model("mixtral"), config, TARGETS)
    line = caught.value.line()
    assert "--method dora" in line and "mlp.experts.gate_up_proj" in line and "--method lora" in line


# ── expert adapters: count, effect, save, reload, merge ───────────────────────────────────


def _facts(kind: str) -> Any:
    from framework.facts import facts_from_config

    return facts_from_config(CONFIGS[kind]().to_dict(), f"tiny-{kind}", None)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_adapter_size_matches_the_planner_and_reaches_every_expert(kind: str) -> None:
    from framework.planning.parameters import parameter_report

    model = apply_method(_model(kind), _run_config(), TARGETS)
    trained = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    report = parameter_report(_facts(kind), method="lora", lora_r=4, lora_targets=ATTENTION, lora_parameters=EXPERTS)
    assert sum(trained.values()) == count_parameters(model).trainable == report.trainable
    expert = sum(n for name, n in trained.items() if ".experts." in name)
    assert report.by_role["expert"] == expert > report.by_role["attention"] > 0
    assert count_parameters(model).expert == expert and f"expert params: {expert:,}" in count_parameters(model).line()
    assert not any(".gate." in name or "router" in name for name in trained)  # routers never
    # r A-rows and r B-columns per expert: every expert of every block has its own factors
    a = next(p for n, p in model.named_parameters() if n.endswith("layers.0.mlp.experts.lora_A.default.weight"))
    assert a.shape[0] == 4 * 4
    line = report.line()
    assert "expert" in line and "attention" in line and "4 experts x 2 layers" in line
    frozen = parameter_report(_facts(kind), method="lora", lora_r=4, lora_targets=ATTENTION)
    assert "routed experts frozen" in frozen.line() and frozen.trainable < report.trainable


def _experts_output(model: Any, layer: int = 0) -> torch.Tensor:
    """The MoE block's output (router + experts) for fixed hidden states."""
    from framework.loss import causal_lm

    block = causal_lm(model).get_decoder().layers[layer].mlp
    x = torch.randn(1, 6, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = block(x)
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_one_step_moves_the_experts_saves_reloads_and_merges(kind: str, tmp_path: Path) -> None:
    from peft import PeftModel

    from framework import moe

    model = apply_method(_model(kind), _run_config(), TARGETS)
    moe.enable(model, None)
    router = {n: p.detach().clone() for n, p in model.named_parameters() if ".mlp.gate." in n}
    before = _experts_output(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    chunked_causal_lm_loss(model, _batch()).backward()
    optimizer.step()
    model.eval()
    wrappers = [m for n, m in model.named_modules() if n.endswith("mlp.experts") and hasattr(m, "get_delta_weight")]
    assert wrappers  # peft's ParamWrapper on the fused weights of each block
    for wrapper in wrappers:
        delta = wrapper.get_delta_weight("default")
        assert delta.shape == wrapper.get_param().shape and float(delta.abs().max()) > 0
    after = _experts_output(model)
    assert float((after - before).abs().max()) > 1e-6  # the experts' outputs changed
    with model.disable_adapter():
        torch.testing.assert_close(_experts_output(model), before)
    for name, weight in router.items():
        torch.testing.assert_close(dict(model.named_parameters())[name], weight)  # the router did not train

    ids = _batch()["input_ids"]
    with torch.no_grad():
        trained = model(input_ids=ids).logits
    model.save_pretrained(tmp_path / "adapter")
    reloaded = PeftModel.from_pretrained(_model(kind), tmp_path / "adapter")
    reloaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, trained, rtol=1e-5, atol=1e-5)
        merged = reloaded.merge_and_unload()
        assert not any("lora" in n for n, _ in merged.named_parameters())
        torch.testing.assert_close(merged(input_ids=ids).logits, trained, rtol=1e-4, atol=1e-4)


def test_shared_expert_adapters_are_counted_apart_and_the_shared_gate_never_adapted() -> None:
    """Qwen2-MoE: a shared expert (plain linears, targeted by module name) beside the routed ones,
    with its own sigmoid gate (``shared_expert_gate``, a router: never adapted)."""
    from transformers import AutoModelForCausalLM, Qwen2MoeConfig

    from framework.facts import facts_from_config
    from framework.planning.parameters import parameter_report

    config = Qwen2MoeConfig(vocab_size=96, hidden_size=32, intermediate_size=64, moe_intermediate_size=24,
                            shared_expert_intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    names = ATTENTION + ("gate_proj", "up_proj", "down_proj")
    targets = LoraTargets(target_modules=names, target_parameters=EXPERTS,
                          exclude_modules=("gate", "shared_expert_gate"))
    model = apply_method(AutoModelForCausalLM.from_config(config), _run_config(), targets)
    trained = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert not any("shared_expert_gate" in n or ".mlp.gate." in n for n in trained)
    report = parameter_report(facts_from_config(config.to_dict(), "tiny-shared"), method="lora", lora_r=4,
                              lora_targets=list(names), lora_parameters=EXPERTS)
    assert report.trainable == sum(trained.values())
    assert report.by_role["shared_expert"] == sum(n for k, n in trained.items() if ".shared_expert." in k) > 0
    assert report.by_role["expert"] == sum(n for k, n in trained.items() if ".experts." in k) > 0
    assert "shared-expert" in report.line()


def test_qlora_keeps_the_unquantized_experts_in_the_compute_dtype(tmp_path: Path) -> None:
    """bitsandbytes quantizes attention only; k-bit preparation would upcast the frozen fused experts
    to fp32 (twice their bf16 size): they stay bf16, norms go fp32, and the expert adapters train."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, MixtralConfig

    config = MixtralConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=quant, dtype=torch.bfloat16)
    model = apply_method(model, _run_config().model_copy(update={"method": "qlora"}), TARGETS)
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    fused = [n for n in dtypes if n.endswith(("gate_up_proj", "down_proj")) and ".experts." in n]
    assert fused and all(dtypes[n] == torch.bfloat16 for n in fused)
    assert all(d == torch.float32 for n, d in dtypes.items() if "norm" in n or "lora_" in n)
    assert type(model.base_model.model.model.layers[0].self_attn.q_proj.base_layer).__name__ == "Linear4bit"
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        chunked_causal_lm_loss(model, _batch()).backward()
    optimizer.step()
    moved = [p for n, p in model.named_parameters() if ".experts." in n and "lora_B" in n]
    assert moved and all(float(p.abs().max()) > 0 for p in moved)
