"""A tiny llama4_text model with the real vocabulary trains 2 LoRA steps through ``framework run``.

The run goes through the installed plugins like a user's: selection, the plugin's chat format
(tool samples included), its LoRA targets with the fused experts as ``target_parameters``.
Then: the routed experts' adapter changed their output, the router was never targeted, and the
saved adapter reloads with ``PeftModel.from_pretrained`` to the same logits.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "天气",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(12):
        rows.append({"messages": [{"role": "user", "content": f"数字 {i} 是多少？"},
                                  {"role": "assistant", "content": f"Number {i} it is."}]})
        rows.append({"tools": TOOLS, "messages": [
            {"role": "user", "content": f"Weather in city {i}?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": f"c{i}"}}}]},
            {"role": "tool", "content": f"{i} degrees"},
            {"role": "assistant", "content": f"It is {i} degrees."}]})
    return rows


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tok4: Any, tiny_text_config: Any) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama4")
    config = tiny_text_config()
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config)).save_pretrained(path)
    tok4.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def trained(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    out = tmp_path_factory.mktemp("run") / "out"
    data = out.parent / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows()), encoding="utf-8")
    args = argparse.Namespace(
        model=str(model_dir), data=[str(data)], output=str(out), cutoff_len=512,
        set=["training.max_steps=2", "training.learning_rate=5e-2", "training.logging_steps=1",
             "training.report_to=[]", "data.val_size=0"])
    plan = make_plan(args, make_plugin_host(), need_weights=True)
    return run(plan, lambda _: None)


def test_run_used_the_plugin_and_trained_the_experts(trained: Any) -> None:
    import torch

    record = json.loads((trained.output_dir / "training_config.json").read_text())
    assert record["plugin"]["name"] == "llama4" and trained.metrics["steps"] == 2
    model = trained.model.eval()
    experts = model.base_model.model.model.layers[0].feed_forward.experts
    x = torch.randn(4 * 3, 32)  # (experts x tokens, hidden): the routed experts' input layout
    with torch.no_grad():
        adapted = experts(x)
        with model.disable_adapter():
            base = experts(x)
    assert (adapted - base).abs().max() > 1e-6  # the expert LoRA delta is nonzero after training


def test_adapter_holds_experts_not_router(trained: Any, model_dir: Path) -> None:
    from safetensors.torch import load_file

    keys = list(load_file(trained.output_dir / "adapter_model.safetensors"))
    assert any("feed_forward.experts" in k for k in keys) and any("self_attn.q_proj" in k for k in keys)
    assert any("shared_expert.gate_proj" in k for k in keys)
    assert not any("router" in k for k in keys)
    config = json.loads((trained.output_dir / "adapter_config.json").read_text())
    assert sorted(config["target_parameters"]) == ["feed_forward.experts.down_proj",
                                                   "feed_forward.experts.gate_up_proj"]


def test_adapter_reloads_to_the_same_logits(trained: Any, model_dir: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[200000, 200005, 882, 200006, 271, 13, 200008, 200005, 78191, 200006, 271, 13, 14]])
    with torch.no_grad():
        expected = trained.model.eval()(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        got = PeftModel.from_pretrained(base, trained.output_dir).eval()(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-5)


def test_generation_config_stops_at_the_end_of_turn(trained: Any) -> None:
    config = json.loads((trained.output_dir / "generation_config.json").read_text())
    stops = config["eos_token_id"] if isinstance(config["eos_token_id"], list) else [config["eos_token_id"]]
    assert {200008, 200007} <= set(stops)  # <|eot|>, <|eom|>


def test_expert_adapter_merges_into_the_same_logits(trained: Any, model_dir: Path) -> None:
    """peft merges the fused-expert adapter (ParamWrapper) into the 3-D weights: merge keeps the logits."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[200000, 200005, 882, 200006, 271, 13, 14, 200008]])
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, trained.output_dir).eval()
    with torch.no_grad():
        expected = adapted(input_ids=ids).logits
        merged = adapted.merge_and_unload()
        assert not any("lora" in n for n, _ in merged.named_parameters())
        assert torch.allclose(expected, merged(input_ids=ids).logits, atol=1e-4)


