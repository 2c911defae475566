"""``framework run`` on Qwen3 reasoning and tool-call data: the shipped Qwen3 template in the model
directory decides the variant, the plugin renders the data, the loss falls, and the saved run prompts
``framework chat`` with the tools and stops on <|im_end|>."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "天气 / weather",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(8):
        rows.append({"tools": TOOLS, "messages": [
            {"role": "user", "content": f"北京 {i} 号天气？"},
            {"role": "assistant", "content": "", "reasoning_content": "需要查天气。", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "北京"}}}]},
            {"role": "tool", "content": f"{i} 度"},
            {"role": "assistant", "content": f"{i} 度。", "reasoning_content": f"工具说 {i} 度。"}]})
        rows.append({"messages": [
            {"role": "user", "content": f"{i} + 1 = ?"},
            {"role": "assistant", "content": f"{i + 1}", "reasoning_content": f"{i} plus 1 is {i + 1}."}]})
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any, tiny_dense: Any, template: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    model_dir = tmp_path_factory.mktemp("tiny-qwen3") / "checkpoint"  # the name says nothing
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny_dense("qwen3", vocab_size=151936, eos_token_id=151645)).save_pretrained(
        model_dir)
    tokenizer.chat_template = template("qwen3-1.7b.rev-openvino.jinja")
    try:
        tokenizer.save_pretrained(model_dir)
    finally:
        tokenizer.chat_template = None
    out = tmp_path_factory.mktemp("run") / "out"
    data = out.parent / "reasoning_tools.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows()), encoding="utf-8")
    args = argparse.Namespace(
        config=None, model=str(model_dir), data=[str(data)], format=None, method=None, stage=None,
        output=str(out), plugin=None, cutoff_len=512, gpu=None, seq_schedule=None, trust_remote_code=False,
        allow_pickle=False, no_packing=False, strict=False, overwrite_cache=False, resume=False, overwrite=False,
        set=["training.max_steps=8", "training.learning_rate=3e-2", "training.logging_steps=1",
             "training.report_to=[]", "data.val_size=0", "training.micro_batch_size=2", "training.grad_accum=1"])
    plan = make_plan(args, make_plugin_host(), need_weights=True)
    return run(plan, lambda _: None)


def test_reasoning_and_tool_data_train_with_the_plugin(trained: Any) -> None:
    record = json.loads((trained.output_dir / "training_config.json").read_text())
    assert record["plugin"]["name"] == "qwen" and record["plugin"]["variant"] == "3"
    assert record["plugin"]["chat_format"]["format"] == "plugin"
    m = trained.metrics
    assert m["steps"] == 8 and m["train_loss_last"] < m["train_loss_first"] - 0.2


def test_chat_prompts_with_the_tools_and_stops_on_im_end(trained: Any) -> None:
    from framework.hookdata import ChatOptions
    from framework.inference import generate, load_run

    run = load_run(trained.output_dir)
    assert run.tokenizer.convert_ids_to_tokens(run.stop_ids)[0] == "<|im_end|>"
    messages = [{"role": "user", "content": "北京 3 号天气？"}]
    prompt = run.render(messages, ChatOptions(add_generation_prompt=True), TOOLS).text
    assert prompt.startswith("<|im_start|>system\n# Tools\n") and '"name": "get_weather"' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert isinstance(generate(run, messages, max_new_tokens=8, tools=TOOLS), str)
