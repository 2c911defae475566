"""The model's own chat template is the truth (issue 13), on four tiny models with real vocabularies.

For each kind: ``plan`` names the evidence that chose the chat format; ``render`` gives the ids
of the shipped template token for token, with labels on each reply and its end token only;
``run`` trains two steps and ``chat`` renders the shipped inference prompt and stops at the
format's end token. The drift check names the first differing token of an edited template.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from framework.cli import main

KINDS = ("qwen25", "r1", "llama3-chatml", "mistral-llama3")
#: kind -> (plugin that claims the architecture, chat format, end token of a reply)
EXPECTED = {
    "qwen25": ("qwen", "plugin", "<|im_end|>"),
    "r1": ("qwen", "shipped", "<｜end▁of▁sentence｜>"),
    "llama3-chatml": ("llama3", "shipped", "<|im_end|>"),
    "mistral-llama3": ("mistral", "shipped", "<|eot_id|>"),
}
#: An R1 sample with reasoning in every reply: the template drops it from the context.
REASONING = [{"role": "user", "content": "What is 2+2?"},
             {"role": "assistant", "reasoning_content": "Two plus two.\nThat is four.", "content": "4"},
             {"role": "user", "content": "And 3+3?"},
             {"role": "assistant", "reasoning_content": "Three plus three is six.", "content": "6"}]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _trained_runs(tokenizer: Any, ids: list[int], labels: list[int]) -> list[str]:
    runs: list[list[int]] = []
    for k, label in enumerate(labels):
        if label == -100:
            continue
        if runs and labels[k - 1] != -100:
            runs[-1].append(ids[k])
        else:
            runs.append([ids[k]])
    return [tokenizer.decode(r) for r in runs]


def _write(path: Path, conversations: list[list[dict[str, Any]]]) -> Path:
    path.write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in conversations),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_plan_names_the_evidence(kind: str, borrowed: Callable[[str], Path],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "plan", "--model", str(borrowed(kind)), "--json")
    assert code == 0
    record = json.loads(out)["plugin"]
    plugin, chat_format, _ = EXPECTED[kind]
    assert record["name"] == plugin
    assert record["chat_format"]["format"] == chat_format
    assert record["chat_format"]["decided_by"] == f"plugin {plugin}"
    assert any("template" in line for line in record["chat_format"]["evidence"]), record
    if kind == "qwen25":  # named "my-sft": only the shipped template says 2.5
        assert record["variant"] == "2.5"
    code, out, _ = _cli(capsys, "plan", "--model", str(borrowed(kind)))
    chat_line = next(line for line in out.splitlines() if line.startswith("chat "))
    assert ("shipped chat template" in chat_line) == (chat_format == "shipped")
    assert "chat template of the model directory" in chat_line


@pytest.mark.parametrize("kind", KINDS)
def test_render_equals_the_shipped_template(kind: str, borrowed: Callable[[str], Path],
                                            conversations: list[list[dict[str, str]]], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    directory = borrowed(kind)
    samples = conversations + ([REASONING] if kind == "r1" else [])
    data = _write(tmp_path / "chats.jsonl", samples)
    code, out, err = _cli(capsys, "render", "--model", str(directory), "--data", str(data), "--json",
                          "--set", "data.val_size=0", "--overwrite-cache")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    tokenizer = _tokenizer(directory)
    end = EXPECTED[kind][2]
    expected: dict[tuple[int, ...], list[str]] = {}
    for convo in samples:
        if kind == "r1":
            # The inference prompt of the last reply (ending in "<｜Assistant｜><think>\n"), then what the
            # model generates there: reasoning (or none), "</think>", the answer, the end token. Earlier
            # replies are context as the template renders them (reasoning dropped), never trained.
            prompt = tokenizer.apply_chat_template(convo[:-1], tokenize=False, add_generation_prompt=True)
            assert prompt.endswith("<｜Assistant｜><think>\n")
            last = convo[-1]
            thought = f"{last['reasoning_content']}\n" if last.get("reasoning_content") else ""
            reply = f"{thought}</think>\n\n{last['content']}{end}"
            ids = _ids(tokenizer, prompt) + _ids(tokenizer, reply)
            expected[tuple(ids)] = [reply]
        else:
            text = tokenizer.apply_chat_template(convo, tokenize=False)
            replies = [m["content"].strip() + end for m in convo if m["role"] == "assistant"]
            expected[tuple(_ids(tokenizer, text))] = replies
    got = {tuple(r["input_ids"]): _trained_runs(tokenizer, r["input_ids"], r["labels"]) for r in rows}
    assert set(got) == set(expected)  # token for token, every sample
    for ids, replies in expected.items():
        assert got[ids] == replies  # each reply and its end token, nothing else


@pytest.mark.parametrize("kind", KINDS)
def test_run_trains_and_chat_stops_at_the_end_token(kind: str, borrowed: Callable[[str], Path], chat_file: Path,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from framework.hookdata import ChatOptions
    from framework.inference import generate, load_run

    directory = borrowed(kind)
    out = tmp_path / "out"
    code, stdout, err = _cli(capsys, "run", "--model", str(directory), "--data", str(chat_file), "--output", str(out),
                             "--set", "training.max_steps=2", "--set", "data.val_size=0",
                             "--set", "training.report_to=[]", "--set", "training.logging_steps=1",
                             "--set", "data.cutoff_len=256")
    assert code == 0, err
    assert EXPECTED[kind][1] in json.loads((out / "training_config.json").read_text())["plugin"]["chat_format"]["format"]
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2
    end = EXPECTED[kind][2]
    trained = load_run(out)
    end_id = trained.tokenizer.convert_tokens_to_ids(end)
    assert end_id in trained.stop_ids
    assert end_id in json.loads((out / "generation_config.json").read_text())["eos_token_id"]
    messages = [{"role": "user", "content": "Hi"}]
    prompt = trained.render(messages, ChatOptions(add_generation_prompt=True)).text
    assert prompt == trained.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # Make the model say "ok", then the end token, then "never": generation must stop at the end token.
    script = [_ids(trained.tokenizer, "ok")[0], end_id, _ids(trained.tokenizer, " never")[0]]
    steps: list[int] = []

    def force(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(output, -1e4)
        forced[:, -1, script[min(len(steps), len(script) - 1)]] = 1e4
        steps.append(1)
        return forced

    handle = trained.model.get_output_embeddings().register_forward_hook(force)
    try:
        answer = generate(trained, messages, max_new_tokens=8)
    finally:
        handle.remove()
    assert answer == "ok" and len(steps) == 2


def _edited_copy(source: Path, destination: Path, old: str, new: str) -> Path:
    shutil.copytree(source, destination)
    path = destination / "chat_template.jinja"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return destination


def _plan_and_tokenizer(directory: Path) -> tuple[Any, Any]:
    import argparse

    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training.inputs import fixed_tokenizer

    plan = make_plan(argparse.Namespace(model=str(directory)), make_plugin_host(), need_weights=True)
    return plan, fixed_tokenizer(plan)[0]


def test_drift_check_names_the_first_differing_token(borrowed: Callable[[str], Path], tmp_path: Path) -> None:
    from framework.drift import template_drift

    plan, tokenizer = _plan_and_tokenizer(borrowed("qwen25"))
    started = time.perf_counter()
    assert template_drift(plan.family, tokenizer) == []  # the plugin renders the shipped template exactly
    assert time.perf_counter() - started < 1.0
    edited = _edited_copy(borrowed("qwen25"), tmp_path / "edited", "'<|im_start|>assistant\\n'",
                          "'<|im_start|>assistant:\\n'")
    plan, tokenizer = _plan_and_tokenizer(edited)
    assert plan.selection.name == "qwen" and plan.facts.chat_format == "plugin"
    started = time.perf_counter()
    findings = template_drift(plan.family, tokenizer)
    assert time.perf_counter() - started < 1.0
    assert findings and all(f.code == "template-drift" and f.severity == "warning" for f in findings)
    first = findings[0].message
    assert "the qwen plugin renders '\\n'" in first and "shipped chat template renders ':\\n'" in first, first
    assert "training uses the qwen plugin" in first


def test_drift_is_reported_by_check(borrowed: Callable[[str], Path], chat_file: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    edited = _edited_copy(borrowed("qwen25"), tmp_path / "edited", "'<|im_start|>assistant\\n'",
                          "'<|im_start|>assistant:\\n'")
    code, out, _ = _cli(capsys, "check", "--model", str(edited), "--data", str(chat_file))
    assert code == 0
    assert "[warning] template-drift" in out and "training uses the qwen plugin" in out
    # A borrowed architecture: the plugin's own format differs, the shipped template trains (info).
    code, out, _ = _cli(capsys, "check", "--model", str(borrowed("llama3-chatml")), "--data", str(chat_file))
    assert code == 0
    assert "[info] template-drift" in out and "training uses the shipped template" in out
    # The edited template pre-fills ':' its own rendering of the reply lacks: what the model
    # generates after that prompt is unknown, so the shipped template cannot train (one line).
    code, _, err = _cli(capsys, "check", "--model", str(edited), "--data", str(chat_file),
                        "--set", "data.template=shipped")
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert str(edited / "chat_template.jinja") in line and "generation prompt ends in ':\\n'" in line, err


def test_a_template_that_raises_is_one_line_naming_file_and_line(borrowed: Callable[[str], Path], chat_file: Path,
                                                                  conversations: list[list[dict[str, str]]],
                                                                  tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    raising = "{%- if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}\n"
    edited = tmp_path / "raising"
    shutil.copytree(borrowed("mistral-llama3"), edited)
    path = edited / "chat_template.jinja"
    path.write_text(raising + path.read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = _cli(capsys, "render", "--model", str(edited), "--data", str(chat_file), "--set", "data.val_size=0",
                        "--overwrite-cache")
    assert code == 2
    line = err.strip().splitlines()[-1]
    system_sample = 1 + next(i for i, c in enumerate(conversations) if c[0]["role"] == "system")
    assert line.startswith(f"error: {chat_file}:{system_sample}: {path}:1: "), err  # the sample, then the template
    assert "System role not supported" in line