def test_qlora_reaches_the_experts(tmp_path: Path, tiny_text_config: Any) -> None:
    """4-bit linear layers (bitsandbytes on CPU) with the fused experts, kept in float, adapted by peft.

    Its own model: bitsandbytes' CPU 4-bit kernel needs layers wider than the 16 rows of the shared tiny model.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

    from framework.facts import facts_from_config
    from framework_llama4 import plugin

    config = tiny_text_config(vocab_size=512, hidden_size=64, head_dim=16, bos_token_id=1, eos_token_id=2,
                              pad_token_id=0)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.for_model(config["model_type"], **{
        k: v for k, v in config.items() if k != "model_type"})).save_pretrained(tmp_path)
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=quant)
    targets = plugin.lora_target_modules(facts_from_config(config, "tiny"), "qlora", False)
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets.target_modules,
                      target_parameters=list(targets.target_parameters), exclude_modules=list(targets.exclude_modules))
    peft_model = get_peft_model(model, lora)
    layer = peft_model.base_model.model.model.layers[0]
    assert type(layer.self_attn.q_proj.base_layer).__name__ == "Linear4bit"
    assert type(layer.feed_forward.experts).__name__ == "ParamWrapper"
    ids = torch.tensor([[1, 5, 9, 33, 7, 2]])
    peft_model(input_ids=ids, labels=ids).loss.backward()
    grads = {n: p.grad for n, p in peft_model.named_parameters() if p.requires_grad and "experts" in n}
    assert grads and all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)


def test_chat_prompts_with_tools_and_stops_on_end_of_turn(trained: Any) -> None:
    from framework.hookdata import ChatOptions
    from framework.inference import generate, load_run

    run = load_run(trained.output_dir)
    assert run.tokenizer.convert_ids_to_tokens(run.stop_ids)[:2] == ["<|eot|>", "<|eom|>"]
    messages = [{"role": "user", "content": "Weather in city 3?"}]
    prompt = run.render(messages, ChatOptions(add_generation_prompt=True), TOOLS).text
    assert '"name": "get_weather"' in prompt and prompt.endswith("<|header_start|>assistant<|header_end|>\n\n")
    assert isinstance(generate(run, messages, max_new_tokens=6, tools=TOOLS), str)


def test_multimodal_checkpoint_trains_its_language_model(tmp_path: Path, tok4: Any, tiny_text_config: Any) -> None:
    """A Llama4ForConditionalGeneration checkpoint: claimed as the wrapper, trained as its language model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, Llama4Config, Llama4ForConditionalGeneration

    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    text = {k: v for k, v in tiny_text_config().items() if k != "architectures"}
    vision = {"model_type": "llama4_vision_model", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": 28, "patch_size": 14, "vision_output_dim": 16,
              "projector_input_dim": 16, "projector_output_dim": 32}
    torch.manual_seed(0)
    model_dir, out = tmp_path / "wrapper", tmp_path / "out"
    Llama4ForConditionalGeneration(Llama4Config(text_config=text, vision_config=vision)).save_pretrained(model_dir)
    tok4.save_pretrained(model_dir)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows()[:8]), encoding="utf-8")
    args = argparse.Namespace(
        model=str(model_dir), data=[str(data)], output=str(out), cutoff_len=512,
        set=["training.max_steps=1", "training.report_to=[]", "data.val_size=0"])
    result = run(make_plan(args, make_plugin_host(), need_weights=True), lambda _: None)
    record = json.loads((out / "training_config.json").read_text())
    assert record["plugin"]["name"] == "llama4"
    assert "multimodal wrapper: only the language model is trained" in record["plugin"]["reasons"]
    ids = torch.tensor([[200000, 200005, 882, 200006, 271, 13, 14, 200008]])
    with torch.no_grad():
        expected = result.model.eval()(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        assert not any("vision" in n for n, _ in base.named_parameters())
        got = PeftModel.from_pretrained(base, out).eval()(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-5)
