"""Tiny Gemma 4 models train through the whole pipeline: plan, render, LoRA or QLoRA, 2 steps, save, reload.

Each model directory holds a random tiny Gemma 4 (text-only E-type with per-layer embeddings and KV
sharing, the multimodal wrapper, and the mixture-of-experts shape) and the synthetic Gemma 4 tokenizer
with the real control-token ids. Widths are 64 so bitsandbytes' CPU 4-bit kernels run (block size 64).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

ROWS = [
    {"messages": [{"role": "user", "content": f"Say number {i}."},
                  {"role": "assistant", "content": f"Number {i} it is."}]} for i in range(4)
] + [
    {"messages": [{"role": "system", "content": "Answer in Chinese."}, {"role": "user", "content": "你好"},
                  {"role": "assistant", "content": "你好！有什么可以帮你？"}]},
]
#: Widths the CPU 4-bit kernel takes: inputs >= 64, outputs a multiple of 32 (the router's output is the expert count).
WIDE = {"text": {"hidden_size_per_layer_input": 64}, "wrapper": {"hidden_size_per_layer_input": 64},
        "moe": {"num_experts": 32}, "unified": {}}
CASES = [("text", "lora"), ("wrapper", "lora"), ("moe", "lora"), ("unified", "lora"), ("text", "qlora"),
         ("moe", "qlora")]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("g4-data") / "chat.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory, tiny_gemma4: Any, tok4: Any) -> dict[str, Path]:
    dirs = {}
    for kind in WIDE:
        directory = tmp_path_factory.mktemp("g4-models") / f"tiny-gemma4-{kind}"
        tiny_gemma4(kind, **WIDE[kind]).save_pretrained(directory, safe_serialization=True)
        tok4.save_pretrained(directory)
        dirs[kind] = directory
    return dirs


def _args(model: Path, data: Path, out: Path, method: str) -> argparse.Namespace:
    settings = ["training.max_steps=2", "training.micro_batch_size=2", "training.logging_steps=1",
                "training.report_to=[]", "data.val_size=0", "training.warmup=0", "training.lr_scheduler=constant",
                "training.learning_rate=1e-2", "lora.dropout=0", "model.dtype=fp32"]
    return argparse.Namespace(
        config=None, model=str(model), data=[str(data)], format=None, method=method, stage="sft", output=str(out),
        plugin=None, cutoff_len=128, gpu=None, seq_schedule=None, set=settings, trust_remote_code=False,
        allow_pickle=False, no_packing=False, strict=False, overwrite_cache=False, resume=False, overwrite=False)


def _logits(model: Any, ids: Any) -> Any:
    import torch

    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits.float()


@pytest.mark.parametrize(("kind", "method"), CASES)
def test_gemma4_trains_saves_and_reloads(kind: str, method: str, model_dirs: dict[str, Path], data_file: Path,
                                         tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from framework.methods import quantization_config
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    said: list[str] = []
    plan = make_plan(_args(model_dirs[kind], data_file, tmp_path / "out", method), make_plugin_host(),
                     need_weights=True)
    assert plan.selection.name == "gemma" and plan.facts.variant.startswith("4-")
    result = run(plan, said.append)
    assert result.metrics["steps"] == 2 and result.metrics["train_samples"] == len(ROWS)
    trained = result.model.eval()
    if method == "qlora":
        assert any(type(m).__name__ == "Linear4bit" for m in trained.modules())
    deltas = [p for n, p in trained.named_parameters() if "lora_B" in n]
    assert deltas and any(p.abs().sum() > 0 for p in deltas)  # two steps moved the adapter
    if kind == "moe":
        assert any(p.abs().sum() > 0 for n, p in trained.named_parameters() if "experts" in n and "lora_B" in n)
    ids = torch.tensor([[2, 105, 400, 500, 106, 107, 105, 600, 107]])
    quant = quantization_config(method, "fp32") if method == "qlora" else None
    base = AutoModelForCausalLM.from_pretrained(model_dirs[kind], dtype=torch.float32, quantization_config=quant)
    reloaded = PeftModel.from_pretrained(base, result.output_dir).eval()
    assert torch.allclose(_logits(reloaded, ids), _logits(trained, ids), atol=1e-5)
    config = json.loads((result.output_dir / "adapter_config.json").read_text())
    assert not any("per_layer" in str(t) or "router" in str(t) for t in (config.get("target_modules") or []))


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
AGENT_ROWS = [
    {"messages": [{"role": "user", "content": f"{a}*{b}?"},
                  {"role": "assistant", "content": str(a * b), "reasoning_content": f"{a} times {b} is {a * b}."}]}
    for a, b in ((17, 23), (12, 11), (9, 8))
] + [
    {"tools": TOOLS, "messages": [
        {"role": "user", "content": f"Weather in {city}?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18 C"},
        {"role": "assistant", "content": f"{city}: 18 C."}]}
    for city in ("Paris", "北京")
]


def test_gemma4_learns_reasoning_and_tool_calls_and_stops_on_its_turn_tokens(model_dirs: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    """Reasoning and tool-call data (OpenAI shape, JSON-string arguments, Chinese) train through the core with the
    Gemma 4 renderer; the loss falls and the saved generation config stops on <turn|> and <|tool_response>."""
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    data = tmp_path / "agent.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in AGENT_ROWS), encoding="utf-8")
    args = _args(model_dirs["text"], data, tmp_path / "out", "lora")
    args.cutoff_len = 512  # the tool samples are ~210 tokens with the declarations
    args.set = [s for s in args.set if not s.startswith("training.max_steps")] + [
        "training.max_steps=6", "training.micro_batch_size=5"]
    result = run(make_plan(args, make_plugin_host(), need_weights=True), lambda _: None)
    assert result.metrics["train_samples"] == len(AGENT_ROWS)
    assert result.metrics["train_loss_last"] < result.metrics["train_loss_first"]
    generation = json.loads((result.output_dir / "generation_config.json").read_text())
    stops = generation["eos_token_id"] if isinstance(generation["eos_token_id"], list) else [generation["eos_token_id"]]
    assert {106, 50} <= set(stops)  # <turn|> and the hand-over to a tool


def test_check_names_the_shipped_template_evidence(model_dirs: dict[str, Path], data_file: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A model directory shipping Gemma 4's E2B/E4B template: `framework check` says the template decided the format,
    and the probe drift check finds the plugin's rendering equal to the shipped template's."""
    import shutil

    from framework.cli import main

    directory = tmp_path / "with-template"
    shutil.copytree(model_dirs["text"], directory)
    template = Path(__file__).resolve().parent / "oracles" / "2026" / "templates" / "google-gemma-4-E2B-it.jinja"
    shutil.copy(template, directory / "chat_template.jinja")
    assert main(["check", "--model", str(directory), "--data", str(data_file)]) == 0
    out = capsys.readouterr().out
    assert ("chat template of the model directory: Gemma 4 turn markers <|turn>/<turn|>, no pre-filled thought block "
            "(E2B/E4B template)") in out
    assert "template-drift" not in out


def test_no_drift_is_reported_for_the_pre_filled_thought_block(model_dirs: dict[str, Path], data_file: Path,
                                                               tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The 12B/26B/31B template pre-fills an empty thought block in the inference prompt that a finished turn never
    shows: a trained sample is that prompt plus the reply, so the drift check compares against the prompt only."""
    import shutil

    from framework.cli import main

    directory = tmp_path / "with-31b-template"
    shutil.copytree(model_dirs["text"], directory)
    template = Path(__file__).resolve().parent / "oracles" / "2026" / "templates" / "google-gemma-4-31B-it.jinja"
    shutil.copy(template, directory / "chat_template.jinja")
    assert main(["check", "--model", str(directory), "--data", str(data_file)]) == 0
    out = capsys.readouterr().out
    assert "chat template of the model directory" in out
    assert "template-drift" not in out
