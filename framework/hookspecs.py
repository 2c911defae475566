"""The contract between the core and its plugins. Read this file to write a plugin.

A *family plugin* teaches the core one model family: how to recognise it from config.json,
how its chat template renders a conversation, which tokenizer traps it has, which modules LoRA
should wrap, which hyperparameters work, how far RoPE can stretch and how the model must be
loaded. An *extension plugin* adds cross-cutting features (training callbacks, CLI commands)
without claiming any model.

Plugins are found through the ``framework`` entry-point group::

    [project.entry-points.framework]
    myfamily = "framework_myfamily.plugin"

and implement hooks with the ``framework.hookimpl`` marker. A hook implementation may accept
any subset of the arguments listed here (pluggy passes them by name), so adding an argument to
a hook never breaks an existing plugin. Implementation arguments must not have defaults.

Lifecycle of one run (the order in which the core calls the hooks)::

    read config.json ─► match_model (every plugin) ─► pick the highest score
        ─► model_load_settings, default_hyperparameters, rope_scaling      (plan)
        ─► check_tokenizer, chat_features                                   (tokenizer)
        ─► render_chat per sample, check_data                              (data)
        ─► lora_target_modules, check_model                                (model)
        ─► training_callbacks, reward_functions (--stage grpo)              (train)
        ─► stop_tokens                                                     (save, chat, eval)

After selection, *family hooks* are answered by the selected plugin alone, with the core's
generic plugin behind it: for a ``firstresult`` hook, returning ``None`` means "I have no
opinion, use the core's generic answer". *Check hooks* (``check_*``) collect findings from the
selected plugin and from the core's own generic checks. *Registry hooks*
(``known_model_configs``, ``provide_demo_model``, ``training_callbacks``, ``reward_functions``,
``add_commands``) are answered by every loaded plugin.

Compatibility: the core's hook API version is ``framework.HOOK_API_VERSION``. A plugin module
may declare ``FRAMEWORK_HOOK_API = ">=1,<2"`` (a version specifier); a plugin whose range
excludes the core's version is skipped and reported by ``framework plugins``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from framework.hookdata import (
        ChatFeatures,
        ChatOptions,
        DemoModel,
        Finding,
        HardwareFacts,
        LoadSettings,
        LoraTargets,
        MatchResult,
        ModelFacts,
        Message,
        RenderedChat,
        RewardFunction,
        RopeDecision,
    )

#: The one name: pluggy project name, marker name and entry-point group.
NAME = "framework"

hookspec = pluggy.HookspecMarker(NAME)
hookimpl = pluggy.HookimplMarker(NAME)


# ──────────────────────────────────────────────────────────────────────────────────────────
# Selection
# ──────────────────────────────────────────────────────────────────────────────────────────


@hookspec
def match_model(facts: ModelFacts) -> MatchResult | None:
    """Say whether this plugin handles the model, and how specifically.

    Called by the core on **every** loaded family plugin, once per run, right after
    config.json is read and before anything is loaded. The highest score wins. Two plugins
    with the same highest score are an error the user resolves with ``--plugin NAME``;
    the outcome never depends on load order. The core's generic plugin does not take part:
    it is used only when no plugin answers.

    Scores: 100 for a config recognised by facts only this family has (a vocabulary size, a
    rope type); 50 for model_type alone; lower for guesses. Report the facts that decided it
    in ``reasons`` and the recognised variant (e.g. ``"3.1"``) in ``variant``: ``framework
    plan`` prints both, and the core passes ``variant`` back in ``facts.variant`` to every
    later hook.

    The model's own chat template is evidence too (hook API 1.2): ``facts.chat_template``
    holds the template shipped in the model directory. Configs of two variants can be
    identical while their templates differ (a default system prompt, a knowledge-cutoff
    block), so let the template decide the variant when it is there, and say so in
    ``reasons`` ("chat template of the model directory: ..."). When the architecture is
    this family's but the template is another chat format altogether (a distill or community
    fine-tune with its own markers), keep claiming the model (target modules, load settings,
    RoPE and planning still apply) and set ``chat_format="shipped"``: the core then renders
    with the shipped template and asks this plugin nothing about chat. The core fills
    ``facts.chat_format`` with the decision for every later hook.

    Args:
        facts: config.json of the model (for a multimodal wrapper, ``facts.text_config`` holds
            the language model's config) and, when the model directory ships one, its chat
            template in ``facts.chat_template``.

    Returns:
        A ``MatchResult``, or ``None`` for "not mine".
    """


# ──────────────────────────────────────────────────────────────────────────────────────────
# Planning (no tokenizer, no weights)
# ──────────────────────────────────────────────────────────────────────────────────────────


@hookspec(firstresult=True)
def model_load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings | None:
    """Constrain how the model is loaded: attention implementation, dtypes, remote code.

    Called on the selected plugin during planning, before the model is loaded. The core picks
    the dtype first, then the first attention implementation in ``attn_implementations`` that
    can run (``flash_attention_2`` only on an Ampere-or-newer CUDA GPU with flash-attn
    importable, in fp16/bf16, for a model class that supports it, with head sizes up to 256),
    and refuses a requested dtype listed in ``forbidden_dtypes`` with a one-line error. Stops at the first non-None
    result; ``None`` means the core's defaults (flash-attn, then SDPA, then eager; any dtype).

    Args:
        facts: the model's config facts, with ``variant`` set.
        hardware: the detected machine (device, bf16 support, flash-attn version).

    Returns:
        ``LoadSettings`` (allowed attention kernels in order of preference, forbidden dtypes,
        remote-code need, packing support, language-model-only training for multimodal
        wrappers, and the notes ``plan`` prints), or ``None`` for the core's defaults.
    """


@hookspec(firstresult=True)
def default_hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any] | None:
    """Give this family's defaults for a training method, as dotted config keys.

    Called on the selected plugin while the run configuration is resolved. Values sit above
    the core defaults and below the user's config file and command line; ``framework plan``
    shows each with source ``plugin:<name>``. Keys are dotted paths into the run config, e.g.
    ``{"lora.r": 16, "lora.alpha": 32, "training.learning_rate": 1e-4}``; an unknown key is an
    error naming this plugin. Stops at the first non-None result; ``None`` means the core
    defaults alone.

    Args:
        facts: the model's config facts, with ``variant`` set.
        method: ``full``, ``freeze``, ``lora``, ``dora``, ``qlora``, ... (``--method``).
        stage: ``sft``, ``pt`` or ``dpo`` (``--stage``).

    Returns:
        A dict of dotted config keys to values (``framework plan --keys`` lists the valid keys),
        or ``None`` for no family defaults.
    """


@hookspec(firstresult=True)
def rope_scaling(facts: ModelFacts, target_length: int) -> RopeDecision | None:
    """Decide how the model reaches ``target_length`` tokens.

    Called on the selected plugin during planning with the configured cutoff length. Return
    ``action="native"`` when the model already handles it, ``"scale"`` with the
    ``rope_scaling`` dict (and new ``max_position_embeddings``) the core writes onto the
    config before loading, or ``"refuse"`` with the reason: the core then stops with a
    one-line error. Stops at the first non-None result; ``None`` means the core's generic
    answer (native within ``max_position_embeddings``, refuse beyond it).

    Args:
        facts: the model's config facts, with ``variant`` set.
        target_length: the longest sequence the run will train on.

    Returns:
        A ``RopeDecision``: ``native``, ``scale`` (with ``rope_scaling`` and the new
        ``max_position_embeddings``) or ``refuse`` (with the reason the user sees); ``None``
        for the core's generic answer.
    """


@hookspec
def known_model_configs() -> dict[str, dict[str, Any]] | None:
    """Publish config.json facts of this family's published checkpoints, for offline planning.

    Called on **every** loaded plugin when a hub id is neither a local directory nor in the
    local cache, so ``framework plan --model <hub id>`` works with no download. Keys are hub
    ids; values are config.json dicts, each with a ``"_source"`` key naming where the numbers
    come from. Two plugins publishing the same hub id is an error.

    Returns:
        ``{hub_id: config_dict}``, or ``None`` when the plugin publishes nothing.
    """


# ──────────────────────────────────────────────────────────────────────────────────────────
# Tokenizer and chat template
# ──────────────────────────────────────────────────────────────────────────────────────────


@hookspec
def check_tokenizer(facts: ModelFacts, tokenizer: Any) -> list[Finding] | None:
    """Find tokenizer traps of this family: pad, BOS, EOS versus end-of-turn.

    Called on the selected plugin (and the core's generic checks) once the tokenizer is
    loaded, before any data is tokenized. Each finding may carry a ``Fix`` the core applies
    and reports (set a pad token the vocabulary already has, add an end-of-turn token to the
    stop list, ...). An ``error`` finding without a fix stops the run. All results are
    collected; return ``None`` or ``[]`` for "nothing found".

    Args:
        facts: the model's config facts, with ``variant`` set.
        tokenizer: the loaded ``transformers`` tokenizer. Do not mutate it: return fixes.

    Returns:
        A list of ``Finding``s (each with a stable ``code``, a severity, a one-line message,
        an optional ``Fix`` and a source URL), or ``None``/``[]`` when all is well.
    """


@hookspec(firstresult=True)
def render_chat(
    facts: ModelFacts,
    messages: list[Message],
    options: ChatOptions,
    tokenizer: Any,
    tools: list[dict[str, Any]] | None,
) -> RenderedChat | None:
    """Render a conversation exactly as the family's official chat template does.

    Called on the selected plugin once per sample during preprocessing, and for prompts in
    ``framework chat``. ``messages`` are ``framework.hookdata.Message`` dicts with roles
    ``system``, ``user``, ``assistant`` and ``tool`` (already validated). An assistant
    message may carry ``reasoning_content`` and ``tool_calls``; a ``tool`` message carries a
    tool result. The core passes such messages only to a plugin whose ``chat_features``
    declares it renders them; anything else is refused before rendering, never dropped.

    Return the rendered text as ``Segment``s whose concatenation is, character for character,
    what the official template renders for the whole conversation (BOS included when the
    template emits it). Mark each assistant reply and its end-of-turn marker
    ``trainable=True`` with its ``message_index``; mark text copied from ``messages`` with
    ``from_data=True``. Give reasoning (with its think markers), tool calls, tool results and
    tool declarations their own segments with ``kind`` set: the core masks ``reasoning`` when
    the user asks (``data.train_on_reasoning``) and ``framework render`` marks each kind. A
    template that rewrites earlier turns (drops reasoning before the last user message)
    renders the whole conversation that way: the rule is that each trained reply is exactly
    what the model would generate after the inference prompt for that point. The core tokenizes the concatenated string in one call (so the token
    ids equal official render-then-tokenize, boundaries included) and maps the trainable
    character spans to labels; the loss policy (all assistant turns, last turn, everything)
    is applied by the core from ``message_index``.

    Stops at the first non-None result; ``None`` lets the core's generic plugin render with
    the tokenizer's own chat template.

    Args:
        facts: the model's config facts, with ``variant`` set.
        messages: the conversation.
        options: ``add_generation_prompt`` for inference, plus template options.
        tokenizer: the loaded tokenizer, for templates that need its special-token strings.
        tools: the sample's tool declarations (OpenAI function schemas), or ``None``. Added in
            hook API 1.2.

    Returns:
        A ``RenderedChat`` whose segments concatenate to the official rendering, or ``None``
        to let the core's generic plugin use the tokenizer's own chat template.
    """


@hookspec(firstresult=True)
def chat_features(facts: ModelFacts, tokenizer: Any) -> ChatFeatures | None:
    """Declare which kinds of message content this plugin's ``render_chat`` renders.

    Called on the selected plugin once the tokenizer is loaded, before data is rendered. A
    sample with reasoning or tool content that the renderer does not declare is refused with
    a one-line error naming the sample's file:line and the plugin: data is never silently
    dropped. Stops at the first non-None result; ``None`` means the core's generic answer,
    read from the shipped template (reasoning when it renders ``reasoning_content``, tools
    when it renders ``tools``). Added in hook API 1.2.

    Args:
        facts: the model's config facts, with ``variant`` and ``chat_format`` set.
        tokenizer: the loaded tokenizer.

    Returns:
        ``ChatFeatures`` (reasoning, tools, notes for ``plan``), or ``None`` for the generic answer.
    """


@hookspec(firstresult=True)
def stop_tokens(facts: ModelFacts, tokenizer: Any) -> list[str] | None:
    """Name the tokens that end an assistant turn in this family's chat format.

    Called on the selected plugin when the generation config is saved and before evaluation
    or chat generation. The core stops on these and on eos. Stops at the first non-None
    result; ``None`` means eos alone.

    Args:
        facts: the model's config facts, with ``variant`` set.
        tokenizer: the loaded tokenizer (token strings must exist in its vocabulary).

    Returns:
        Token strings that end an assistant turn (e.g. an end-of-turn control token), or
        ``None`` for eos alone.
    """


@hookspec
def check_data(facts: ModelFacts, tokenizer: Any, texts: list[str]) -> list[Finding] | None:
    """Find problems of this family with the user's own data (e.g. expensive scripts).

    Called on the selected plugin (and the core's generic checks) after the data is read,
    with a sample of at most a few thousand message texts. All results are collected.

    Args:
        facts: the model's config facts, with ``variant`` set.
        tokenizer: the loaded tokenizer (after fixes).
        texts: decoded sample texts of the user's training data.

    Returns:
        A list of ``Finding``s (e.g. "this script costs N tokens per character here: consider
        ..."), or ``None``/``[]``.
    """


# ──────────────────────────────────────────────────────────────────────────────────────────
# Model
# ──────────────────────────────────────────────────────────────────────────────────────────


@hookspec(firstresult=True)
def lora_target_modules(facts: ModelFacts, method: str, train_embeddings: bool) -> LoraTargets | None:
    """Name the modules an adapter wraps for this architecture.

    Called on the selected plugin before the adapter is attached, for every adapter method
    (``lora``, ``dora``, ``qlora``, ...). Default should be all linear projections of
    attention and MLP; routers of MoE layers and vision towers excluded; ``lm_head`` and
    embeddings in ``modules_to_save`` only when ``train_embeddings`` is true (with
    ``ensure_weight_tying`` when they are tied). The core checks every name matches a module.
    Stops at the first non-None result; ``None`` means every linear layer but the output head.
    Fused MoE experts (3-D parameters, no module) go in ``target_parameters``, which peft
    adapts without dropout and without DoRA: the core sets a default ``lora.dropout`` to 0 for
    them, refuses a user's dropout or ``--method dora`` in one line, and the plan counts the
    expert share of the adapter from these names.

    Args:
        facts: the model's config facts, with ``variant`` set.
        method: the adapter method (``lora``, ``dora``, ``rslora``, ``qlora``, ``qlora8``, ``hybrid``).
        train_embeddings: the user asked to train embeddings and output head as well.

    Returns:
        ``LoraTargets`` (module-name suffixes or one regex, modules to save, modules to
        exclude, fused parameters to adapt), or ``None`` for every linear layer.
    """


@hookspec
def check_model(facts: ModelFacts, model: Any, tokenizer: Any) -> list[Finding] | None:
    """Find problems visible only in the loaded weights (e.g. untrained special-token rows).

    Called on the selected plugin (and the core's generic checks) after the model is loaded
    and before the training method is applied. All results are collected.

    Args:
        facts: the model's config facts, with ``variant`` set.
        model: the loaded ``transformers`` model (read it; do not modify it).
        tokenizer: the loaded tokenizer (after fixes).

    Returns:
        A list of ``Finding``s; a fix's ``reinit_token_ids`` are re-initialised by the core to
        the mean of the trained embedding rows. ``None``/``[]`` when all is well.
    """


# ──────────────────────────────────────────────────────────────────────────────────────────
# Registries: demo model, training extensions, CLI
# ──────────────────────────────────────────────────────────────────────────────────────────


@hookspec
def provide_demo_model(cache_dir: Path) -> DemoModel | None:
    """Build (once, under ``cache_dir``) a tiny model of this family to train offline.

    Called on every loaded plugin when ``framework run`` is given no model. The core takes
    the answer of the plugin whose name sorts first, so the choice is deterministic. Build
    it deterministically (fixed seed) and quickly (seconds).

    Args:
        cache_dir: a per-user cache directory the plugin may write into.

    Returns:
        A ``DemoModel`` (name, local path, optional identity prompt), or ``None``.
    """


@hookspec
def training_callbacks(config: Any) -> list[Any] | None:
    """Add ``transformers.TrainerCallback`` instances to a run (loggers, exporters, guards).

    Called on every loaded plugin just before training starts, with the resolved run config.

    Args:
        config: the resolved ``framework.config.RunConfig`` of the run.

    Returns:
        A list of ``TrainerCallback`` instances, or ``None``.
    """


@hookspec
def reward_functions(config: Any) -> dict[str, RewardFunction | Any] | None:
    """Contribute named reward functions for online RL (``--stage grpo``). Added in hook API 1.3.

    Called on every loaded plugin while a GRPO run is built and by ``framework plugins``
    (then with ``config=None``). A run uses only the rewards named with ``--reward NAME[:weight]``;
    two plugins offering the same name are an error naming both. A reward that raises, or
    returns anything but one number (or ``None``) per completion, stops the run with one line
    naming the plugin and the reward (exit 1).

    Args:
        config: the resolved ``framework.config.RunConfig`` of the run (``grpo.*`` settings),
            or ``None`` when only the names are listed.

    Returns:
        Reward name -> ``RewardFunction`` (function, description, the reference columns it
        reads) or a plain callable (its docstring's first line is the description), or ``None``.
    """


@hookspec
def add_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add subcommands to the ``framework`` CLI.

    Called on every loaded plugin while the argument parser is built. Add parsers with
    ``subparsers.add_parser(...)`` and set ``func`` with ``set_defaults(func=...)``; the
    function receives the parsed ``argparse.Namespace`` and returns an exit code.

    Args:
        subparsers: the ``framework`` parser's subcommand collection.
    """
