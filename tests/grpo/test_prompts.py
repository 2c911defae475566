"""GRPO prompt data: messages, alpaca and plain prompts rendered by the template; references kept; file:line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.data.prompts import prepare_prompts
from framework.errors import DataError
from framework.hookdata import RenderedChat, Segment


def _render(messages: list[dict[str, str]]) -> RenderedChat:
    """A ChatML-like render with BOS text first (as a Llama-style template writes it) and the generation prompt."""
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return RenderedChat((Segment("<s>" + body + "<|im_start|>assistant\n"),))


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.add_bos_token = True  # TRL's tokenizer(text) call adds it: the rendered BOS text must go
    return tok


def test_three_prompt_shapes_with_reference_columns(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    data = _write(tmp_path / "p.jsonl", [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
                      {"role": "assistant", "content": "4"}], "answer": 4},
        {"instruction": "Add", "input": "3 and 4", "answer": "7", "meta": {"level": 1}},
        {"prompt": "1+1?", "solution": "2", "answer": None},
    ])
    found = prepare_prompts([data], tokenizer, _render, cutoff_len=256)
    rows = found.rows
    assert found.columns == ["answer", "reference", "meta", "solution"] and len(rows) == 3
    assert rows["prompt"][0] == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                                 "<|im_start|>assistant\n")
    assert rows["prompt"][1].startswith("<|im_start|>user\nAdd\n\n3 and 4<|im_end|>")
    assert rows["answer"] == ["4", "7", None] and rows["reference"] == ["4", None, None]
    assert rows["meta"] == [None, '{"level": 1}', None] and rows["solution"] == [None, None, "2"]
    assert found.bos_stripped == 3
    ids = tokenizer(rows["prompt"][2])["input_ids"]
    assert ids.count(tokenizer.bos_token_id) == 1  # one BOS, added by the tokenizer call as TRL makes it


@pytest.mark.parametrize("row, message", [
    ({"answer": "4"}, "no prompt in this record (fields: answer)"),
    ({"messages": []}, "messages must be a non-empty list"),
    ({"messages": [{"role": "user"}]}, "messages[0] needs a role"),
    ({"messages": [{"role": "system", "content": "x"}]}, "the prompt must end with a user"),
    ({"instruction": "  "}, "instruction is empty"),
])
def test_a_bad_record_stops_with_its_file_and_line(tmp_path: Path, tokenizer, row: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _write(tmp_path / "bad.jsonl", [{"prompt": "fine", "answer": "1"}, row])
    with pytest.raises(DataError) as caught:
        prepare_prompts([data], tokenizer, _render, cutoff_len=256)
    line = caught.value.line()
    assert "\n" not in line and line.startswith(f"{data}:2: ") and message in line


def test_long_prompts_are_dropped_and_counted(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    data = _write(tmp_path / "p.jsonl", [{"prompt": "short", "answer": "1"}, {"prompt": "word " * 300, "answer": "2"}])
    found = prepare_prompts([data], tokenizer, _render, cutoff_len=64)
    assert len(found.rows) == 1 and found.too_long == 1 and any("1 prompts longer" in x for x in found.lines())
    with pytest.raises(DataError, match="every prompt is longer"):
        prepare_prompts([data], tokenizer, _render, cutoff_len=8)
