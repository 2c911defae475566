"""``framework render`` on a model whose shipped template thinks and calls tools: reasoning, tool
calls and tool results are marked apart, and CJK reasoning comes back out exactly as written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
import pytest

from framework.cli import main

#: A ChatML template of our own with think blocks and Hermes-style tool turns (the shape of the
#: Qwen3 template, reduced): the generic plugin's renderer reads its chat features from it.
THINKING_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n# Tools\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'assistant' %}<|im_start|>assistant\n"
    "{% if m.reasoning_content %}<think>\n{{ m.reasoning_content }}\n</think>\n\n{% endif %}{{ m.content }}"
    "{% for c in m.tool_calls or [] %}<tool_call>\n{{ c.function | tojson }}\n</tool_call>{% endfor %}<|im_end|>\n"
    "{% elif m.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
REASONING = "用户问北京的天气。先查一下，再用中文回答：温度、天气。"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.fixture(scope="module")
def thinking_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    directory = tmp_path_factory.mktemp("thinking") / "tiny-thinking"
    shutil.copytree(tiny_model_dir, directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    tokenizer.chat_template = THINKING_TEMPLATE
    tokenizer.save_pretrained(directory)
    return directory


def _data(tmp_path: Path) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": "北京天气怎么样？"},
                      {"role": "assistant", "content": "北京今天晴，3度。", "reasoning_content": REASONING}]},
        {"tools": [WEATHER], "messages": [
            {"role": "user", "content": "北京天气？"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "北京"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "晴，3度"},
            {"role": "assistant", "content": "晴，3度。"}]},
    ]
    path = tmp_path / "agent.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _render(model: Path, data: Path, *extra: str) -> list[str]:
    return ["render", "--model", str(model), "--data", str(data), "--cutoff-len", "256", "--set", "data.val_size=0",
            "--overwrite-cache", *extra]


def test_render_marks_reasoning_tool_calls_and_results(thinking_model: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_render(thinking_model, _data(tmp_path))) == 0
    out = capsys.readouterr().out
    assert f"⟦reasoning: <think>\n{REASONING}\n</think>" in out  # CJK reasoning, trained, exactly as written
    assert "⟦tool_call: " in out and '"get_weather"' in out
    assert "⟨tool_result: 晴，3度⟩" in out
    assert "⟦晴，3度。<|im_end|>⟧" in out


def test_render_json_spans_round_trip_cjk_reasoning(thinking_model: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoTokenizer

    assert main(_render(thinking_model, _data(tmp_path), "--json", "--set", "data.train_on_reasoning=false")) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(thinking_model)
    by_kind: dict[str, list[tuple[str, bool]]] = {}
    for row in rows:
        for span in row["spans"]:
            text = tokenizer.decode(row["input_ids"][span["start"]:span["end"]])
            by_kind.setdefault(span["kind"], []).append((text, span["trained"]))
    (reasoning, trained), = by_kind["reasoning"]
    assert REASONING in reasoning and not trained  # masked by data.train_on_reasoning=false
    assert all(trained for _, trained in by_kind["tool_call"])
    assert not any(trained for _, trained in by_kind["tool_result"] + by_kind.get("tools", []))


def test_render_refuses_reasoning_the_template_cannot_show(tiny_model_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_render(tiny_model_dir, _data(tmp_path))) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{tmp_path / 'agent.jsonl'}:1: the sample has reasoning" in err
    assert "shipped chat template" in err
