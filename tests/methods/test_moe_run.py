"""A LoRA run on a tiny mixture of experts through the core, then `framework merge`.

The plugin answers as the family plugins do for an MoE (attention by module name, the fused
experts by ``target_parameters``, the router excluded) and leaves the core's default dropout,
which peft refuses on fused experts: the plan sets it to 0 and says so.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
import torch

from framework import hookimpl
from framework.hookdata import LoraTargets, MatchResult

EXPERTS = ("mlp.experts.gate_up_proj", "mlp.experts.down_proj")


def _moe_plugin() -> types.ModuleType:
    module = types.ModuleType("moe_family")

    @hookimpl
    def match_model(facts):  # type: ignore[no-untyped-def]
        return MatchResult(score=100, variant="moe", reasons=("num_local_experts",)) if facts.num_experts else None

    @hookimpl
    def lora_target_modules(facts, method, train_embeddings):  # type: ignore[no-untyped-def]
        return LoraTargets(target_modules=("q_proj", "k_proj", "v_proj", "o_proj"), target_parameters=EXPERTS,
                           exclude_modules=("mlp.gate",))

    module.match_model = match_model  # type: ignore[attr-defined]
    module.lora_target_modules = lora_target_modules  # type: ignore[attr-defined]
    return module


@pytest.fixture(scope="module")
def moe_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("moe") / "tiny-moe", model_type="mixtral", num_local_experts=4,
                            num_experts_per_tok=2, router_aux_loss_coef=0.02)


def test_lora_run_trains_the_experts_and_merge_folds_them_in(moe_model_dir: Path, data_files: dict[str, Path],
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from framework.inference import merge
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    from .conftest import run_args

    import framework.plugins

    host = make_plugin_host(load_entrypoints=False)
    host.register(_moe_plugin(), "moefam")
    monkeypatch.setattr(framework.plugins, "make_plugin_host", lambda **_: host)  # merge finds the plugin too
    sets = ["training.max_steps=3", "training.micro_batch_size=4", "training.logging_steps=1",
            "training.report_to=[]", "data.val_size=0", "training.warmup=0", "training.lr_scheduler=constant",
            "training.learning_rate=3e-2"]
    args = run_args(model=str(moe_model_dir), data=[str(data_files["sft"])], output=str(tmp_path / "out"),
                    method="lora", stage="sft", cutoff_len=128, set=sets)
    plan = make_plan(args, host, need_weights=True)
    assert plan.config.lora.dropout == 0.0 and dict((k, s) for k, _, s in plan.resolved.items())[
        "lora.dropout"] == "fused-experts"
    assert plan.router_loss is not None and plan.router_loss.coef == 0.02
    said: list[str] = []
    result = run(plan, said.append)
    method = next(line for line in said if line.startswith("method lora: trainable params"))
    assert "expert params:" in method and "router load-balancing loss coef 0.02" in method

    saved = load_file(result.output_dir / "adapter_model.safetensors")
    assert any(".mlp.experts.lora_A" in k for k in saved) and not any(".mlp.gate." in k for k in saved)
    expert_b = [v for k, v in saved.items() if ".mlp.experts.lora_B" in k]
    assert expert_b and all(float(v.abs().max()) > 0 for v in expert_b)  # B starts at zero: it trained

    base = AutoModelForCausalLM.from_pretrained(moe_model_dir, dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, result.output_dir).eval()
    wrapper = next(m for n, m in adapted.named_modules()  # peft nests one ParamWrapper per fused parameter
                   if "layers.0.mlp.experts" in n and getattr(m, "parameter_name", None) == "gate_up_proj")
    delta = wrapper.get_delta_weight("default").detach()
    base_w = AutoModelForCausalLM.from_pretrained(moe_model_dir, dtype=torch.float32).model.layers[0].mlp.experts
    assert float(delta.abs().max()) > 1e-3

    merged_dir = merge(result.output_dir, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    folded = merged.model.layers[0].mlp.experts.gate_up_proj
    expected = (base_w.gate_up_proj + delta).to(torch.bfloat16).float()  # merge saves bf16
    torch.testing.assert_close(folded, expected, atol=2e-3, rtol=1e-2)
    ids = torch.tensor([[5, 17, 42, 99, 7, 3, 25, 12]])
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=0.05, rtol=0.05)
