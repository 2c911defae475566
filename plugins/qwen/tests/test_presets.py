"""Defaults per method and stage, load settings, and LoRA targets on real tiny transformers models."""

from __future__ import annotations

from typing import Any

import pytest

from framework.config import RunConfig
from framework.facts import facts_from_config
from framework.hookdata import HardwareFacts, LoraTargets, ModelFacts
from framework_qwen import plugin, presets

METHODS = ["full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid"]
ALLOWED = {"lora.r", "lora.alpha", "lora.dropout", "training.learning_rate", "training.epochs", "training.warmup",
           "training.weight_decay", "training.max_grad_norm", "training.lr_scheduler",
           "training.micro_batch_size", "training.grad_accum"}
GPU = HardwareFacts(device="cuda", bf16_supported=True, gpu_count=1)


def published(hub_id: str) -> ModelFacts:
    raw = plugin.known_model_configs()[hub_id]
    facts = facts_from_config(raw, hub_id)
    match = plugin.match_model(facts=facts)
    assert match is not None
    return facts.model_copy(update={"variant": match.variant})


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stage", ["sft", "pt", "dpo"])
def test_defaults_are_valid_run_config(method: str, stage: str) -> None:
    values = plugin.default_hyperparameters(facts=published("Qwen/Qwen2.5-7B-Instruct"), method=method, stage=stage)
    assert set(values) <= ALLOWED
    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, field = key.split(".")
        nested.setdefault(section, {})[field] = value
    RunConfig.model_validate(nested)  # every value fits the run-config schema


def test_learning_rates_follow_size_and_method() -> None:
    def rate(hub_id: str, method: str, stage: str = "sft") -> float | None:
        return plugin.default_hyperparameters(facts=published(hub_id), method=method, stage=stage).get(
            "training.learning_rate")

    assert rate("Qwen/Qwen2.5-7B-Instruct", "lora") == 5e-5
    assert rate("Qwen/Qwen2.5-7B-Instruct", "full") == 1e-5
    assert rate("Qwen/Qwen2.5-7B-Instruct", "qlora") == 1e-4
    assert rate("Qwen/Qwen2.5-7B-Instruct", "rslora") == 1.8e-5
    assert rate("Qwen/Qwen2.5-14B-Instruct", "lora") == 3e-5
    assert rate("Qwen/Qwen3-32B", "full") == 5e-6
    assert rate("Qwen/Qwen2.5-72B-Instruct", "lora") == 1e-5
    assert rate("Qwen/Qwen2.5-0.5B", "lora") == 5e-5
    assert rate("Qwen/Qwen2.5-7B-Instruct", "lora", "dpo") == 5e-6
    assert rate("Qwen/Qwen2.5-7B-Instruct", "prompt") is None


def test_parameter_estimate_matches_published_sizes() -> None:
    """The size tiers rest on this count: within 5% of the names' sizes."""
    for hub_id, billions in [("Qwen/Qwen2.5-7B-Instruct", 7.6), ("Qwen/Qwen2.5-72B-Instruct", 72.7),
                             ("Qwen/Qwen3-8B", 8.2), ("Qwen/Qwen3-0.6B", 0.6), ("Qwen/Qwen-7B-Chat", 7.7)]:
        count = presets.approx_parameters(published(hub_id))
        assert count is not None and abs(count / 1e9 - billions) / billions < 0.05, (hub_id, count)


def test_load_settings() -> None:
    v1 = plugin.model_load_settings(facts=published("Qwen/Qwen-7B-Chat"), hardware=GPU)
    assert v1.trust_remote_code and not v1.supports_packing and v1.attn_implementations == ("eager",)
    native = plugin.model_load_settings(facts=published("Qwen/Qwen2.5-7B-Instruct"), hardware=GPU)
    assert not native.trust_remote_code and native.supports_packing
    assert native.attn_implementations[0] == "flash_attention_2" and "sdpa" in native.attn_implementations
    assert native.forbidden_dtypes == ()


