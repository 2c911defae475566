"""Tiny models of the 2025-26 architectures train with the plugin's targets, save and reload exactly.

Built from transformers' own config classes (Mistral3 wrapper with Pixtral, Ministral3 with
YaRN, Mistral4 MoE with MLA attention, Mixtral): two optimizer steps with the adapter the core
would build (``framework.methods.lora_config`` from the plugin's ``LoraTargets``), then
``save_pretrained`` / ``PeftModel.from_pretrained`` must give the same logits. MoE: the fused
experts' adapter moves after one step, the router never gets an adapter.
"""

from __future__ import annotations

import pytest

from framework.config import RunConfig
from framework.facts import facts_from_config
from framework.methods import lora_config
from framework_mistral import plugin, presets


def tiny_mistral3(text: str = "mistral"):
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    text_config = dict(model_type=text, vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256)
    if text == "ministral3":
        text_config["rope_parameters"] = {"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0,
                                          "original_max_position_embeddings": 64, "llama_4_scaling_beta": 0.1,
                                          "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0}
    vision = dict(model_type="pixtral", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=2, head_dim=16, image_size=56, patch_size=14)
    config = Mistral3Config(text_config=text_config, vision_config=vision, image_token_index=10)
    return Mistral3ForConditionalGeneration(config), config


def tiny_ministral3():
    from transformers import Ministral3Config, Ministral3ForCausalLM

    config = Ministral3Config(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
                              rope_parameters={"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0,
                                               "original_max_position_embeddings": 64, "llama_4_scaling_beta": 0.1,
                                               "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0,
                                               "mscale_all_dim": 1.0})
    return Ministral3ForCausalLM(config), config


def tiny_mistral4():
    from transformers import Mistral4Config
    from transformers.models.mistral4.modeling_mistral4 import Mistral4ForCausalLM

    config = Mistral4Config(vocab_size=96, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=4,
                            num_experts_per_tok=2, n_shared_experts=1, kv_lora_rank=16, q_lora_rank=24,
                            qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=8, first_k_dense_replace=1,
                            max_position_embeddings=256)
    return Mistral4ForCausalLM(config), config


def tiny_mixtral(tiny):
    from transformers import MixtralForCausalLM

    config = tiny.mixtral(vocab_size=96)
    return MixtralForCausalLM(config), config


def adapter(model, config, name: str, method: str = "lora"):
    from peft import get_peft_model

    facts = facts_from_config(config.to_dict(), name)
    facts = facts.model_copy(update={"variant": plugin.match_model(facts).variant})
    targets = plugin.lora_target_modules(facts, method, False)
    run = RunConfig().model_copy(update={"method": method})
    # the plugin's default dropout 0.0 (mistral-finetune); peft's ParamWrapper refuses any other
    run = run.model_copy(update={"lora": run.lora.model_copy(update={"dropout": 0.0})})
    return get_peft_model(model, lora_config(run, targets)), targets, facts


def train(model, steps: int = 2):
    import torch

    torch.manual_seed(1)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(11, 96, (2, 12))
    losses = []
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return ids, losses


def reload_matches(peft_model, base_builder, ids, tmp_path) -> float:
    import torch
    from peft import PeftModel

    peft_model.save_pretrained(tmp_path)
    torch.manual_seed(0)
    base, _ = base_builder()
    reloaded = PeftModel.from_pretrained(base, tmp_path).eval()
    peft_model.eval()
    with torch.no_grad():
        return (peft_model(input_ids=ids).logits - reloaded(input_ids=ids).logits).abs().max().item()


@pytest.mark.parametrize("kind", ["mistral3", "ministral3-wrapper", "ministral3", "mistral4"])
def test_tiny_model_trains_two_steps_and_reloads_to_the_same_logits(kind, tmp_path):
    import torch

    builders = {"mistral3": tiny_mistral3, "ministral3-wrapper": lambda: tiny_mistral3("ministral3"),
                "ministral3": tiny_ministral3, "mistral4": tiny_mistral4}
    torch.manual_seed(0)
    model, config = builders[kind]()
    peft_model, targets, facts = adapter(model, config, f"tiny/{kind}")
    trained = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n for n in trained)
    assert not any("vision_tower" in n or "multi_modal_projector" in n for n in trained)
    assert not any(".mlp.gate." in n for n in trained)  # routers never adapted
    ids, losses = train(peft_model)
    assert all(torch.isfinite(torch.tensor(losses)))
    torch.manual_seed(0)
    assert reload_matches(peft_model, builders[kind], ids, tmp_path) < 1e-5
    if kind.startswith("mistral3") or kind == "ministral3-wrapper":
        assert plugin.model_load_settings(facts, presets_cpu()).train_language_model_only


