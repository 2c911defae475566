"""Gemma 4: detection with evidence, published configs, load settings and the pitfalls on tiny real models.

Tiny models come from transformers' own gemma4 classes (conftest.TINY_GEMMA4_*): sliding and global
layers with a doubled global head_dim, per-layer input embeddings, KV-shared layers, final soft-capping,
and the mixture-of-experts block of the 26B-A4B.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from framework.config import RunConfig
from framework.facts import facts_from_config
from framework.hardware import choose_attention
from framework.hookdata import HardwareFacts, ModelFacts
from framework.loss import chunked_causal_lm_loss
from framework.methods import lora_config
from framework.plugins import make_plugin_host
from framework_gemma import checkpoints, plugin

ORACLES = Path(__file__).resolve().parent / "oracles"
SMALL_TEMPLATE = (ORACLES / "2026" / "templates" / "google-gemma-4-E2B-it.jinja").read_text(encoding="utf-8")
LARGE_TEMPLATE = (ORACLES / "2026" / "templates" / "google-gemma-4-31B-it.jinja").read_text(encoding="utf-8")
CHATML = (ORACLES / "templates" / "qwen2-7b-instruct.jinja").read_text(encoding="utf-8")
CPU = HardwareFacts(device="cpu", bf16_supported=False)
GPU = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.8.3", gpu_name="H100",
                    gpu_memory_bytes=80 * 2**30, gpu_count=1)
HUB = {"google/gemma-4-E2B-it": "4-E2B", "google/gemma-4-E4B-it": "4-E4B", "google/gemma-4-26B-A4B-it": "4-26B-A4B",
       "google/gemma-4-31B-it": "4-31B"}


def _claimed(config: dict[str, Any], name: str = "x", template: str | None = None) -> ModelFacts:
    facts = facts_from_config(config, name, chat_template=template)
    match = plugin.match_model(facts)
    return facts.model_copy(update={"variant": match.variant, "chat_format": match.chat_format})


# ── detection ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("hub_id", "variant"), HUB.items())
def test_published_checkpoints_are_detected_with_their_evidence(hub_id: str, variant: str) -> None:
    config = checkpoints.known_model_configs()[hub_id]
    assert config["_source"]
    result = plugin.match_model(facts_from_config(config, hub_id))
    assert result.score == 100 and result.variant == variant
    assert result.reasons[0] == "model_type=gemma4 (Gemma 4, multimodal wrapper)"
    assert "vocab_size=262144 (Gemma 4's vocabulary)" in result.reasons
    assert f"({variant[2:]})" in result.reasons[1]


def test_published_shapes_give_the_published_parameter_counts() -> None:
    """Language-model parameters of the configs against Google's counts (31B: 30.7B; 26B-A4B: 25.2B total)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    expected = {"google/gemma-4-31B-it": 30.7, "google/gemma-4-26B-A4B-it": 25.2}
    for hub_id, billions in expected.items():
        config = {k: v for k, v in checkpoints.known_model_configs()[hub_id].items() if k != "_source"}
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
        assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, abs=0.1), hub_id


@pytest.mark.parametrize(("kind", "variant", "reason"), [
    ("text", "4-E4B", "per-layer input embeddings (hidden_size_per_layer_input=16)"),
    ("wrapper", "4-E4B", "per-layer input embeddings"),
    ("moe", "4-26B-A4B", "mixture of experts: enable_moe_block=True, num_experts=4"),
    ("unified", "4-12B", "model_type gemma4_unified (the 12B unified model)"),
])
def test_tiny_configs(kind: str, variant: str, reason: str, tiny_gemma4_config: Any) -> None:
    result = plugin.match_model(facts_from_config(tiny_gemma4_config(kind), "tiny"))
    assert result.variant == variant and result.score == 50 and reason in result.reasons[1]


