"""The plugin contract: a well-behaved toy plugin passes all of it, and each check catches its mistake.

The toy family ("toyfamily") exists only here: a small byte-level BPE tokenizer with two chat
tokens, a chat format of its own, and a tiny model of transformers' Llama class standing in
for its architecture (``tiny_model_config`` says which config.json it stands for).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import types
from pathlib import Path
from typing import Any, Callable

import pytest

from framework import hookimpl
from framework.hookdata import ChatOptions, DemoModel, LoraTargets, MatchResult, ModelFacts, RenderedChat, Segment
from framework.testing import PluginContract, PluginUnderTest
from framework.testing import problems as P

START, END = "<|turn_start|>", "<|turn_end|>"
TEXTS = ["The quick brown fox jumps over the lazy dog.", "Fine-tuning adapts a model.", "今天天气很好。"]
TOY_CONFIG = {"model_type": "toyfamily", "vocab_size": 512, "hidden_size": 16, "intermediate_size": 32,
              "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
              "max_position_embeddings": 1024, "bos_token_id": 1, "eos_token_id": 2}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Goodbye."}]


@functools.lru_cache(maxsize=1)
def toy_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>", "<pad>", START, END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(TEXTS * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", additional_special_tokens=[START, END])


def toy_render(messages: list[dict[str, str]], options: ChatOptions, *, end_trainable: bool = True,
               from_data: bool = True, reply_trainable: bool = True, prompt: str = f"{START}assistant\n") -> RenderedChat:
    segments = []
    for index, message in enumerate(messages):
        reply = message["role"] == "assistant"
        segments += [Segment(f"{START}{message['role']}\n", message_index=index),
                     Segment(message["content"], trainable=reply and reply_trainable, message_index=index,
                             from_data=from_data),
                     Segment(END, trainable=reply and end_trainable, message_index=index),
                     Segment("\n", message_index=index)]
    if options.add_generation_prompt:
        segments.append(Segment(prompt))
    return RenderedChat(tuple(segments))


def module(name: str, *functions: Callable[..., Any], **attributes: Any) -> types.ModuleType:
    """A plugin module made of the given hookimpl functions and attributes."""
    made = types.ModuleType(name)
    for function in functions:
        setattr(made, function.__name__, function)
    for key, value in attributes.items():
        setattr(made, key, value)
    return made


# ── the well-behaved toy plugin ───────────────────────────────────────────────────────────


@hookimpl
def match_model(facts: ModelFacts) -> MatchResult | None:
    if facts.model_type != "toyfamily":
        return None
    return MatchResult(score=50, variant="1", reasons=("model_type=toyfamily",))


@hookimpl
def render_chat(messages: list[dict[str, str]], options: ChatOptions) -> RenderedChat:
    return toy_render(messages, options)


@hookimpl
def stop_tokens() -> list[str]:
    return [END]


@hookimpl
def default_hyperparameters(method: str) -> dict[str, Any]:
    return {"lora.r": 8, "lora.alpha": 16, "training.learning_rate": 2e-4} if method in ("lora", "qlora") else {}


@hookimpl
def lora_target_modules(train_embeddings: bool) -> LoraTargets:
    return LoraTargets(target_modules=("q_proj", "v_proj"),
                       modules_to_save=("embed_tokens", "lm_head") if train_embeddings else ())


@hookimpl
def known_model_configs() -> dict[str, dict[str, Any]]:
    return {"toy/toy-1": dict(TOY_CONFIG, _source="tests/kit/test_contract.py")}


@hookimpl
def provide_demo_model(cache_dir: Path) -> DemoModel:
    """A config-only directory: enough for the contract, which checks the answer's shape and claim."""
    path = Path(cache_dir) / "toy-demo"
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(TOY_CONFIG), encoding="utf-8")
    return DemoModel(name="toy", path=str(path))


TOY_TEMPLATE = ("{% for m in messages %}" + START + "{{ m['role'] }}\n{{ m['content'] }}" + END + "\n{% endfor %}"
                "{% if add_generation_prompt %}" + START + "assistant\n{% endif %}")
TOY = module("toy_family_plugin", match_model, render_chat, stop_tokens, default_hyperparameters,
             lora_target_modules, known_model_configs, provide_demo_model, FRAMEWORK_HOOK_API=">=1,<2")


