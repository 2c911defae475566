"""--method adapter: bottleneck adapters train, save on their own, reload to the same logits, refuse merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 12]])
SETS = ["training.learning_rate=1e-2", "adapter.dim=8", "adapter.dropout=0"]


def _logits(model: Any) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=IDS).logits.float()


@pytest.fixture(scope="module")
def adapter_run(train: Any) -> Any:
    return train(method="adapter", sets=SETS)


def test_adapter_trains_only_adapters_lowers_loss_and_reloads(adapter_run: Any, tiny_model_dir: Path) -> None:
    from safetensors.torch import load_file

    from framework.inference import load_run

    run = adapter_run
    assert run.metrics["train_loss_last"] < run.metrics["train_loss_first"], run.metrics["train_history"]
    trained = {n for n, p in run.model.named_parameters() if p.requires_grad}
    # two adapters (attention, mlp) x two layers x (down, up) x (weight, bias)
    assert len(trained) == 16 and all(".bottleneck_" in n for n in trained)
    out = run.output_dir
    assert not (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    saved = json.loads((out / "bottleneck_config.json").read_text())
    assert saved["dim"] == 8 and saved["placement"] == "both" and saved["nonlinearity"] == "relu"
    weights = load_file(out / "bottleneck_adapter.safetensors")
    assert set(weights) == trained
    assert any(k.endswith("up.weight") and weights[k].abs().sum() > 0 for k in weights)  # left zero: learned

    base = load_run(out, adapter=False)
    trained_logits = _logits(run.model)
    assert not torch.allclose(_logits(base.model), trained_logits, atol=1e-4)
    reloaded = load_run(out)
    assert torch.allclose(_logits(reloaded.model), trained_logits, atol=1e-5)


def test_fresh_adapters_leave_the_base_model_unchanged(tiny_model_dir: Path) -> None:
    """up starts at zero (Houlsby et al.): the adapted model starts as the base model."""
    from transformers import AutoModelForCausalLM

    from framework.bottleneck import attach

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    before = _logits(model)
    added = attach(model, dim=4, placement="mlp", nonlinearity="gelu", dropout=0.0)
    assert added == model.config.num_hidden_layers
    assert torch.equal(_logits(model), before)


def test_merge_refuses_in_one_line(adapter_run: Any) -> None:
    from framework.errors import ConfigError
    from framework.inference import merge

    with pytest.raises(ConfigError) as caught:
        merge(adapter_run.output_dir)
    line = caught.value.line()
    assert "nothing to merge" in line and "\n" not in line


def test_eval_compares_with_the_base(adapter_run: Any, data_files: dict[str, Path]) -> None:
    from framework.evaluate import evaluate_run

    report = evaluate_run(adapter_run.output_dir, [str(data_files["sft"])])
    before, after = report["perplexity"]
    assert after < before


def test_damaged_adapter_weights_are_refused(adapter_run: Any, tmp_path: Path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    from framework.errors import ModelError
    from framework.inference import load_run

    copy = tmp_path / "run"
    shutil.copytree(adapter_run.output_dir, copy)
    weights = load_file(copy / "bottleneck_adapter.safetensors")
    weights.pop(sorted(weights)[0])
    save_file(weights, str(copy / "bottleneck_adapter.safetensors"))
    with pytest.raises(ModelError, match="do not match"):
        load_run(copy)


def test_chat_answers_through_the_adapters(adapter_run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from framework.cli import main

    assert main(["chat", str(adapter_run.output_dir), "--prompt", "Say number 2.", "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.strip()


def test_adapter_run_resumes_to_the_same_adapters(adapter_run: Any, tiny_model_dir: Path,
                                                  data_files: dict[str, Path], tmp_path: Path) -> None:
    """A checkpoint holds the adapters only; --resume continues to the same ones."""
    import shutil

    from safetensors.torch import load_file

    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run
    from tests.methods.conftest import run_args

    def start(out: Path, **flags: Any) -> Any:
        settings = ["training.max_steps=4", "training.micro_batch_size=4", "training.logging_steps=1",
                    "training.report_to=[]", "data.val_size=0", "training.warmup=0", "training.lr_scheduler=constant",
                    "lora.dropout=0", "training.save_steps=2", "training.save_total_limit=5", *SETS]
        args = run_args(model=str(tiny_model_dir), data=[str(data_files["sft"])], output=str(out), method="adapter",
                        stage="sft", cutoff_len=128, set=settings, **flags)
        return run(make_plan(args, make_plugin_host(), need_weights=True), lambda _: None)

    whole = tmp_path / "whole"
    start(whole)
    checkpoint = whole / "checkpoint-2"
    assert (checkpoint / "bottleneck_adapter.safetensors").is_file() and (checkpoint / "optimizer.pt").is_file()
    assert not (checkpoint / "model.safetensors").exists()  # the frozen base is not copied into checkpoints
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(whole / "checkpoint-2", resumed / "checkpoint-2")  # as if killed after step 2
    result = start(resumed, resume=True)
    assert result.metrics["resumed_from_step"] == 2 and result.metrics["steps"] == 4
    expected = load_file(whole / "bottleneck_adapter.safetensors")
    got = load_file(resumed / "bottleneck_adapter.safetensors")
    assert expected.keys() == got.keys()
    assert max(float((expected[k] - got[k]).abs().max()) for k in expected) < 1e-5


def test_dpo_trains_adapters_against_the_untouched_base(train: Any) -> None:
    run = train(method="adapter", stage="dpo", sets=["training.max_steps=4", "training.learning_rate=1e-2",
                                                     "adapter.dim=8", "adapter.dropout=0"])
    m = run.metrics
    assert m["train_loss_first"] == pytest.approx(0.6931, abs=1e-3)  # zero-initialised adapters: policy == reference
    assert m["train_loss_last"] < m["train_loss_first"]
    assert (run.output_dir / "bottleneck_adapter.safetensors").exists()
    assert not (run.output_dir / "model.safetensors").exists()


@pytest.mark.parametrize("model_type", ["llama", "qwen3", "mistral", "gemma2", "gemma3_text", "phi3", "qwen3_moe"])
def test_adapters_attach_to_each_architecture_start_as_identity_and_train(model_type: str) -> None:
    """Attention modules that return tuples, post-attention norms (Gemma) and MoE MLPs (Qwen3-MoE):
    zero-initialised adapters leave the logits as they were, and a step moves them."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from framework.bottleneck import attach

    config = AutoConfig.for_model(model_type, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=8, vocab_size=300,
                                  moe_intermediate_size=16, num_experts=4, num_experts_per_tok=2, pad_token_id=0)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).float()
    before = _logits(model)
    for p in model.parameters():
        p.requires_grad_(False)
    assert attach(model, dim=4, placement="both", nonlinearity="relu", dropout=0.0) == 4
    assert torch.allclose(_logits(model), before, atol=1e-6)
    trained = [p for n, p in model.named_parameters() if ".bottleneck_" in n]
    for p in trained:
        p.requires_grad_(True)
    model.train()
    optimizer = torch.optim.AdamW(trained, lr=1e-2)
    for _ in range(2):
        loss = model(input_ids=IDS, labels=IDS).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert not torch.allclose(_logits(model), before, atol=1e-4)



