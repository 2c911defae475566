"""Reward registry and built-in rewards: names, weights, faults named by plugin and reward, math-verify."""

from __future__ import annotations

import types

import pytest

from framework.config import RunConfig
from framework.errors import ConfigError, DataError, PluginError
from framework.hookdata import RewardFunction
from framework.hookspecs import hookimpl
from framework.plugins import make_plugin_host
from framework.rewards import ChosenReward, Scored, check_columns, choose, guarded, parse_choice
from framework.rewards.builtin import detect_tags, make_rewards, split_reasoning


def _config(**grpo: object) -> RunConfig:
    return RunConfig.model_validate({"stage": "grpo", "grpo": grpo})


def _host_with(name: str, table: dict[str, object]):  # type: ignore[no-untyped-def]
    module = types.ModuleType(name)
    module.reward_functions = hookimpl(lambda: table)  # type: ignore[attr-defined]
    host = make_plugin_host(load_entrypoints=False)
    host.register(module, name)
    return host


def test_parse_choice_reads_names_weights_and_user_functions() -> None:
    assert parse_choice("exact_match") == parse_choice("exact_match:1")
    assert parse_choice("math:2.5").weight == 2.5 and parse_choice("math:2.5").name == "math"
    assert parse_choice("my.mod:score").name == "my.mod:score" and parse_choice("my.mod:score").weight == 1.0
    spec = parse_choice("my.mod:score:-0.5")
    assert (spec.name, spec.weight) == ("my.mod:score", -0.5)
    with pytest.raises(ConfigError):
        parse_choice("  ")


def test_unknown_reward_is_one_line_with_the_names_on_offer() -> None:
    host = make_plugin_host(load_entrypoints=False)
    with pytest.raises(ConfigError) as caught:
        choose(host, _config(), ["exact_matc"])
    line = caught.value.line()
    assert "\n" not in line and "unknown reward 'exact_matc'" in line and "did you mean 'exact_match'" in line
    assert "format" in line and "math" in line and caught.value.exit_code == 2
    with pytest.raises(ConfigError, match="at least one reward"):
        choose(host, _config(), [])


def test_a_name_offered_by_two_plugins_names_both() -> None:
    host = _host_with("other", {"format": lambda prompts, completions, **_: [0.0] * len(completions)})
    with pytest.raises(ConfigError) as caught:
        choose(host, _config(), ["format"])
    assert "core-rewards" in caught.value.line() and "other" in caught.value.line()


def test_a_user_module_that_does_not_import_is_a_config_error() -> None:
    host = make_plugin_host(load_entrypoints=False)
    with pytest.raises(ConfigError, match="does not import"):
        choose(host, _config(), ["no_such_module_xyz:score"])


def _chosen(function: object, plugin: str = "acme") -> ChosenReward:
    return ChosenReward("acme_score", plugin, 1.0, RewardFunction(function))  # type: ignore[arg-type]


@pytest.mark.parametrize("returned, message", [
    ([1.0], "list of length 1; expected a list of 2 numbers"),
    (0.5, "returned float"),
    ([1.0, "yes"], "returned 'yes'"),
    ([1.0, float("nan")], "returned nan"),
])
def test_a_reward_with_the_wrong_shape_names_plugin_and_reward(returned: object, message: str) -> None:
    call = guarded(_chosen(lambda prompts, completions, **_: returned))
    with pytest.raises(PluginError) as caught:
        call(prompts=["p", "p"], completions=["a", "b"])
    text = str(caught.value)
    assert "\n" not in text and "'acme_score' of acme" in text and message in text and caught.value.exit_code == 1


def test_a_reward_that_raises_names_plugin_and_reward() -> None:
    def broken(prompts: list[str], completions: list[str], **_: object) -> list[float]:
        raise KeyError("answer")

    with pytest.raises(PluginError, match=r"reward 'acme_score' of acme raised KeyError: 'answer'"):
        guarded(_chosen(broken))(prompts=["p"], completions=["a"])