class TestToyPluginPassesTheContract(PluginContract):
    plugin_module = TOY
    entry_point_name = None
    configs = [(TOY_CONFIG, "1")]
    foreign_configs = [{"model_type": "gpt2", "vocab_size": 50257}, dict(TOY_CONFIG, model_type="other")]

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls) -> Any:
        return toy_tokenizer()

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls) -> Any:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        return LlamaForCausalLM(LlamaConfig(**{k: v for k, v in TOY_CONFIG.items() if k != "model_type"}))

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls) -> str:
        return TOY_TEMPLATE

    def tiny_model_config(self, model: Any) -> dict[str, Any]:
        return dict(model.config.to_dict(), model_type="toyfamily")


# ── each check catches its mistake ────────────────────────────────────────────────────────


def test_unknown_hook_and_unknown_argument_are_rejected() -> None:
    @hookimpl
    def match_modle(facts: ModelFacts) -> None:
        return None

    assert any("match_modle" in p for p in P.hookimpl_problems(module("typo", match_model, match_modle)))

    @hookimpl
    def render_chat(messages: list[dict[str, str]], conversation_id: str) -> None:  # noqa: F811 - a deliberate bad impl
        return None

    assert any("conversation_id" in p for p in P.hookimpl_problems(module("extra_arg", match_model, render_chat)))


def test_defaults_on_hookimpl_arguments_are_rejected() -> None:
    @hookimpl
    def stop_tokens(tokenizer: Any = None) -> list[str]:  # noqa: F811 - a deliberate bad impl
        return [END]

    problems = P.hookimpl_problems(module("defaults", match_model, stop_tokens))
    assert problems == ["hookimpl stop_tokens gives argument(s) tokenizer a default: pluggy never passes an "
                        "argument that has a default, so it would always keep the default"]


def test_a_family_plugin_needs_match_model_and_hookimpls() -> None:
    assert P.hookimpl_problems(module("no_match", stop_tokens)) == [
        "a family plugin must implement match_model (the core selects plugins with it)"]
    assert P.hookimpl_problems(module("empty")) == ["empty has no function marked with framework.hookimpl"]
    assert P.hookimpl_problems(TOY) == []


def test_hook_api_range() -> None:
    assert P.api_range_problem(TOY) is None
    assert "declares no FRAMEWORK_HOOK_API" in P.api_range_problem(module("none", match_model))
    assert "excludes the core's hook API" in P.api_range_problem(module("future", FRAMEWORK_HOOK_API=">=2,<3"))
    assert "not a version specifier" in P.api_range_problem(module("bad", FRAMEWORK_HOOK_API="one or two"))


def test_entry_point_must_be_installed_and_point_at_the_module() -> None:
    assert P.entry_point_problems("no-such-plugin", TOY)[0].startswith("no entry point 'no-such-plugin'")
    installed = sorted(importlib.metadata.entry_points(group="framework"), key=lambda ep: ep.name)
    if installed:  # any installed plugin's entry point does not point at the toy module
        problems = P.entry_point_problems(installed[0].name, TOY)
        assert any(f"not 'toy_family_plugin'" in p for p in problems)


def test_claims_need_a_match_result_with_variant_and_reasons() -> None:
    assert P.match_problems(None, "1") == ["match_model returned None for a config the plugin must claim"]
    assert P.match_problems(MatchResult(score=50, variant="2", reasons=("x",)), "1") == [
        "match_model recognised variant '2', expected '1'"]
    assert "gave no reasons" in P.match_problems(MatchResult(score=50, variant="1"), "1")[0]
    assert "score" in P.match_problems({"score": 0, "variant": "1"}, "1")[0]


def test_defaults_must_be_valid_config_keys_and_values() -> None:
    assert P.hyperparameter_problems({"lora.r": 8}, "lora", "sft", "toy") == []
    assert "unknown config key(s) 'lora.rank'" in P.hyperparameter_problems({"lora.rank": 8}, "lora", "sft", "toy")[0]
    assert "rejects" in P.hyperparameter_problems({"lora.r": "sixteen"}, "lora", "sft", "toy")[0]
    assert "expected a dict" in P.hyperparameter_problems([("lora.r", 8)], "lora", "sft", "toy")[0]