def presets_cpu():
    from framework.hookdata import HardwareFacts

    return HardwareFacts(device="cpu", bf16_supported=True)


@pytest.mark.parametrize("kind", ["mixtral", "mistral4"])
def test_expert_adapters_move_after_one_step_and_routers_stay_plain(tiny, kind):
    import torch

    torch.manual_seed(0)
    model, config = tiny_mixtral(tiny) if kind == "mixtral" else tiny_mistral4()
    peft_model, targets, _ = adapter(model, config, f"tiny/{kind}")
    assert targets.target_parameters == presets.EXPERTS
    experts = {n: p for n, p in peft_model.named_parameters() if ".experts." in n and "lora_B" in n}
    assert experts and all(p.abs().max() == 0 for p in experts.values())  # LoRA B starts at zero
    routers = [n for n, _ in peft_model.named_parameters() if ".mlp.gate." in n]
    assert routers and not any("lora" in n for n in routers)
    train(peft_model, steps=1)
    moved = [n for n, p in experts.items() if p.abs().max() > 0]
    assert moved == list(experts)  # every expert adapter (gate_up and down, every MoE layer) changed
    if kind == "mistral4":
        shared = [n for n, _ in peft_model.named_parameters() if "shared_experts" in n and "lora_A" in n]
        assert len(shared) == 3  # gate/up/down of the one MoE layer's shared expert


def test_dora_leaves_experts_alone(tiny):
    """peft's ParamWrapper refuses DoRA: the experts are not targeted rather than a crash."""
    facts = facts_from_config(tiny.mixtral().to_dict(), "tiny")
    assert plugin.lora_target_modules(facts, "dora", False).target_parameters == ()
    assert plugin.lora_target_modules(facts, "lora", False).target_parameters == presets.EXPERTS


def test_qlora_on_mixtral_trains_the_unquantized_experts(tiny, tmp_path):
    """bitsandbytes quantizes the attention Linears only; the fused experts stay fp32 and get adapters that move."""
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig, MixtralForCausalLM

    torch.manual_seed(0)
    # 64-wide projections: bitsandbytes' CPU path works in blocks of 64
    config = tiny.mixtral(vocab_size=128, hidden_size=64)
    MixtralForCausalLM(config).save_pretrained(tmp_path)
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.float32)
    model = prepare_model_for_kbit_training(
        MixtralForCausalLM.from_pretrained(tmp_path, quantization_config=quant, dtype=torch.float32))
    facts = facts_from_config(config.to_dict(), "tiny/mixtral")
    targets = plugin.lora_target_modules(facts, "qlora", False)
    run = RunConfig().model_copy(update={"method": "qlora"})
    run = run.model_copy(update={"lora": run.lora.model_copy(update={"dropout": 0.0})})
    peft_model = get_peft_model(model, lora_config(run, targets))
    assert type(peft_model.base_model.model.model.layers[0].self_attn.q_proj.base_layer).__name__ == "Linear4bit"
    ids = torch.randint(11, 128, (2, 8))
    embeds = peft_model.get_input_embeddings()(ids).detach().requires_grad_(True)
    peft_model(inputs_embeds=embeds, labels=ids).loss.backward()
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    optimizer.step()
    experts = [p for n, p in peft_model.named_parameters() if ".experts." in n and "lora_B" in n]
    assert len(experts) == 4 and all(p.abs().max() > 0 for p in experts)