def test_dense_and_unified_configs() -> None:
    dense = {"model_type": "gemma4_text", "vocab_size": 262144, "hidden_size": 5376, "hidden_size_per_layer_input": 0}
    assert plugin.match_model(facts_from_config(dense, "x")).variant == "4-31B"
    unified = {"model_type": "gemma4_unified", "text_config": {"model_type": "gemma4_unified_text", "vocab_size": 262144}}
    result = plugin.match_model(facts_from_config(unified, "google/gemma-4-12B-it"))
    assert result.variant == "4-12B" and "gemma4_unified" in result.reasons[1]


def test_the_shipped_template_decides_the_pre_fill_and_is_named() -> None:
    e2b = checkpoints.known_model_configs()["google/gemma-4-E2B-it"]
    small = plugin.match_model(facts_from_config(e2b, "./my-e2b", chat_template=SMALL_TEMPLATE))
    assert small.chat_format == "plugin"
    assert ("chat template of the model directory: Gemma 4 turn markers <|turn>/<turn|>, no pre-filled thought "
            "block (E2B/E4B template)") in small.reasons
    messages = [{"role": "user", "content": "Hi"}]
    from framework.hookdata import ChatOptions

    def prompt(template: str) -> str:
        facts = _claimed(e2b, "./my-e2b", template)
        return plugin.render_chat(facts=facts, messages=messages, options=ChatOptions(add_generation_prompt=True),
                                  tokenizer=None, tools=None).text

    assert prompt(SMALL_TEMPLATE).endswith("<|turn>model\n")
    assert prompt(LARGE_TEMPLATE).endswith("<|turn>model\n<|channel>thought\n<channel|>")  # the template decides


def test_chatml_fine_tune_of_gemma4_keeps_the_architecture_and_uses_its_template() -> None:
    config = checkpoints.known_model_configs()["google/gemma-4-31B-it"]
    facts = facts_from_config(config, "./chatml-gemma4", chat_template=CHATML)
    result = plugin.match_model(facts)
    assert result.variant == "4-31B" and result.chat_format == "shipped"
    host = make_plugin_host()
    family = host.family(host.select(facts), facts)
    assert family.facts.chat_format == "shipped" and family.lora_targets("lora", False).target_modules


# ── planning ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("hub_id", HUB)
def test_load_settings_refuse_fp16_and_pick_sdpa(hub_id: str) -> None:
    facts = _claimed(checkpoints.known_model_configs()[hub_id], hub_id)
    settings = plugin.model_load_settings(facts, GPU)
    assert settings.forbidden_dtypes == ("fp16",) and settings.attn_implementations == ("sdpa", "eager")
    assert settings.supports_packing and settings.train_language_model_only
    assert choose_attention(settings, GPU)[0] == "sdpa"
    notes = " ".join(settings.notes)
    assert "head_dim 512" in notes and "NaN" in notes and "soft-capped at 30" in notes


def test_rope_native_within_the_context_and_refused_beyond() -> None:
    facts = _claimed(checkpoints.known_model_configs()["google/gemma-4-31B-it"])
    assert plugin.rope_scaling(facts, 262144).action == "native"
    refused = plugin.rope_scaling(facts, 262145)
    assert refused.action == "refuse" and "proportional RoPE" in refused.reason
    e2b = _claimed(checkpoints.known_model_configs()["google/gemma-4-E2B-it"])
    assert plugin.rope_scaling(e2b, 131073).action == "refuse"


# ── tiny models ───────────────────────────────────────────────────────────────────────────

KINDS = ["text", "wrapper", "moe", "unified"]


def _batch(seed: int = 1) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (2, 12), generator=generator)
    labels = ids.clone()
    labels[:, :5] = -100
    return {"input_ids": ids, "labels": labels}