def test_segments_must_train_replies_only_and_mark_data() -> None:
    assert P.segment_problems(toy_render(MESSAGES, ChatOptions()), MESSAGES) == []
    untrained = P.segment_problems(toy_render(MESSAGES, ChatOptions(), reply_trainable=False), MESSAGES)
    assert any("assistant message 2 is not inside a trainable segment" in p for p in untrained)
    leaky = RenderedChat((Segment("Hi", trainable=True, message_index=0, from_data=True),))
    assert any("does not belong to an assistant message" in p for p in P.segment_problems(leaky, MESSAGES[1:3]))
    unmarked = P.segment_problems(toy_render(MESSAGES, ChatOptions(), from_data=False), MESSAGES)
    assert any("not in a from_data segment" in p for p in unmarked)
    assert P.segment_problems("text", MESSAGES) == ["render_chat returned str, expected RenderedChat"]


def test_each_reply_must_train_its_stop_token() -> None:
    tokenizer = toy_tokenizer()
    stops = P.stop_token_ids(tokenizer, [END])
    assert P.training_problems(tokenizer, toy_render, MESSAGES, stops) == []

    def no_stop(messages, options):
        return toy_render(messages, options, end_trainable=False)

    problems = P.training_problems(tokenizer, no_stop, MESSAGES, stops)
    assert len(problems) == 2 and "no stop token" in problems[0] and "never learns to stop" in problems[0]

    def nothing(messages, options):
        return toy_render(messages, options, end_trainable=False, reply_trainable=False)

    assert P.training_problems(tokenizer, nothing, MESSAGES, stops)[0] == "assistant message 2 trains no token"


def test_data_must_not_inject_control_tokens() -> None:
    tokenizer = toy_tokenizer()
    assert P.injection_problems(tokenizer, toy_render, MESSAGES) == []

    def unmarked(messages, options):
        return toy_render(messages, options, from_data=False)

    assert "became control token(s)" in P.injection_problems(tokenizer, unmarked, MESSAGES)[0]


def test_generation_prompt_must_prefix_the_training_text() -> None:
    assert P.generation_prefix_problems(toy_render, MESSAGES) == []

    def drifting(messages, options):
        return toy_render(messages, options, prompt=f"{START}assistant \n")

    assert len(P.generation_prefix_problems(drifting, MESSAGES)) == 2


def test_render_is_compared_with_an_official_template() -> None:
    tokenizer = toy_tokenizer()
    assert P.official_template_problems(tokenizer, TOY_TEMPLATE, toy_render, MESSAGES) == []
    drifted = TOY_TEMPLATE.replace("{{ m['content'] }}", "{{ m['content'] | trim }} ")
    problems = P.official_template_problems(tokenizer, drifted, toy_render, MESSAGES)
    assert problems and "differs from the official template" in problems[0]


def test_lora_targets_must_name_modules_of_the_model() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in TOY_CONFIG.items() if k != "model_type"}))
    assert P.lora_target_problems(model, LoraTargets(target_modules=("q_proj", "down_proj"))) == []
    fused = LoraTargets(target_modules=("qkv_proj", "o_proj"), modules_to_save=("wte",))
    assert P.lora_target_problems(model, fused) == ["LoRA target 'qkv_proj' matches no module",
                                                    "module to save 'wte' matches no module"]
    pattern = r".*\.attn\.c_proj"
    assert P.lora_target_problems(model, LoraTargets(target_modules=pattern)) == [
        f"target regex {pattern!r} matches no module"]
    assert P.peft_attach_problems(model, LoraTargets(target_modules=("q_proj",))) == []
    assert P.peft_attach_problems(model, LoraTargets(target_modules=("qkv_proj",)))[0].startswith(
        "peft cannot attach LoRA")


def test_plugin_under_test_calls_only_the_plugin_itself() -> None:
    plugin = PluginUnderTest(TOY, "toy")
    facts = plugin.facts_with_variant(TOY_CONFIG, "toy")
    assert facts.variant == "1"
    from framework.testing import NOT_IMPLEMENTED

    assert plugin.call("rope_scaling", facts=facts, target_length=10) is NOT_IMPLEMENTED
    assert plugin.host().select(facts).name == "toy"
