"""``framework run --stage grpo`` end to end on a tiny model, with a third-party reward plugin.

The reward plugin is a real distribution (dist-info + entry point in the ``framework`` group)
on a temporary sys.path entry, found by the plugin host like one installed from PyPI, and its
rewards are used by name. The toy task is verifiable and dense: the share of ASCII letters in a
completion. A randomly initialised model writes about half ASCII (the tokenizer was trained on
Chinese and English text); GRPO must raise it within 24 steps.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

from framework.cli import main

PLUGIN = '''
from framework import hookimpl
from framework.hookdata import RewardFunction

FRAMEWORK_HOOK_API = ">=1.3,<2"


def ascii_letters(prompts, completions, **kwargs):
    return [sum(ch.isascii() and ch.isalpha() for ch in c) / max(1, len(c)) for c in completions]


def broken(prompts, completions, **kwargs):
    raise ValueError("no grader configured")


def short(prompts, completions, **kwargs):
    return [1.0]


@hookimpl
def reward_functions(config):
    return {
        "ascii_letters": RewardFunction(ascii_letters, "share of ASCII letters in the completion"),
        "broken": broken,
        "short": short,
    }
'''

PROMPTS = ["What is 2+2?", "Name a colour.", "Say hello.", "Count to three.", "What day is it?",
           "Tell me a fact.", "Pick a number.", "Describe the sea."]


@pytest.fixture(scope="module")
def reward_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    site = tmp_path_factory.mktemp("site")
    (site / "toy_reward_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "framework_toyrewards-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: framework-toyrewards\nVersion: 0.3\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[framework]\ntoyrewards = toy_reward_plugin\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        yield site


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grpo-data") / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": q, "answer": "x"}) + "\n" for q in PROMPTS), encoding="utf-8")
    return path


def _argv(model: Path, data: Path, out: Path, *rewards: str, steps: int, extra: tuple[str, ...] = ()) -> list[str]:
    argv = ["run", "--model", str(model), "--data", str(data), "--output", str(out), "--stage", "grpo",
            "--method", "full", "--cutoff-len", "128"]
    for reward in rewards:
        argv += ["--reward", reward]
    settings = {"training.max_steps": steps, "training.micro_batch_size": 8, "training.learning_rate": 1e-2,
                "training.warmup": 0, "training.lr_scheduler": "constant", "training.logging_steps": 4,
                "training.save_steps": 1000, "training.report_to": "[none]", "grpo.max_completion_length": 8,
                "grpo.log_completions_steps": 8}
    for key, value in settings.items():
        argv += ["--set", f"{key}={value}"]
    return argv + list(extra)


@pytest.fixture(scope="module")
def trained(reward_site: Path, prompts: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("grpo-run") / "out"
    code = main(_argv(tiny_model_dir, prompts, out, "ascii_letters", "length:0", steps=24))
    assert code == 0
    return out


def test_third_party_reward_is_listed_by_framework_plugins(reward_site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "ascii_letters  [toyrewards] share of ASCII letters in the completion" in text
    assert "exact_match    [core-rewards]" in text
    assert main(["plugins", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert set(listed["toyrewards"]["rewards"]) == {"ascii_letters", "broken", "short"}
    assert listed["toyrewards"]["distribution"] == "framework-toyrewards" and "reward_functions" in listed["toyrewards"]["hooks"]


def test_mean_reward_rises_on_a_verifiable_toy_task(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    history = [v for _, v in metrics["reward_histories"]["ascii_letters"]]
    assert len(history) == 6 and metrics["steps"] == 24
    assert sum(history[-2:]) / 2 > sum(history[:2]) / 2 + 0.05, history
    assert metrics["rewards"] == {"ascii_letters": {"weight": 1.0, "plugin": "toyrewards"},
                                  "length": {"weight": 0.0, "plugin": "core-rewards"}}
    assert len(metrics["completion_length_history"]) == 6 and metrics["stage"] == "grpo"
    assert all(0 < v <= 8 for _, v in metrics["completion_length_history"])  # grpo.max_completion_length=8


def test_outputs_hold_completions_with_rewards_and_a_reward_plot(trained: Path) -> None:
    rows = [json.loads(line) for line in (trained / "completions.jsonl").read_text().splitlines()]
    assert {r["step"] for r in rows} == {8, 16, 24}
    assert all(set(r["rewards"]) == {"ascii_letters", "length"} for r in rows)
    first = rows[0]
    assert first["prompt"].endswith("<|im_start|>assistant\n") and isinstance(first["completion"], str)
    assert first["rewards"]["ascii_letters"] == sum(ch.isascii() and ch.isalpha() for ch in first["completion"]) / max(
        1, len(first["completion"]))
    assert (trained / "reward.png").stat().st_size > 1000 and (trained / "loss.png").exists()
    assert (trained / "model.safetensors").exists() and (trained / "generation_config.json").exists()
    settings = json.loads((trained / "training_config.json").read_text())
    assert "ascii_letters" in json.dumps(settings)


def test_generation_stops_on_the_family_stop_token(trained: Path) -> None:
    config = json.loads((trained / "generation_config.json").read_text())
    eos = config["eos_token_id"]
    assert isinstance(eos, list) and len(eos) >= 2  # </s> and the template's <|im_end|>


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The error line (transformers' weight-loading bar may come before it on stderr)."""
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("Loading weights")]
    assert len(err) == 1, err
    return err[0]


