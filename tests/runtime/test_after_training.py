"""After training: merge reproduces the adapter, chat answers and stops, eval shows the gain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from framework.cli import main
from framework.inference import generate, load_run

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 11]])


def _logits(model: Any) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits.float()


def test_merge_reproduces_the_adapter_logits(reference_run: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoModelForCausalLM

    run = load_run(reference_run)
    adapter_logits = _logits(run.model)
    merged_fp32 = load_run(reference_run).model.merge_and_unload().eval()
    assert torch.allclose(_logits(merged_fp32), adapter_logits, atol=1e-5)  # the merge itself is exact

    dest = tmp_path / "merged"
    assert main(["merge", str(reference_run), "--dest", str(dest)]) == 0
    assert f"merged model written to {dest}" in capsys.readouterr().out
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (dest / name).exists(), name
    saved = AutoModelForCausalLM.from_pretrained(dest, dtype=torch.bfloat16).eval()
    expected = {k: v.to(torch.bfloat16) for k, v in merged_fp32.state_dict().items()}
    for key, value in saved.state_dict().items():
        assert torch.equal(value, expected[key]), key  # bf16 file = the fp32 merge rounded once
    bf16_logits = _logits(saved.float())
    scale = float(adapter_logits.abs().max())
    assert float((bf16_logits - adapter_logits).abs().max()) <= 2**-7 * scale * 4  # bf16 weight rounding


def test_chat_answers_with_the_runs_template(reference_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", str(reference_run), "--prompt", "Say number 3.", "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out.strip()


def _force(model: Any, token_id: int) -> Any:
    """Make ``token_id`` the greedy choice at every position (a hook on the output head)."""
    head = model.get_output_embeddings()

    def hook(module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        output[..., token_id] += 1000.0
        return output

    return head.register_forward_hook(hook)


def test_generation_stops_on_the_runs_stop_token(reference_run: Path) -> None:
    run = load_run(reference_run)
    stop = run.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert stop in run.stop_ids  # with the tokenizer's eos
    record = json.loads((reference_run / "generation_config.json").read_text())
    assert stop in (record["eos_token_id"] if isinstance(record["eos_token_id"], list) else [record["eos_token_id"]])
    messages = [{"role": "user", "content": "Say number 3."}]
    handle = _force(run.model, stop)
    try:
        assert generate(run, messages, max_new_tokens=20) == ""  # stopped right at <|im_end|>
    finally:
        handle.remove()
    other = run.tokenizer.convert_tokens_to_ids("Number") if "Number" in run.tokenizer.get_vocab() else 300
    handle = _force(run.model, other)
    try:
        answer = generate(run, messages, max_new_tokens=20)
    finally:
        handle.remove()
    assert len(run.tokenizer(answer, add_special_tokens=False)["input_ids"]) >= 15  # no stop: ran to the limit


def test_eval_prints_perplexity_lower_after_training(reference_run: Path, train_file: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(reference_run), "--data", str(train_file)]) == 0
    out = capsys.readouterr().out
    assert "metric" in out and "before" in out and "after" in out and "perplexity" in out
    before, after = json.loads((reference_run / "eval.json").read_text())["perplexity"]
    assert after < before