@pytest.mark.parametrize("kind", KINDS)
def test_fused_loss_honours_final_soft_capping(kind: str, tiny_gemma4: Any) -> None:
    """The core's chunked loss equals the model's own loss, soft-cap included (a cap of 0.5 bites hard)."""
    import torch

    capped, uncapped = tiny_gemma4(kind, final_logit_softcapping=0.5), tiny_gemma4(kind, final_logit_softcapping=None)
    batch = _batch()
    with torch.no_grad():
        own = capped(**batch, use_cache=False).loss
        fused = chunked_causal_lm_loss(capped, batch, chunk_size=7)
        fused_uncapped = chunked_causal_lm_loss(uncapped, batch, chunk_size=7)
    assert fused.item() == pytest.approx(own.item(), abs=1e-5)
    assert abs(fused_uncapped.item() - own.item()) > 1e-3  # the cap changes the loss: the test can fail


@pytest.mark.parametrize("kind", KINDS)
def test_packed_rows_equal_separate_samples(kind: str, tiny_gemma4: Any, tiny_gemma4_config: Any) -> None:
    import torch

    facts = _claimed(tiny_gemma4_config(kind), "tiny")
    settings = plugin.model_load_settings(facts, CPU)
    assert settings.supports_packing
    attention = choose_attention(settings, CPU)[0]
    assert attention == "sdpa"
    model = tiny_gemma4(kind)
    model.set_attn_implementation(attention)
    generator = torch.Generator().manual_seed(2)
    first, second = torch.randint(5, 1000, (1, 9), generator=generator), torch.randint(5, 1000, (1, 7),
                                                                                       generator=generator)
    positions = torch.cat([torch.arange(9), torch.arange(7)]).unsqueeze(0)
    with torch.no_grad():
        together = model(torch.cat([first, second], 1), position_ids=positions, use_cache=False).logits
        apart = torch.cat([model(first, use_cache=False).logits, model(second, use_cache=False).logits], 1)
        leaked = model(torch.cat([first, second], 1), use_cache=False).logits
    assert torch.allclose(together, apart, atol=1e-4)
    assert not torch.allclose(leaked[:, 9:], apart[:, 9:], atol=1e-4)  # without boundaries it would leak


def _peft(kind: str, tiny_gemma4: Any, tiny_gemma4_config: Any) -> Any:
    from peft import get_peft_model

    facts = _claimed(tiny_gemma4_config(kind), "tiny")
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=False)
    config = lora_config(RunConfig.model_validate({"method": "lora", "lora": {"dropout": 0.0}}), targets)
    return get_peft_model(tiny_gemma4(kind), config), targets


@pytest.mark.parametrize("kind", KINDS)
def test_lora_wraps_attention_and_mlp_only_and_changes_the_logits(kind: str, tiny_gemma4: Any,
                                                                  tiny_gemma4_config: Any) -> None:
    """Guards the reported 'LoRA had no effect' on Gemma 4: a nonzero B must move the output."""
    import torch

    model, targets = _peft(kind, tiny_gemma4, tiny_gemma4_config)
    wrapped = [n for n, m in model.named_modules() if hasattr(m, "lora_A") and not n.endswith(("lora_A", "lora_B"))]
    experts = [n for n in wrapped if ".experts" in n]  # fused expert weights (peft nests one wrapper per parameter)
    assert wrapped and all(n.endswith("_proj") for n in wrapped if n not in experts)
    assert bool(experts) == (kind == "moe")
    assert not any("per_layer" in n or "router" in n for n in wrapped)
    if kind in ("text", "wrapper"):
        assert targets.exclude_modules == ("per_layer_input_gate", "per_layer_projection", "per_layer_model_projection")
    ids = _batch()["input_ids"]
    with torch.no_grad():
        before = model(input_ids=ids, use_cache=False).logits
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.fill_(0.05)
        after = model(input_ids=ids, use_cache=False).logits
    assert (after - before).abs().max() > 1e-3


