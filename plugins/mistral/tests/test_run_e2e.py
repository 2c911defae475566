"""``framework run`` end to end on tiny Mistral models with tool and reasoning data (2 steps each).

* a tiny Mixtral with the v3 vocabulary and the v0.3 Hub template: tool-call data, the fused
  experts get adapters that move, the router none, and the saved adapter reloads to the same logits;
* a tiny Magistral (Tekken v13 vocabulary, mistral-common's generated v13 think template in the
  directory): the template decides the variant, reasoning + tool data train.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from .test_tools import WEATHER, call


def rows(reasoning: bool) -> list[dict[str, Any]]:
    out = []
    for i in range(4):
        answer = {"role": "assistant", "content": f"{2 * i}"}
        if reasoning:
            answer["reasoning_content"] = f"{i} plus {i} is {2 * i}."
        out.append({"messages": [{"role": "user", "content": f"What is {i} + {i}?"}, answer]})
        final = {"role": "assistant", "content": "北京20度。"}
        if reasoning:
            final["reasoning_content"] = "工具说20度。"
        out.append({"tools": [WEATHER], "messages": [
            {"role": "user", "content": f"北京第{i}天的天气？"},
            {"role": "assistant", "content": "", "tool_calls": [call(f"a{i}B2c3D4e", "get_weather", city="北京")]},
            {"role": "tool", "content": '{"temp": 20}', "tool_call_id": f"a{i}B2c3D4e"}, final]})
    return out


def _args(model: Path, data: Path, output: Path) -> argparse.Namespace:
    return argparse.Namespace(
        config=None, model=str(model), data=[str(data)], format=None, method="lora", stage=None, output=str(output),
        plugin=None, cutoff_len=256, gpu=None, seq_schedule=None, trust_remote_code=False, allow_pickle=False,
        no_packing=False, strict=False, overwrite_cache=False, resume=False, overwrite=False,
        set=["training.max_steps=2", "training.learning_rate=5e-2", "training.report_to=[]", "data.val_size=0",
             "training.micro_batch_size=2", "training.grad_accum=1", "training.logging_steps=1", "lora.r=4"])


def write_data(directory: Path, reasoning: bool) -> Path:
    data = directory / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows(reasoning)), encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def mixtral_dir(tmp_path_factory: pytest.TempPathFactory, build_tokenizer: Any, official: Any, tiny: Any) -> Path:
    import torch
    from transformers import MixtralForCausalLM

    path = tmp_path_factory.mktemp("mixtral") / "tiny-mixtral-v3"
    torch.manual_seed(0)
    MixtralForCausalLM(tiny.mixtral(vocab_size=32768, bos_token_id=1, eos_token_id=2)).save_pretrained(path)
    tok = build_tokenizer("mistral_instruct_tokenizer_240323.model.v3", "first")
    tok.chat_template = official.template("mistral-7b-instruct-v0.3.jinja")
    tok.save_pretrained(path)
    return path


def test_mixtral_run_trains_the_experts_and_reloads(mixtral_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    plan = make_plan(_args(mixtral_dir, write_data(tmp_path, False), tmp_path / "out"), make_plugin_host(),
                     need_weights=True)
    assert plan.selection.name == "mistral" and plan.facts.variant == "mixtral-v3"
    assert any("Mistral [INST] control tokens" in r for r in plan.selection.match.reasons)
    result = run(plan, lambda _: None)
    assert result.metrics["steps"] == 2
    saved = load_file(result.output_dir / "adapter_model.safetensors")
    experts = [v for k, v in saved.items() if "mlp.experts" in k and "lora_B" in k]
    assert experts and all(v.abs().max() > 0 for v in experts)
    assert not any(".mlp.gate." in k for k in saved)
    ids = torch.tensor([[1, 3, 1032, 4, 1032, 2]])
    base = AutoModelForCausalLM.from_pretrained(mixtral_dir, dtype=torch.float32)
    reloaded = PeftModel.from_pretrained(base, result.output_dir).eval()
    with torch.no_grad():
        assert torch.allclose(result.model.eval()(input_ids=ids).logits, reloaded(input_ids=ids).logits, atol=1e-5)


def test_magistral_run_trains_reasoning_and_tool_data(tmp_path: Path, tekken_later: Any, official: Any,
                                                      tiny: Any) -> None:
    import torch
    from transformers import MistralForCausalLM

    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    path = tmp_path / "my-sft"  # a renamed directory: only the shipped template says Magistral
    torch.manual_seed(0)
    config = tiny.mistral(vocab_size=131072, rope_theta=1e9, sliding_window=None, bos_token_id=1, eos_token_id=2)
    MistralForCausalLM(config).save_pretrained(path)
    tok = tekken_later.tokenizer
    tok.chat_template = official.template("mistral-common-generated/v13_think.jinja")
    try:
        tok.save_pretrained(path)
    finally:
        tok.chat_template = ""
    plan = make_plan(_args(path, write_data(tmp_path, True), tmp_path / "out"), make_plugin_host(), need_weights=True)
    assert plan.facts.variant == "magistral" and plan.facts.chat_format == "plugin"
    assert any("[THINK] reasoning tokens" in r for r in plan.selection.match.reasons)
    result = run(plan, lambda _: None)
    assert result.metrics["steps"] == 2


def test_chatml_fine_tune_of_mistral_trains_with_its_own_template(tmp_path: Path, build_tokenizer: Any,
                                                                  official: Any, tiny: Any) -> None:
    """An OpenHermes-style checkpoint: Mistral 7B v0.1 architecture, ChatML tokens added (vocab 32002)."""
    import torch
    from transformers import MistralForCausalLM

    from framework.chat import tokenize_chat
    from framework.hookdata import ChatOptions
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    path = tmp_path / "hermes-like"
    tok = build_tokenizer("tokenizer.model.v1", "first")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = official.template("qwen2-7b-instruct.jinja")
    tok.save_pretrained(path)
    torch.manual_seed(0)
    MistralForCausalLM(tiny.mistral(vocab_size=len(tok), sliding_window=4096, eos_token_id=32001)).save_pretrained(path)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"{i}+{i}?"},
                                                     {"role": "assistant", "content": f"{2 * i}"}]}) + "\n"
                            for i in range(8)), encoding="utf-8")
    plan = make_plan(_args(path, data, tmp_path / "out"), make_plugin_host(), need_weights=True)
    assert plan.selection.name == "mistral" and plan.facts.chat_format == "shipped"
    assert any("ChatML (<|im_start|>)" in r for r in plan.selection.match.reasons)
    assert plan.family.lora_targets("lora", False).target_modules  # the architecture knowledge stays Mistral's
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    rendered = plan.family.chat_renderer(tok)(messages, ChatOptions())
    shipped = tok.apply_chat_template(messages, tokenize=False)
    assert rendered.text == shipped
    chat = tokenize_chat(tok, rendered)
    trained = [t for t, label in zip(chat.input_ids, chat.labels) if label != -100]
    assert tok.decode(trained).strip() == "Hello<|im_end|>"
    assert "<|im_end|>" in plan.family.stop_tokens(tok)
    result = run(plan, lambda _: None)
    assert result.metrics["steps"] == 2