def test_unknown_reward_name_exits_2(reward_site: Path, prompts: Path, tiny_model_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_argv(tiny_model_dir, prompts, tmp_path / "o", "ascii_leters", steps=1))
    line = _one_line_error(capsys)
    assert code == 2 and "unknown reward 'ascii_leters'" in line and "did you mean 'ascii_letters'" in line
    assert not (tmp_path / "o").exists()


def test_missing_reference_column_exits_2_naming_the_file(reward_site: Path, tiny_model_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "q.jsonl"
    data.write_text('{"prompt": "2+2?", "expected": "4"}\n', encoding="utf-8")
    code = main(_argv(tiny_model_dir, data, tmp_path / "o", "exact_match", steps=1))
    line = _one_line_error(capsys)
    assert code == 2 and f"{data}: reward 'exact_match'" in line and "answer or solution" in line


@pytest.mark.parametrize("reward, message", [
    ("broken", "reward 'broken' of toyrewards raised ValueError: no grader configured"),
    ("short", "reward 'short' of toyrewards returned list of length 1; expected a list of 4 numbers"),
])
def test_a_faulty_reward_exits_1_naming_plugin_and_reward(reward_site: Path, prompts: Path, tiny_model_dir: Path,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          reward: str, message: str) -> None:
    code = main(_argv(tiny_model_dir, prompts, tmp_path / "o", reward, steps=1,
                      extra=("--set", "training.micro_batch_size=4", "--set", "grpo.num_generations=4",
                             "--set", "grpo.max_completion_length=2")))
    line = _one_line_error(capsys)
    assert code == 1 and message in line, line


def test_a_batch_without_whole_groups_is_refused_before_loading(reward_site: Path, prompts: Path,
                                                                tiny_model_dir: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_argv(tiny_model_dir, prompts, tmp_path / "o", "ascii_letters", steps=1,
                      extra=("--set", "training.micro_batch_size=6")))
    line = _one_line_error(capsys)
    assert code == 2 and "whole groups of grpo.num_generations=4" in line


def test_check_reports_prompt_data_and_render_refuses(reward_site: Path, prompts: Path, tiny_model_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--model", str(tiny_model_dir), "--data", str(prompts), "--stage", "grpo", "--reward", "ascii_letters",
            "--cutoff-len", "128"]
    assert main(["check", *base]) == 0
    assert "data: 8 prompts read from" in capsys.readouterr().out
    assert main(["render", *base]) == 2
    assert "--stage grpo trains on completions it samples itself" in _one_line_error(capsys)


def test_resume_continues_the_run_past_its_end(trained: Path, reward_site: Path, prompts: Path, tiny_model_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """After every test that reads the module's run: it extends that run by two steps from its final checkpoint."""
    code = main([*_argv(tiny_model_dir, prompts, trained, "ascii_letters", "length:0", steps=26), "--resume"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["steps"] == 26 and (trained / "checkpoint-26").is_dir()
    # the checkpoint's log came back with it: the history still starts at the first run's first log
    assert [step for step, _ in metrics["reward_history"]] == [4, 8, 12, 16, 20, 24, 26]


def test_format_reward_uses_the_markers_the_template_renders(prompts: Path, tiny_model_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A shipped template that writes reasoning as [THINK]…[/THINK]: the format reward checks those markers."""
    import shutil

    from transformers import AutoTokenizer

    model = tmp_path / "think-model"
    shutil.copytree(tiny_model_dir, model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['role'] == 'assistant' and "
        "m.get('reasoning_content') %}[THINK]{{ m['reasoning_content'] }}[/THINK]{% endif %}{{ m['content'] }}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tokenizer.save_pretrained(model)
    code = main(_argv(model, prompts, tmp_path / "o", "format", steps=1,
                      extra=("--set", "training.micro_batch_size=4", "--set", "grpo.max_completion_length=4")))
    assert code == 0
    assert "rewards: format×1 (core-rewards); reasoning markers [THINK] [/THINK]" in capsys.readouterr().out


def test_lora_layers_trl_makes_get_the_plans_cpu_dropout(reward_site: Path, prompts: Path, tiny_model_dir: Path,
                                                          tmp_path: Path) -> None:
    """GRPO keeps dropout on (unlike TRL's DPO); the LoRA layers TRL wraps the model in get the
    plan's choice: the framework's BitsDropout on the CPU, torch's with lora.fast_dropout=off."""
    import torch

    from framework.cli import build_parser
    from framework.dropout import BitsDropout
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training.grpo import build_grpo

    host = make_plugin_host()
    for switch, kind in (("auto", BitsDropout), ("off", torch.nn.Dropout)):
        argv = _argv(tiny_model_dir, prompts, tmp_path / switch, "ascii_letters", steps=2,
                     extra=("--set", "lora.dropout=0.1", "--set", f"lora.fast_dropout={switch}"))
        argv[argv.index("full")] = "lora"
        plan = make_plan(build_parser(host).parse_args(argv), host, need_weights=True)
        setup = build_grpo(plan, lambda _: None)
        found = {type(d) for m in setup.trainer.model.modules() if hasattr(m, "lora_dropout")
                 for d in m.lora_dropout.values()}
        assert found == {kind}, switch