def peft_wrapped(model: Any, targets: LoraTargets) -> set[str]:
    """Names of the modules peft wraps with these targets (the core's LoraConfig switches)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=list(targets.target_modules),
                        exclude_modules=list(targets.exclude_modules) or None,
                        modules_to_save=list(targets.modules_to_save) or None,
                        ensure_weight_tying=targets.ensure_weight_tying, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    return {name.removeprefix("base_model.model.") for name, module in peft_model.named_modules()
            if hasattr(module, "lora_A")}


@pytest.mark.parametrize("kind", ["qwen2", "qwen3"])
def test_lora_targets_dense(tiny_dense: Any, kind: str) -> None:
    from transformers import AutoModelForCausalLM

    config = tiny_dense(kind)
    facts = facts_from_config(config.to_dict(), "tiny")
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=False)
    wrapped = peft_wrapped(AutoModelForCausalLM.from_config(config), targets)
    linear = {f"model.layers.{i}.{part}" for i in range(2) for part in
              ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
               "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")}
    assert wrapped == linear  # every projection, nothing else (no lm_head, no q_norm/k_norm)


def test_lora_train_embeddings_keeps_tied_weights(tiny_dense: Any) -> None:
    """Q8: tied small Qwen (0.5B-3B, Qwen3 <= 4B): head and embeddings stay one tensor."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = tiny_dense("qwen3", tie_word_embeddings=True)
    facts = facts_from_config(config.to_dict(), "tiny")
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=True)
    assert targets.modules_to_save == ("embed_tokens", "lm_head") and targets.ensure_weight_tying
    def trained_copies(tying: bool) -> tuple[Any, Any]:
        model = get_peft_model(AutoModelForCausalLM.from_config(config), LoraConfig(
            r=4, target_modules=list(targets.target_modules), modules_to_save=list(targets.modules_to_save),
            ensure_weight_tying=tying, task_type="CAUSAL_LM"))
        inner = model.base_model.model
        return (inner.model.embed_tokens.modules_to_save["default"].weight,
                inner.lm_head.modules_to_save["default"].weight)

    embed, head = trained_copies(targets.ensure_weight_tying)
    assert embed is head  # one trained tensor
    embed, head = trained_copies(False)
    assert embed is not head  # what the flag prevents: two copies that drift apart
    untied = plugin.lora_target_modules(facts=facts.model_copy(update={"tie_word_embeddings": False}),
                                        method="lora", train_embeddings=True)
    assert not untied.ensure_weight_tying


@pytest.mark.parametrize("kind", ["qwen2_moe", "qwen3_moe"])
def test_lora_targets_moe_skip_routers(tiny_moe: Any, kind: str) -> None:
    from transformers import AutoModelForCausalLM

    config = tiny_moe(kind)
    facts = facts_from_config(config.to_dict(), "tiny")
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=False)
    wrapped = peft_wrapped(AutoModelForCausalLM.from_config(config), targets)
    assert wrapped
    assert not any(name.endswith((".gate", "shared_expert_gate")) for name in wrapped)
    attention = {f"model.layers.{i}.self_attn.{p}_proj" for i in range(2) for p in "qkvo"}
    assert attention <= wrapped
    if kind == "qwen2_moe":
        assert {f"model.layers.{i}.mlp.shared_expert.{p}" for i in range(2)
                for p in ("gate_proj", "up_proj", "down_proj")} <= wrapped


@pytest.mark.parametrize("kind", ["qwen2_moe", "qwen3_moe"])
def test_fused_experts_get_adapters_that_move(tiny_moe: Any, kind: str) -> None:
    """transformers 5 fuses the experts into 3-D parameters: target_parameters gives them adapters
    (ax#3515: module names alone leave every expert untouched); one step moves them, routers stay out."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = tiny_moe(kind)
    facts = facts_from_config(config.to_dict(), "tiny")
    facts = facts.model_copy(update={"variant": plugin.match_model(facts=facts).variant})
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=False)
    assert targets.target_parameters == ("experts.gate_up_proj", "experts.down_proj")
    defaults = plugin.default_hyperparameters(facts=facts, method="lora", stage="sft")
    assert defaults["lora.dropout"] == 0.0  # peft's parameter adapters refuse dropout
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_config(config), LoraConfig(
        r=4, lora_alpha=8, lora_dropout=defaults["lora.dropout"], target_modules=list(targets.target_modules),
        exclude_modules=list(targets.exclude_modules), target_parameters=list(targets.target_parameters),
        task_type="CAUSAL_LM"))
    experts = {n: p for n, p in model.named_parameters() if ".mlp.experts." in n and "lora_B" in n}
    assert len(experts) == 2 * config.num_hidden_layers  # gate_up_proj and down_proj of every layer
    assert not any(n.endswith(("mlp.gate.weight", "shared_expert_gate.weight")) and p.requires_grad
                   for n, p in model.named_parameters())
    ids = torch.randint(0, config.vocab_size, (2, 12))
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    for param in model.parameters():
        if param.requires_grad and param.grad is not None:
            param.data -= 0.1 * param.grad
    assert all(p.abs().max() > 0 for p in experts.values())  # lora_B starts at zero


def test_lora_targets_v1_names() -> None:
    """Qwen v1's remote code (modeling_qwen.py) names attn.c_attn/c_proj and mlp.w1/w2/c_proj; it cannot
    be instantiated offline, so the names are checked against the published config's variant only."""
    targets = plugin.lora_target_modules(facts=published("Qwen/Qwen-7B-Chat"), method="lora", train_embeddings=True)
    assert targets.target_modules == ("c_attn", "c_proj", "w1", "w2")
    assert targets.modules_to_save == ("wte", "lm_head") and not targets.ensure_weight_tying


def test_offline_plan_of_the_30b_moe_shows_expert_lora(capsys: pytest.CaptureFixture[str]) -> None:
    """Qwen3-30B-A3B plans offline: 30.5B total, 3.3B active (model card), LoRA reaching the fused experts."""
    from framework.cli import main

    assert main(["plan", "--model", "Qwen/Qwen3-30B-A3B", "--gpu", "24GB"]) == 0
    out = capsys.readouterr().out
    assert "parameters 30.53B total, 3.35B active per token (8 of 128 experts)" in out
    trainable = next(line for line in out.splitlines() if line.startswith("trainable"))
    assert "expert" in trainable and "128 experts x 48 layers" in trainable
