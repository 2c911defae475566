"""``framework run`` on Llama 3.1 tool-use data: the plugin renders it, the loss falls, the saved run
prompts ``framework chat`` with the tools and stops on <|eot_id|>/<|eom_id|>."""

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
    for i in range(16):
        rows.append({"tools": TOOLS, "messages": [
            {"role": "user", "content": f"北京 {i} 号天气？"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "北京"}}}]},
            {"role": "tool", "content": f"{i} 度"},
            {"role": "assistant", "content": f"{i} 度。"}]})
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tok31: Any, tiny_config: Any) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    model_dir = tmp_path_factory.mktemp("tiny-llama31")
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192, "rope_theta": 500000.0}
    config = tiny_config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=131072, eos_token_id=[128001, 128008, 128009])
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**config, rope_parameters=rope)).save_pretrained(model_dir)
    tok31.save_pretrained(model_dir)
    out = tmp_path_factory.mktemp("run") / "out"
    data = out.parent / "tools.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows()), encoding="utf-8")
    args = argparse.Namespace(
        model=str(model_dir), data=[str(data)], output=str(out), cutoff_len=512,
        set=["training.max_steps=8", "training.learning_rate=1e-2", "training.logging_steps=1",
             "training.report_to=[]", "data.val_size=0", "training.micro_batch_size=2"])
    plan = make_plan(args, make_plugin_host(), need_weights=True)
    return run(plan, lambda _: None)


def test_tool_data_trains_with_the_plugin(trained: Any) -> None:
    record = json.loads((trained.output_dir / "training_config.json").read_text())
    assert record["plugin"]["name"] == "llama3" and record["plugin"]["variant"] == "3.1"
    assert record["plugin"]["chat_format"]["format"] == "plugin"
    m = trained.metrics
    assert m["steps"] == 8 and m["train_loss_last"] < m["train_loss_first"] - 0.2


def test_chat_prompts_with_the_tools_and_stops_on_end_of_turn(trained: Any) -> None:
    from framework.hookdata import ChatOptions
    from framework.inference import generate, load_run

    run = load_run(trained.output_dir)
    assert run.tokenizer.convert_ids_to_tokens(run.stop_ids)[:2] == ["<|eot_id|>", "<|eom_id|>"]
    prompt = run.render([{"role": "user", "content": "北京 3 号天气？"}], ChatOptions(add_generation_prompt=True),
                        TOOLS).text
    assert "Environment: ipython\n" in prompt and '"name": "get_weather"' in prompt
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert isinstance(generate(run, [{"role": "user", "content": "北京 3 号天气？"}], max_new_tokens=8, tools=TOOLS),
                      str)