def test_moe_experts_are_adapted_through_target_parameters(tiny_gemma4: Any, tiny_gemma4_config: Any) -> None:
    import torch

    model, targets = _peft("moe", tiny_gemma4, tiny_gemma4_config)
    assert targets.target_parameters == ("experts.gate_up_proj", "experts.down_proj")
    expert_lora = {n: p for n, p in model.named_parameters() if "experts" in n and "lora_" in n}
    assert expert_lora and all(p.requires_grad for p in expert_lora.values())
    assert not any("router" in n for n, p in model.named_parameters() if p.requires_grad)
    start = {n: p.detach().clone() for n, p in expert_lora.items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    loss = chunked_causal_lm_loss(model, _batch(), chunk_size=16)
    loss.backward()
    optimizer.step()
    moved = [n for n, p in expert_lora.items() if not torch.equal(p.detach(), start[n])]
    assert any("lora_B" in n for n in moved), "the expert adapters did not learn"


# ── offline plan and tokenizer checks ─────────────────────────────────────────────────────


#: E2B is left out of the method check: the core planner does not count Gemma 4's per-layer embedding table
#: (2.35B of E2B's 4.63B language-model parameters), so it estimates full tuning at 18 GiB and picks it.
@pytest.mark.parametrize(("hub_id", "method"), [("google/gemma-4-E2B-it", None), ("google/gemma-4-E4B-it", "lora"),
                                                ("google/gemma-4-26B-A4B-it", "qlora"),
                                                ("google/gemma-4-31B-it", "qlora")])
def test_offline_plan_names_the_generation_and_picks_a_method_for_24gb(
        hub_id: str, method: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from framework.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["plan", "--model", hub_id, "--gpu", "24GB", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["plugin"]["name"] == "gemma" and plan["plugin"]["variant"] == HUB[hub_id]
    assert plan["settings"]["method"]["value"] == (method or plan["settings"]["method"]["value"])
    assert plan["settings"]["method"]["source"] == "planner"
    assert plan["attention"]["implementation"] == "sdpa"


def test_gemma4_tokenizer_checks_use_its_turn_tokens(tok4: Any, build_tokenizer: Any) -> None:
    facts = _claimed(checkpoints.known_model_configs()["google/gemma-4-E2B-it"])
    codes = {f.code for f in plugin.check_tokenizer(facts=facts, tokenizer=tok4)}
    assert not {"end-of-turn-absent", "eos-not-end-of-turn"} & codes  # <turn|> (106) is in eos_token_id [1, 106]
    no_stop = facts.model_copy(update={"eos_token_ids": (1,)})
    finding = next(f for f in plugin.check_tokenizer(facts=no_stop, tokenizer=tok4) if f.code == "eos-not-end-of-turn")
    assert finding.fix.stop_tokens == ("<turn|>",) and "id 106" in finding.message
    gemma3_vocab = {f.code for f in plugin.check_tokenizer(facts=facts, tokenizer=build_tokenizer("3"))}
    assert "end-of-turn-absent" in gemma3_vocab  # a Gemma 3 vocabulary has no <turn|>
    data = plugin.check_data(facts=facts, tokenizer=None, texts=["<|turn>user\nhi<turn|>", "plain"])
    assert [f.code for f in data] == ["format-tokens-in-data"] and "<|turn>/<turn|>" in data[0].message


def test_vision_tower_stays_frozen_and_outside_lora(tiny_gemma4: Any, tiny_gemma4_config: Any) -> None:
    """The wrapper's vision tower has its own q_proj/k_proj/...: the targets reach the language model only, and the
    core's language-model-only restriction (the plugin asks for it) leaves every vision weight frozen."""
    from framework.methods import apply_method, restrict_to_language_model

    facts = _claimed(tiny_gemma4_config("vision"), "tiny")
    assert plugin.model_load_settings(facts, CPU).train_language_model_only
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=False)
    model = apply_method(tiny_gemma4("vision"), RunConfig.model_validate({"method": "lora"}), targets)
    restrict_to_language_model(model)
    wrapped = [n for n, m in model.named_modules() if hasattr(m, "lora_A") and not n.endswith(("lora_A", "lora_B"))]
    assert wrapped and all("language_model" in n for n in wrapped)
    vision = [(n, p) for n, p in model.named_parameters() if "vision" in n]
    assert vision and not any(p.requires_grad for _, p in vision)