def test_the_best_checkpoint_is_loaded_from_its_adapter_file(train: Any) -> None:
    """load_best_model_at_end (a run with evaluation) reads the adapters of the best checkpoint."""
    from types import SimpleNamespace

    from safetensors.torch import load_file

    from framework.training.trainer import TrainerHabits

    run = train(method="adapter", sets=[*SETS, "data.val_size=0.25", "training.eval_steps=2", "training.save_steps=2",
                                        "training.save_total_limit=5"])
    best = Path(run.metrics["best_checkpoint"])
    assert not (best / "model.safetensors").exists()
    earlier = run.output_dir / "checkpoint-2"
    saved = load_file(earlier / "bottleneck_adapter.safetensors")
    assert any(not torch.equal(saved[k], v) for k, v in load_file(best / "bottleneck_adapter.safetensors").items())
    stand_in = SimpleNamespace(model=run.model, state=SimpleNamespace(best_model_checkpoint=str(earlier)))
    TrainerHabits._load_best_model(stand_in)  # as if checkpoint-2 had evaluated best
    state = run.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())


def test_adapters_stay_fp32_on_a_bf16_model_and_return_its_dtype(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from framework.bottleneck import attach

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
    attach(model, dim=8, placement="both", nonlinearity="silu", dropout=0.0)
    adapters = [p for n, p in model.named_parameters() if ".bottleneck_" in n]
    assert adapters and all(p.dtype == torch.float32 for p in adapters)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in adapters:
        p.requires_grad_(True)
    out = model(input_ids=IDS, labels=IDS)
    assert out.logits.dtype == torch.bfloat16
    out.loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in adapters)
