"""`framework plan` on a mixture of experts: total vs active parameters, the expert share of the
adapter, the router loss with its coefficient, and peft's limits on fused experts refused early.

The plan reads config.json only; an in-process plugin answers as the family plugins do for an
MoE (attention by module name, fused experts by ``target_parameters``, the router excluded).
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from framework import cli, hookimpl
from framework.hookdata import LoraTargets, MatchResult
from framework.plugins import make_plugin_host

EXPERTS = ("mlp.experts.gate_up_proj", "mlp.experts.down_proj")
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


def _moe_plugin(dropout: float) -> types.ModuleType:
    module = types.ModuleType("moe_family")

    @hookimpl
    def match_model(facts):  # type: ignore[no-untyped-def]
        return MatchResult(score=100, variant="moe", reasons=("num_local_experts",)) if facts.num_experts else None

    @hookimpl
    def lora_target_modules(facts, method, train_embeddings):  # type: ignore[no-untyped-def]
        return LoraTargets(target_modules=ATTENTION, target_parameters=EXPERTS, exclude_modules=("mlp.gate",))

    @hookimpl
    def default_hyperparameters(facts, method, stage):  # type: ignore[no-untyped-def]
        return {"lora.r": 8, "lora.dropout": dropout}

    module.match_model = match_model  # type: ignore[attr-defined]
    module.lora_target_modules = lora_target_modules  # type: ignore[attr-defined]
    module.default_hyperparameters = default_hyperparameters  # type: ignore[attr-defined]
    return module


@pytest.fixture
def moe_dir(tmp_path: Path) -> Path:
    """config.json of a Mixtral-shaped model (8 experts, top-2, 4 layers); no weights needed to plan."""
    from transformers import MixtralConfig

    config = MixtralConfig(vocab_size=1000, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                           num_attention_heads=8, num_key_value_heads=4, num_local_experts=8, num_experts_per_tok=2,
                           router_aux_loss_coef=0.02, max_position_embeddings=4096)
    config.save_pretrained(tmp_path)
    return tmp_path


def _host(monkeypatch: pytest.MonkeyPatch, dropout: float = 0.05) -> None:
    host = make_plugin_host(load_entrypoints=False)
    host.register(_moe_plugin(dropout), "moefam")
    monkeypatch.setattr(cli, "_host", lambda: host)


def test_plan_shows_active_parameters_expert_share_and_router_loss(moe_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _host(monkeypatch)
    assert cli.main(["plan", "--model", str(moe_dir), "--cutoff-len", "512"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "active per token (2 of 8 experts)" in lines["parameters"]
    trainable = lines["trainable"]
    # r 8: attention 4 x r(in+out) per layer, experts 8 x r(256+1024 + 512+256) per layer, 4 layers
    attention = 4 * 8 * ((256 + 256) * 2 + (256 + 128) * 2)
    expert = 4 * 8 * 8 * ((256 + 1024) + (512 + 256))
    assert f"expert {expert / 1e3:.2f}K" in trainable and f"attention {attention / 1e3:.2f}K" in trainable
    assert "8 experts x 4 layers" in trainable
    assert "LoRA adapts no routed expert" not in out
    assert "router load-balancing loss kept in the training loss, coef 0.02" in lines["moe"]
    # the plugin's default dropout (refused by peft on fused experts) became 0, and says by whom
    dropout = next(line for line in out.splitlines() if line.strip().startswith("lora.dropout"))
    assert "0.0" in dropout and "fused-experts" in dropout

    assert cli.main(["plan", "--model", str(moe_dir), "--cutoff-len", "512", "--json",
                     "--set", "training.router_aux_loss_coef=0.1"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["parameters"]["trainable_by_role"] == {"attention": attention, "expert": expert}
    assert plan["router_loss"]["coef"] == 0.1 and plan["router_loss"]["source"] == "training.router_aux_loss_coef"


def test_a_users_dropout_on_fused_experts_is_refused_in_one_line(moe_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    _host(monkeypatch, dropout=0.0)
    assert cli.main(["plan", "--model", str(moe_dir), "--cutoff-len", "512", "--set", "lora.dropout=0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "cli: lora.dropout: lora.dropout=0.1" in err and "target_parameters" in err and "lora.dropout=0" in err
    config = tmp_path / "run.yaml"
    config.write_text("method: lora\nlora:\n  dropout: 0.2\n", encoding="utf-8")
    assert cli.main(["plan", "--model", str(moe_dir), "--cutoff-len", "512", str(config)]) == 2
    assert "run.yaml:3" in capsys.readouterr().err
    # module names of one's own replace the plugin's targets (experts frozen): dropout is fine
    assert cli.main(["plan", "--model", str(moe_dir), "--cutoff-len", "512", "--set", "lora.dropout=0.1",
                     "--set", "lora.target_modules=[q_proj,v_proj]"]) == 0
    out = capsys.readouterr().out
    assert "expert 0 (routed experts frozen)" in out
    assert "warning    LoRA adapts no routed expert" in out and "remove it to train them" in out
    assert cli.main(["plan", "--model", str(moe_dir), "--cutoff-len", "512", "--method", "dora"]) == 2
    assert "--method dora cannot adapt the fused MoE expert weights" in capsys.readouterr().err


def test_qlora_leaves_fused_experts_unquantized_and_counts_their_merged_copy() -> None:
    """bitsandbytes quantizes nn.Linear only (the experts stay in bf16: the framework undoes k-bit
    preparation's fp32 upcast for them); peft's ParamWrapper builds W + BA of a block's experts."""
    from transformers import MixtralConfig

    from framework.facts import facts_from_config
    from framework.planning import estimate

    config = MixtralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                           num_attention_heads=32, num_key_value_heads=8, num_local_experts=8, num_experts_per_tok=2)
    facts = facts_from_config(config.to_dict(), "mixtral-shaped")
    kw: dict[str, Any] = dict(micro_batch=1, seq_len=1024, lora_targets=list(ATTENTION))
    qlora = estimate(facts, method="qlora", lora_parameters=EXPERTS, **kw)
    experts = 32 * 8 * 3 * 4096 * 14336
    assert experts * 2 < qlora.breakdown["weights"] < experts * 2.2  # bf16, neither 4-bit nor fp32
    frozen = estimate(facts, method="lora", **kw)
    adapted = estimate(facts, method="lora", lora_parameters=EXPERTS, **kw)
    one_block = 8 * 3 * 4096 * 14336 * 2  # bf16 W + BA of one block's experts
    assert adapted.breakdown["activations"] - frozen.breakdown["activations"] >= one_block
    assert any("W + BA" in note for note in adapted.assumptions)
