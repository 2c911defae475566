"""``PluginContract``: the tests every family plugin inherits.

A plugin's test module subclasses it, says what the plugin is and which configs it must claim,
and provides a tokenizer; pytest then runs the whole contract against the plugin::

    from framework.testing import PluginContract
    from framework_myfamily import plugin

    class TestMyFamilyContract(PluginContract):
        plugin_module = plugin
        entry_point_name = "myfamily"
        configs = [({"model_type": "myfamily", "vocab_size": 32000, ...}, "1")]
        foreign_configs = [{"model_type": "otherfamily", "vocab_size": 32000, ...}]

        @pytest.fixture(scope="class")
        @classmethod
        def tokenizer(cls):
            return build_my_tokenizer()     # or {"1": tok_v1, "2": tok_v2} per variant

Fixtures are class-scoped classmethods (pytest deprecates class-scoped instance-method
fixtures); a session-scoped fixture from conftest.py can be passed through::

        @pytest.fixture(scope="class")
        @classmethod
        def tokenizer(cls, my_session_tokenizer):
            return my_session_tokenizer

The checks are generic: nothing here knows a family. Each one fails with sentences that say
what is wrong and what to do (see ``framework.testing.problems``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar, Mapping, Sequence

import pytest

from framework.hookdata import (
    ChatOptions,
    DemoModel,
    HardwareFacts,
    LoadSettings,
    LoraTargets,
    MatchResult,
    ModelFacts,
    RopeDecision,
)
from framework.testing import problems as P
from framework.testing.calls import NOT_IMPLEMENTED, PluginUnderTest
from framework.testing.conversations import SAMPLE_CONVERSATIONS, SAMPLE_TEXTS, Conversation

#: Machines the load-settings hook is asked about: a laptop, a datacenter GPU, an old GPU.
HARDWARE = (
    HardwareFacts(device="cpu", bf16_supported=False),
    HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.7.4", gpu_name="NVIDIA A100-SXM4-80GB",
                  gpu_memory_bytes=80 * 2**30, gpu_count=1),
    HardwareFacts(device="cuda", bf16_supported=False, gpu_name="Tesla T4", gpu_memory_bytes=16 * 2**30, gpu_count=1),
)
METHODS = ("full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "hybrid", "prefix", "prompt", "ptuning", "adapter")
ADAPTER_METHODS = ("lora", "dora", "rslora", "qlora", "qlora8", "hybrid")
STAGES = ("sft", "pt", "dpo")


def _check(problems: Sequence[str]) -> None:
    if problems:
        pytest.fail("\n".join(f"- {p}" for p in problems), pytrace=False)


class PluginContract:
    """Generic checks for a family plugin; subclass it in a ``Test*`` class to run them."""

    #: The module the entry point loads (the one with the ``@hookimpl`` functions).
    plugin_module: ClassVar[ModuleType]
    #: The entry-point name in the ``framework`` group; ``None`` for a plugin that is not distributed.
    entry_point_name: ClassVar[str | None] = None
    #: ``(config.json dict, expected variant)`` pairs the plugin must claim. A ``_name_or_path`` key
    #: (as in configs transformers saves) becomes the facts' ``name_or_path``.
    configs: ClassVar[Sequence[tuple[Mapping[str, Any], str]]] = ()
    #: config.json dicts of other families the plugin must leave alone.
    foreign_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()
    #: Conversations rendered with the plugin's template.
    conversations: ClassVar[Sequence[Conversation]] = SAMPLE_CONVERSATIONS
    #: Whether the inference prompt must be a prefix of the training text (true of every known template).
    generation_prompt_is_prefix: ClassVar[bool] = True
    #: Machines, training methods and stages the planning hooks are asked about.
    hardware: ClassVar[Sequence[HardwareFacts]] = HARDWARE
    methods: ClassVar[Sequence[str]] = METHODS
    adapter_methods: ClassVar[Sequence[str]] = ADAPTER_METHODS
    stages: ClassVar[Sequence[str]] = STAGES

    # ── fixtures a subclass provides ──────────────────────────────────────────────────────

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls) -> Any:
        """Override: a fast tokenizer of the family, or a ``{variant: tokenizer}`` mapping."""
        pytest.fail(f"{cls.__name__} must override the `tokenizer` fixture with a fast tokenizer of the "
                    "family (or a {variant: tokenizer} mapping)", pytrace=False)

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls) -> Any:
        """Override (optional): a tiny ``transformers`` model of the family, for the LoRA target check."""
        return None

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls) -> str | Mapping[str, str] | None:
        """Override (optional): the official Jinja chat template (or ``{variant: template}``) to compare with."""
        return None

    def tiny_model_config(self, model: Any) -> dict[str, Any]:
        """The config.json the tiny model stands for; override when it differs from ``model.config``."""
        return model.config.to_dict()

    # ── parametrisation ───────────────────────────────────────────────────────────────────

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "claimed" in metafunc.fixturenames:
            metafunc.parametrize("claimed", [(dict(c), v) for c, v in self.configs],
                                 ids=[f"{i}-{v}" for i, (_, v) in enumerate(self.configs)])
        if "foreign" in metafunc.fixturenames:
            metafunc.parametrize("foreign", [dict(c) for c in self.foreign_configs],
                                 ids=[f"{i}-{c.get('model_type')}" for i, c in enumerate(self.foreign_configs)])
        if "conversation" in metafunc.fixturenames:
            metafunc.parametrize("conversation", list(self.conversations),
                                 ids=[f"conversation{i}" for i in range(len(self.conversations))])

    # ── helpers ───────────────────────────────────────────────────────────────────────────

    @property
    def plugin_name(self) -> str:
        return self.entry_point_name or self.plugin_module.__name__

    def under_test(self) -> PluginUnderTest:
        return PluginUnderTest(self.plugin_module, self.plugin_name)

    @staticmethod
    def for_variant(value: Any, variant: str) -> Any:
        """A fixture value, or its entry for ``variant`` when the fixture gave a mapping."""
        if isinstance(value, Mapping):
            if variant not in value:
                pytest.fail(f"no entry for variant {variant!r} (have {sorted(value)})", pytrace=False)
            return value[variant]
        return value

    @staticmethod
    def name_or_path(config: Mapping[str, Any], variant: str) -> str:
        """The model name the facts carry: the config's ``_name_or_path`` (as transformers saves it), if any."""
        return str(config.get("_name_or_path") or f"contract/{variant}")

    def facts(self, claimed: tuple[dict[str, Any], str]) -> ModelFacts:
        config, variant = claimed
        return self.under_test().facts_with_variant(config, self.name_or_path(config, variant))

    def renderer(self, facts: ModelFacts, tokenizer: Any) -> Any:
        """The plugin's own render_chat, or the core's renderer when the plugin leaves chat to it."""
        plugin = self.under_test()

        def render(messages: list[dict[str, str]], options: ChatOptions) -> Any:
            result = plugin.call("render_chat", facts=facts, messages=messages, options=options, tokenizer=tokenizer,
                                 tools=None)
            if result is NOT_IMPLEMENTED or result is None:
                host = plugin.host()
                return host.family(host.select(facts), facts).chat_renderer(tokenizer)(messages, options)
            return result

        return render

    def stop_tokens(self, facts: ModelFacts, tokenizer: Any) -> dict[int, str]:
        result = self.under_test().call("stop_tokens", facts=facts, tokenizer=tokenizer)
        names = [] if result in (None, NOT_IMPLEMENTED) else list(result)
        return P.stop_token_ids(tokenizer, names)

    # ── wiring ────────────────────────────────────────────────────────────────────────────

    def test_declares_configs(self) -> None:
        assert getattr(self, "plugin_module", None) is not None, "set plugin_module to the module with the hookimpls"
        assert self.configs, "list in `configs` at least one config.json dict the plugin must claim"

    def test_hookimpls_match_hookspecs(self) -> None:
        _check(P.hookimpl_problems(self.plugin_module))

    def test_hook_api_range_admits_core(self) -> None:
        problem = P.api_range_problem(self.plugin_module)
        _check([problem] if problem else [])

    def test_entry_point_loads_through_plugin_host(self) -> None:
        if self.entry_point_name is None:
            pytest.skip("entry_point_name is None: the plugin is not distributed through an entry point")
        _check(P.entry_point_problems(self.entry_point_name, self.plugin_module))

    def test_installed_plugins_select_this_one(self, claimed: tuple[dict[str, Any], str]) -> None:
        """With every installed plugin loaded, this plugin still wins its own configs (no tie, no thief)."""
        if self.entry_point_name is None:
            pytest.skip("entry_point_name is None: the plugin is not distributed through an entry point")
        from framework.facts import facts_from_config
        from framework.plugins import make_plugin_host

        config, variant = claimed
        facts = facts_from_config(config, self.name_or_path(config, variant))
        selection = make_plugin_host().select(facts)
        assert selection.name == self.entry_point_name, (
            f"the installed plugins select {selection.name!r} for this config (candidates {selection.candidates})")

    # ── selection ─────────────────────────────────────────────────────────────────────────

    def test_claims_config(self, claimed: tuple[dict[str, Any], str]) -> None:
        config, variant = claimed
        _, result = self.under_test().match(config, self.name_or_path(config, variant))
        _check(P.match_problems(result, variant))
        facts = self.facts(claimed)
        assert self.under_test().host().select(facts).name == self.plugin_name

    def test_leaves_foreign_config(self, foreign: dict[str, Any]) -> None:
        _, result = self.under_test().match(foreign, self.name_or_path(foreign, "foreign"))
        assert result is None, f"match_model claims a config of another family: {result!r}"

    def test_published_configs_are_claimed(self) -> None:
        table = self.under_test().call("known_model_configs")
        if table in (None, NOT_IMPLEMENTED):
            pytest.skip("the plugin publishes no known_model_configs")
        assert isinstance(table, dict), "known_model_configs must return {hub id: config.json dict}"
        problems = []
        for hub_id, config in table.items():
            if not isinstance(config, dict) or not str(config.get("_source", "")).strip():
                problems.append(f"{hub_id}: a config dict with a non-empty '_source' is required")
                continue
            _, claim = self.under_test().match(config, hub_id)
            if claim is None:
                problems.append(f"{hub_id}: published by the plugin but not claimed by its match_model")
        _check(problems)

    # ── planning hooks ────────────────────────────────────────────────────────────────────

    def test_planning_hooks_return_hookdata(self, claimed: tuple[dict[str, Any], str]) -> None:
        plugin, facts = self.under_test(), self.facts(claimed)
        problems = []
        for hardware in self.hardware:
            value = plugin.call("model_load_settings", facts=facts, hardware=hardware)
            if value is not NOT_IMPLEMENTED:
                problems += P.model_problems(f"model_load_settings({hardware.device})", value, LoadSettings)
        native = facts.max_position_embeddings or 4096
        for length in sorted({256, native, native + 1, 2 * native, 8 * native}):
            value = plugin.call("rope_scaling", facts=facts, target_length=length)
            if value is NOT_IMPLEMENTED:
                break
            problems += P.model_problems(f"rope_scaling({length})", value, RopeDecision)
            if isinstance(value, RopeDecision) and value.action == "scale":
                if not value.rope_scaling:
                    problems.append(f"rope_scaling({length}) says 'scale' without a rope_scaling dict")
                if (value.max_position_embeddings or 0) < length:
                    problems.append(f"rope_scaling({length}) scales to max_position_embeddings="
                                    f"{value.max_position_embeddings}, short of the target")
        for method in self.adapter_methods:
            for train_embeddings in (False, True):
                value = plugin.call("lora_target_modules", facts=facts, method=method, train_embeddings=train_embeddings)
                if value is not NOT_IMPLEMENTED:
                    problems += P.model_problems(f"lora_target_modules({method}, {train_embeddings})", value, LoraTargets)
        _check(problems)

    def test_default_hyperparameters_are_config_keys(self, claimed: tuple[dict[str, Any], str]) -> None:
        plugin, facts = self.under_test(), self.facts(claimed)
        problems = []
        for method in self.methods:
            for stage in self.stages:
                value = plugin.call("default_hyperparameters", facts=facts, method=method, stage=stage)
                if value is NOT_IMPLEMENTED:
                    pytest.skip("the plugin gives no default_hyperparameters")
                problems += P.hyperparameter_problems(value, method, stage, self.plugin_name)
        _check(problems)

    # ── tokenizer and data hooks ──────────────────────────────────────────────────────────

    def test_tokenizer_hooks_return_hookdata(self, claimed: tuple[dict[str, Any], str], tokenizer: Any) -> None:
        plugin, facts = self.under_test(), self.facts(claimed)
        tok = self.for_variant(tokenizer, claimed[1])
        problems = []
        value = plugin.call("check_tokenizer", facts=facts, tokenizer=tok)
        if value is not NOT_IMPLEMENTED:
            problems += P.findings_problems("check_tokenizer", value)
        value = plugin.call("check_data", facts=facts, tokenizer=tok, texts=list(SAMPLE_TEXTS))
        if value is not NOT_IMPLEMENTED:
            problems += P.findings_problems("check_data", value)
        value = plugin.call("stop_tokens", facts=facts, tokenizer=tok)
        if value not in (None, NOT_IMPLEMENTED):
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                problems.append(f"stop_tokens returned {value!r}, expected a list of token strings")
            else:
                vocab = tok.get_vocab()
                problems += [f"stop token {t!r} is not a token of the tokenizer" for t in value if t not in vocab]
        _check(problems)

    def test_render_chat_segments(self, claimed: tuple[dict[str, Any], str], tokenizer: Any,
                                  conversation: Conversation) -> None:
        facts = self.facts(claimed)
        tok = self.for_variant(tokenizer, claimed[1])
        rendered = self.renderer(facts, tok)(list(conversation), ChatOptions())
        _check(P.segment_problems(rendered, conversation))

    def test_render_chat_trains_replies_and_stop_tokens(self, claimed: tuple[dict[str, Any], str], tokenizer: Any,
                                                        conversation: Conversation) -> None:
        facts = self.facts(claimed)
        tok = self.for_variant(tokenizer, claimed[1])
        stops = self.stop_tokens(facts, tok)
        assert stops, "neither stop_tokens nor the tokenizer's eos names a token of the vocabulary"
        _check(P.training_problems(tok, self.renderer(facts, tok), list(conversation), stops))

    def test_render_chat_keeps_data_plain(self, claimed: tuple[dict[str, Any], str], tokenizer: Any,
                                          conversation: Conversation) -> None:
        facts = self.facts(claimed)
        tok = self.for_variant(tokenizer, claimed[1])
        _check(P.injection_problems(tok, self.renderer(facts, tok), list(conversation)))

    def test_generation_prompt_is_prefix(self, claimed: tuple[dict[str, Any], str], tokenizer: Any,
                                         conversation: Conversation) -> None:
        if not self.generation_prompt_is_prefix:
            pytest.skip("generation_prompt_is_prefix is False for this plugin")
        facts = self.facts(claimed)
        tok = self.for_variant(tokenizer, claimed[1])
        _check(P.generation_prefix_problems(self.renderer(facts, tok), list(conversation)))

    def test_render_matches_official_template(self, claimed: tuple[dict[str, Any], str], tokenizer: Any,
                                              official_chat_template: Any, conversation: Conversation) -> None:
        """The render equals the official Jinja template's, with and without a generation prompt (optional)."""
        if official_chat_template is None:
            pytest.skip("no official_chat_template fixture")
        template = self.for_variant(official_chat_template, claimed[1])
        facts = self.facts(claimed)
        tok = self.for_variant(tokenizer, claimed[1])
        _check(P.official_template_problems(tok, template, self.renderer(facts, tok), list(conversation)))

    def test_declared_reasoning_and_tools_are_marked(self, claimed: tuple[dict[str, Any], str],
                                                      tokenizer: Any) -> None:
        """What ``chat_features`` declares is rendered with ``Segment.kind`` and the right loss mask."""
        from framework.hookdata import ChatFeatures

        facts = self.facts(claimed)
        tok = self.for_variant(tokenizer, claimed[1])
        plugin = self.under_test()
        features = plugin.call("chat_features", facts=facts, tokenizer=tok)
        if features is NOT_IMPLEMENTED or features is None:
            pytest.skip("chat_features is left to the core (read from the shipped template)")
        _check(P.model_problems("chat_features", features, ChatFeatures, optional=False))
        features = ChatFeatures.model_validate(features)
        if not (features.reasoning or features.tools):
            pytest.skip(f"variant {claimed[1]} declares neither reasoning nor tools")

        def render(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Any:
            result = plugin.call("render_chat", facts=facts, messages=messages, options=ChatOptions(),
                                 tokenizer=tok, tools=tools)
            if result is NOT_IMPLEMENTED or result is None:
                pytest.skip("render_chat is left to the core's renderer")
            return result

        _check(P.content_kind_problems(render, features.reasoning, features.tools))

    # ── model ─────────────────────────────────────────────────────────────────────────────

    def _tiny_model_family(self, tiny_model: Any) -> tuple[Any, Any, MatchResult, Any]:
        """(plugin under test, facts with variant, its claim, the selected family hooks) for the tiny model."""
        plugin = self.under_test()
        config = self.tiny_model_config(tiny_model)
        facts, claim = plugin.match(config, self.name_or_path(config, "tiny-model"))
        assert isinstance(claim, MatchResult), "the plugin does not claim its own tiny model's config"
        facts = facts.model_copy(update={"variant": claim.variant})
        host = plugin.host()
        return plugin, facts, claim, host.family(host.select(facts), facts)

    def test_lora_targets_resolve_on_tiny_model(self, tiny_model: Any, tokenizer: Any) -> None:
        if tiny_model is None:
            pytest.skip("no tiny_model fixture: LoRA targets are not resolved on a model")
        plugin, facts, claim, family = self._tiny_model_family(tiny_model)
        problems = []
        for method in ("lora", "qlora"):
            for train_embeddings in (False, True):
                targets = family.lora_targets(method, train_embeddings)
                where = f"lora_target_modules({method}, train_embeddings={train_embeddings})"
                problems += [f"{where}: {p}" for p in P.lora_target_problems(tiny_model, targets)]
        if not problems:
            problems += P.peft_attach_problems(tiny_model, family.lora_targets("lora", False))
        value = plugin.call("check_model", facts=facts, model=tiny_model,
                            tokenizer=self.for_variant(tokenizer, claim.variant))
        if value is not NOT_IMPLEMENTED:
            problems += P.findings_problems("check_model", value)
        _check(problems)

    def test_packing_is_exact_where_allowed(self, tiny_model: Any) -> None:
        """Where the plugin's load settings allow padding-free packing, packed samples stay apart."""
        if tiny_model is None:
            pytest.skip("no tiny_model fixture: packing is not checked on a model")
        family = self._tiny_model_family(tiny_model)[3]
        settings = family.load_settings(HardwareFacts(device="cpu", bf16_supported=False))
        if not settings.supports_packing:
            pytest.skip(f"packing is off for this model: {' '.join(settings.notes)}"[:200])
        _check(P.packing_problems(tiny_model))

    def test_demo_model_is_well_formed(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        plugin = self.under_test()
        if not plugin.implements("provide_demo_model"):
            pytest.skip("the plugin provides no demo model")
        from pathlib import Path

        demo = plugin.call("provide_demo_model", cache_dir=tmp_path_factory.mktemp("demo"))
        _check(P.model_problems("provide_demo_model", demo, DemoModel))
        if demo is not None:
            path = Path(demo.path if isinstance(demo, DemoModel) else demo["path"])
            assert (path / "config.json").is_file(), f"the demo model at {path} has no config.json"
            from framework.facts import read_config

            _, claim = plugin.match(read_config(path), str(path))
            assert claim is not None, "the plugin does not claim its own demo model"


__all__ = ["PluginContract"]