def test_guarded_rewards_record_the_batch_and_carry_the_name_trl_logs() -> None:
    sink = Scored()
    call = guarded(_chosen(lambda prompts, completions, **_: [len(c) for c in completions]), sink)
    assert call(prompts=["p", "q"], completions=["ab", "c"]) == [2.0, 1.0]
    assert call.__name__ == "acme_score" and sink.scores == {"acme_score": [2.0, 1.0]} and sink.completions == ["ab", "c"]


def test_format_reward_wants_one_well_formed_block_and_an_answer() -> None:
    fmt = make_rewards(_config()).get("format").function  # type: ignore[union-attr]
    completions = ["<think>2+2 is 4</think>4", "4", "<think>x</think>", "<think>a</think><think>b</think>4",
                   "</think>4<think>y", "hm <think>r</think> 4"]
    assert fmt(prompts=["q"] * 6, completions=completions) == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    # a template that opens the block in its generation prompt: the completion only closes it
    assert fmt(prompts=["q<think>\n"], completions=["reasoning</think>4"]) == [1.0]
    custom = make_rewards(_config(reasoning_tags=["[THINK]", "[/THINK]"]))["format"].function
    assert custom(prompts=["q", "q"], completions=["[THINK]r[/THINK]4", "<think>r</think>4"]) == [1.0, 0.0]


def test_exact_match_compares_the_answer_after_the_reasoning() -> None:
    exact = make_rewards(_config())["exact_match"].function
    got = exact(prompts=["q"] * 4, completions=["<think>so</think> 42 ", "42", "41", "<think>42</think>43"],
                answer=["42", "42", "42", "42"])
    assert got == [1.0, 1.0, 0.0, 0.0]
    assert exact(prompts=["q"], completions=["a"], solution=[None]) == [None]


def test_math_reward_right_wrong_and_malformed() -> None:
    pytest.importorskip("math_verify", reason="the grpo extra")  # a test dependency: always there in CI
    math = make_rewards(_config())["math"].function
    completions = ["<think>half</think>$\\frac{1}{2}$", "0.5", "The answer is \\boxed{0.5}", "0.25",
                   "<think>hm</think>)))(((", "", "\\frac{1}{"]
    got = math(prompts=["q"] * len(completions), completions=completions, answer=["1/2"] * len(completions))
    assert got == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert math(prompts=["q"], completions=["7"], answer=["not math at all ?!"]) == [0.0]


def test_length_reward_peaks_at_the_target() -> None:
    length = make_rewards(_config(length_target=4))["length"].function
    got = length(prompts=["q"] * 4, completions=["", "", "", ""], completion_ids=[[1] * 4, [1] * 2, [1] * 6, [1] * 40])
    assert got == [0.0, -0.5, -0.5, -1.0]


def test_missing_reference_column_is_a_data_error_naming_the_reward() -> None:
    rewards = choose(make_plugin_host(load_entrypoints=False), _config(), ["format", "exact_match:2"])
    check_columns(rewards, ["solution"], "data.jsonl")
    with pytest.raises(DataError) as caught:
        check_columns(rewards, ["question_id"], "data.jsonl")
    line = caught.value.line()
    assert line.startswith("data.jsonl: reward 'exact_match' (core-rewards) reads column answer or solution")
    assert "question_id" in line and caught.value.exit_code == 2


def test_reasoning_markers_are_read_off_the_template() -> None:
    from framework.hookdata import RenderedChat, Segment

    def render(messages: list[dict[str, str]]) -> RenderedChat:
        reply = messages[-1]
        return RenderedChat((Segment(f"<|user|>{messages[0]['content']}<|assistant|>"),
                             Segment(f"[THINK]{reply['reasoning_content']}[/THINK]{reply['content']}</s>", True, 1)))

    assert detect_tags(render) == ("[THINK]", "[/THINK]")

    def plain(messages: list[dict[str, str]]) -> RenderedChat:
        return RenderedChat((Segment(f"{messages[0]['content']} {messages[-1]['content']}"),))

    assert detect_tags(plain) is None
