"""The contract's checks as plain functions: each returns the problems it finds, as sentences.

``PluginContract`` asserts that these lists are empty; keeping the checks here, free of pytest,
lets the kit's own tests show that every check catches the mistake it is written for.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence

import pluggy
from pydantic import BaseModel, ValidationError

from framework import hookspecs
from framework.chat import IGNORE_INDEX, special_token_strings, tokenize_chat
from framework.hookdata import HOOK_API_VERSION, ChatOptions, LoraTargets, MatchResult, RenderedChat, Segment

Render = Callable[[list[dict[str, str]], ChatOptions], Any]

#: Config keys a plugin default may name when the core's config module cannot be imported.
FALLBACK_CONFIG_KEYS = (
    "lora.r lora.alpha lora.dropout training.learning_rate training.epochs training.warmup "
    "training.weight_decay training.max_grad_norm training.lr_scheduler training.micro_batch_size "
    "training.grad_accum"
).split()


# ── wiring ────────────────────────────────────────────────────────────────────────────────


def hookimpl_names(module: ModuleType) -> list[str]:
    """Names of the module's attributes marked with ``framework.hookimpl``."""
    marker = f"{hookspecs.NAME}_impl"
    return sorted(name for name in dir(module) if hasattr(getattr(module, name, None), marker))


def hookimpl_problems(module: ModuleType) -> list[str]:
    """Every hookimpl names a hookspec, takes only spec arguments, and has no defaults."""
    names = hookimpl_names(module)
    if not names:
        return [f"{module.__name__} has no function marked with framework.hookimpl"]
    problems = []
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(module, name="plugin-under-test")
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        problems.append(f"pluggy rejects the module: {exc}")
    for name in names:
        function = getattr(module, name)
        opts = getattr(function, f"{hookspecs.NAME}_impl") or {}
        hook = opts.get("specname") or name
        defaulted = [p.name for p in inspect.signature(function).parameters.values()
                     if p.default is not inspect.Parameter.empty]
        if defaulted:
            problems.append(f"hookimpl {hook} gives argument(s) {', '.join(defaulted)} a default: pluggy never "
                            "passes an argument that has a default, so it would always keep the default")
    if "match_model" not in names:
        problems.append("a family plugin must implement match_model (the core selects plugins with it)")
    return problems


def api_range_problem(module: ModuleType) -> str | None:
    """``FRAMEWORK_HOOK_API`` is declared, is a valid specifier, and admits the core's version."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    spec = getattr(module, "FRAMEWORK_HOOK_API", None)
    if not spec:
        return (f"{module.__name__} declares no FRAMEWORK_HOOK_API; add e.g. FRAMEWORK_HOOK_API = \">=1,<2\" "
                "so a future core with an incompatible hook API skips the plugin instead of breaking")
    try:
        specifier = SpecifierSet(spec)
    except InvalidSpecifier:
        return f"FRAMEWORK_HOOK_API {spec!r} is not a version specifier"
    if HOOK_API_VERSION not in specifier:
        return f"FRAMEWORK_HOOK_API {spec!r} excludes the core's hook API {HOOK_API_VERSION}"
    return None


def entry_point_problems(name: str, module: ModuleType) -> list[str]:
    """The distribution is installed with ``name`` in the ``framework`` group, pointing at ``module``."""
    found = [ep for ep in importlib.metadata.entry_points(group=hookspecs.NAME) if ep.name == name]
    if not found:
        return [f"no entry point {name!r} in group {hookspecs.NAME!r}: install the distribution (pip install -e .) "
                f"and declare [project.entry-points.{hookspecs.NAME}] {name} = \"{module.__name__}\""]
    problems = []
    dists = {ep.dist.name if ep.dist else "?" for ep in found}
    if len(dists) > 1:
        problems.append(f"entry point {name!r} is declared by several distributions: {', '.join(sorted(dists))}")
    for ep in found:
        if ep.value.split(":")[0] != module.__name__:
            problems.append(f"entry point {name!r} loads {ep.value!r}, not {module.__name__!r}")
    from framework.plugins import make_plugin_host

    info = make_plugin_host().infos.get(name)
    if info is None or info.status != "loaded":
        state = "missing" if info is None else f"{info.status}: {info.error}"
        problems.append(f"make_plugin_host() does not load plugin {name!r} ({state})")
    return problems


# ── return values ─────────────────────────────────────────────────────────────────────────


def model_problems(hook: str, value: Any, model: type[BaseModel], *, optional: bool = True) -> list[str]:
    """``value`` is a ``model`` (or validates as one); ``None`` is allowed when ``optional``."""
    if value is None:
        return [] if optional else [f"{hook} returned None"]
    if isinstance(value, model):
        return []
    try:
        model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "value"
        return [f"{hook} returned malformed {model.__name__}: {loc}: {first['msg']}"]
    return []


def findings_problems(hook: str, value: Any) -> list[str]:
    """A check hook returns ``None`` or a list of ``Finding``s."""
    from framework.hookdata import Finding

    if value is None:
        return []
    if not isinstance(value, list):
        return [f"{hook} returned {type(value).__name__}, expected a list of Finding"]
    return [p for item in value for p in model_problems(hook, item, Finding, optional=False)]


def match_problems(result: Any, expected_variant: str) -> list[str]:
    """A claim is a ``MatchResult`` with the expected variant and the reasons that decided it."""
    if result is None:
        return ["match_model returned None for a config the plugin must claim"]
    problems = model_problems("match_model", result, MatchResult)
    if problems:
        return problems
    claim = result if isinstance(result, MatchResult) else MatchResult.model_validate(result)
    if claim.variant != expected_variant:
        problems.append(f"match_model recognised variant {claim.variant!r}, expected {expected_variant!r}")
    if not claim.reasons or not all(isinstance(r, str) and r.strip() for r in claim.reasons):
        problems.append("match_model gave no reasons: `framework plan` shows them to explain the choice")
    return problems


def config_keys() -> list[str]:
    """The dotted keys a run config accepts (the core's list, or the documented fallback)."""
    try:
        from framework.config import valid_keys
    except ImportError:
        return list(FALLBACK_CONFIG_KEYS)
    return list(valid_keys())


def hyperparameter_problems(defaults: Any, method: str, stage: str, plugin: str) -> list[str]:
    """Defaults are a dict of valid dotted keys whose values validate in a run config."""
    where = f"default_hyperparameters(method={method!r}, stage={stage!r})"
    if defaults is None:
        return []
    if not isinstance(defaults, dict):
        return [f"{where} returned {type(defaults).__name__}, expected a dict of dotted config keys"]
    known = set(config_keys())
    unknown = sorted(k for k in defaults if k not in known)
    if unknown:
        return [f"{where} names unknown config key(s) {', '.join(map(repr, unknown))}"]
    try:
        from framework.config import Layer, core_layer, resolve
        from framework.errors import ConfigError
    except ImportError:
        return []
    choice = Layer("cli", {"method": method, "stage": stage})
    try:
        resolve([core_layer(), choice])
    except ConfigError:
        return []  # the core itself refuses this method/stage pair; nothing to say about the plugin
    try:
        resolve([core_layer(), Layer(f"plugin:{plugin}", defaults), choice])
    except ConfigError as exc:
        return [f"{where} gives values the run config rejects: {exc.line()}"]
    return []


# ── chat rendering ────────────────────────────────────────────────────────────────────────


def segment_problems(rendered: Any, messages: Sequence[dict[str, str]]) -> list[str]:
    """Segments are well formed; replies are trainable; data is marked ``from_data``."""
    if not isinstance(rendered, RenderedChat):
        return [f"render_chat returned {type(rendered).__name__}, expected RenderedChat"]
    problems = []
    for seg in rendered.segments:
        if not isinstance(seg, Segment) or not isinstance(seg.text, str):
            return [f"render_chat returned a segment that is not a Segment with text: {seg!r}"]
    for seg in rendered.segments:
        if seg.trainable:
            index = seg.message_index
            if index is None or not 0 <= index < len(messages) or messages[index]["role"] != "assistant":
                problems.append(f"trainable text {seg.text!r} does not belong to an assistant message "
                                f"(message_index={index})")
    data_text = "".join(s.text for s in rendered.segments if s.from_data)
    for index, message in enumerate(messages):
        content = message["content"]
        if content not in data_text:
            problems.append(f"the content of message {index} ({message['role']}) is not in a from_data segment: "
                            "data must be marked so control-token text inside it stays plain text")
        if message["role"] == "assistant":
            trained = "".join(s.text for s in rendered.segments if s.trainable and s.message_index == index)
            if content not in trained:
                problems.append(f"assistant message {index} is not inside a trainable segment with its "
                                f"message_index (trainable text: {trained!r})")
    return problems


#: A reasoning sample and a call -> result -> answer sample, for plugins whose chat_features declare
#: them. The call id has nine letters and digits, the one shape every template accepts.
REASONING_TEXT = "Count the letters of Paris: P-a-r-i-s, 五个。"
TOOL_RESULT_TEXT = "Sunny, 21 degrees 晴"
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                                 "parameters": {"type": "object",
                                                                "properties": {"city": {"type": "string"}}}}}
REASONING_CONVERSATION = [
    {"role": "user", "content": "How many letters has Paris?"},
    {"role": "assistant", "content": "Five.", "reasoning_content": REASONING_TEXT},
]
TOOL_CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "call0abc1", "type": "function", "function": {
        "name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call0abc1", "name": "get_weather", "content": TOOL_RESULT_TEXT},
    {"role": "assistant", "content": "Sunny in Paris."},
]


def content_kind_problems(render: Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], Any],
                          reasoning: bool, tools: bool) -> list[str]:
    """A renderer that declares reasoning or tools marks them with ``Segment.kind`` as the hookspec says:
    reasoning trained with its reply (so ``data.train_on_reasoning`` can mask it), tool calls trained,
    tool results and tool declarations never trained."""
    problems: list[str] = []
    if reasoning:
        rendered = render([dict(m) for m in REASONING_CONVERSATION], None)
        marked = [s for s in rendered.segments if s.kind == "reasoning"]
        if REASONING_TEXT not in rendered.text:
            problems.append("chat_features declares reasoning, but the reasoning_content is not in the rendering")
        elif not any(REASONING_TEXT in s.text for s in marked):
            problems.append("the reasoning is not in a Segment with kind='reasoning' (the core cannot mask it)")
        problems += [f"reasoning segment {s.text[:30]!r} is not trained with its reply (message 1)"
                     for s in marked if not (s.trainable and s.message_index == 1)]
    if tools:
        rendered = render([dict(m) for m in TOOL_CONVERSATION], [WEATHER_TOOL])
        kinds = {s.kind for s in rendered.segments}
        for kind in ("tools", "tool_call", "tool_result"):
            if kind not in kinds:
                problems.append(f"chat_features declares tools, but no Segment has kind={kind!r}")
        for s in rendered.segments:
            if s.kind in ("tools", "tool_result") and s.trainable:
                problems.append(f"{s.kind} segment {s.text[:30]!r} is trained (tool results and declarations never are)")
            if s.kind == "tool_call" and not (s.trainable and s.message_index == 1):
                problems.append(f"tool_call segment {s.text[:30]!r} is not trained with its reply (message 1)")
        if not any(TOOL_RESULT_TEXT in s.text for s in rendered.segments if s.kind == "tool_result"):
            problems.append("the tool result text is not in a Segment with kind='tool_result'")
        if "get_weather" not in "".join(s.text for s in rendered.segments if s.kind == "tool_call"):
            problems.append("the tool call (get_weather) is not in a Segment with kind='tool_call'")
    return problems


def stop_token_ids(tokenizer: Any, stop_tokens: Iterable[str]) -> dict[int, str]:
    """Single-token ids of the stop tokens (and eos, which the core always stops on)."""
    vocab = tokenizer.get_vocab()
    names = [*stop_tokens, *([tokenizer.eos_token] if tokenizer.eos_token else [])]
    return {vocab[name]: name for name in names if name in vocab}


def training_problems(tokenizer: Any, render: Render, messages: list[dict[str, str]],
                      stops: dict[int, str]) -> list[str]:
    """Each assistant reply trains at least one token, and its stop token is among them.

    Each reply is checked alone (``last_assistant`` on the conversation up to it), so a stop
    token trained in one turn cannot hide its absence in another.
    """
    problems = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        rendered = render(messages[: index + 1], ChatOptions())
        if not isinstance(rendered, RenderedChat):
            return [f"render_chat returned {type(rendered).__name__}, expected RenderedChat"]
        tokens = tokenize_chat(tokenizer, rendered, "last_assistant")
        trained = [t for t, label in zip(tokens.input_ids, tokens.labels) if label != IGNORE_INDEX]
        if not trained:
            problems.append(f"assistant message {index} trains no token")
        elif not set(trained) & set(stops):
            problems.append(f"assistant message {index}: no stop token ({', '.join(sorted(stops.values()))}) is "
                            f"trained, so the model never learns to stop; trained text: {tokenizer.decode(trained)!r}")
    return problems


def injection_problems(tokenizer: Any, render: Render, messages: list[dict[str, str]]) -> list[str]:
    """Control-token text typed into user data never becomes a control token."""
    clean = render(messages, ChatOptions())
    if not isinstance(clean, RenderedChat):
        return [f"render_chat returned {type(clean).__name__}, expected RenderedChat"]
    specials = special_token_strings(tokenizer)
    used = sorted(s for s in specials if s in clean.text)
    if not used:
        return []
    poisoned = [dict(m, content=f"{m['content']} {' '.join(used)}") if m["role"] == "user" else m for m in messages]
    injected = render(poisoned, ChatOptions())
    vocab = tokenizer.get_vocab()
    clean_ids = tokenize_chat(tokenizer, clean).input_ids
    poisoned_ids = tokenize_chat(tokenizer, injected).input_ids
    grew = [s for s in used if s in vocab and poisoned_ids.count(vocab[s]) != clean_ids.count(vocab[s])]
    if grew:
        return [f"control-token text typed in user data became control token(s) {', '.join(grew)}: mark text "
                "copied from messages with from_data=True"]
    return []


def generation_prefix_problems(render: Render, messages: list[dict[str, str]]) -> list[str]:
    """The inference prompt is a prefix of the training text: train and inference see the same tokens."""
    problems = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(messages[:index], ChatOptions(add_generation_prompt=True))
        full = render(messages[: index + 1], ChatOptions())
        if not (isinstance(prompt, RenderedChat) and isinstance(full, RenderedChat)):
            return ["render_chat did not return RenderedChat"]
        if not full.text.startswith(prompt.text):
            problems.append(f"the generation prompt before message {index} is not a prefix of the training text: "
                            f"{prompt.text[-60:]!r} vs {full.text[: len(prompt.text)][-60:]!r}")
    return problems


def official_template_problems(tokenizer: Any, template: str, render: Render,
                               messages: list[dict[str, str]]) -> list[str]:
    """The plugin renders what the official Jinja template renders, with and without a generation prompt."""
    problems = []
    cases = [(messages, False)]
    if messages[-1]["role"] == "assistant":
        cases.append((messages[:-1], True))
    for convo, generation in cases:
        expected = tokenizer.apply_chat_template(convo, chat_template=template, tokenize=False,
                                                 add_generation_prompt=generation)
        got = render(convo, ChatOptions(add_generation_prompt=generation))
        text = got.text if isinstance(got, RenderedChat) else None
        if text != expected:
            at = next((i for i, (a, b) in enumerate(zip(text or "", expected)) if a != b),
                      min(len(text or ""), len(expected)))
            problems.append(f"render differs from the official template (generation prompt {generation}) at "
                            f"character {at}: got {(text or '')[at:at + 40]!r}, official {expected[at:at + 40]!r}")
    return problems


# ── model ─────────────────────────────────────────────────────────────────────────────────


def lora_target_problems(model: Any, targets: LoraTargets) -> list[str]:
    """Every target and every module to save names at least one module of the model (peft semantics)."""
    names = [name for name, _ in model.named_modules() if name]
    problems = []

    def matches(suffix: str) -> bool:
        return any(name == suffix or name.endswith("." + suffix) for name in names)

    if isinstance(targets.target_modules, str):
        if targets.target_modules != "all-linear" and not any(re.fullmatch(targets.target_modules, n) for n in names):
            problems.append(f"target regex {targets.target_modules!r} matches no module")
    else:
        problems += [f"LoRA target {t!r} matches no module" for t in targets.target_modules if not matches(t)]
    problems += [f"module to save {m!r} matches no module" for m in targets.modules_to_save if not matches(m)]
    return problems


def peft_attach_problems(model: Any, targets: LoraTargets) -> list[str]:
    """peft accepts the targets on a copy of the model and makes some parameters trainable."""
    import copy

    from peft import LoraConfig, get_peft_model

    kwargs: dict[str, Any] = {}
    if targets.modules_to_save:
        kwargs["modules_to_save"] = list(targets.modules_to_save)
    if targets.exclude_modules:
        kwargs["exclude_modules"] = list(targets.exclude_modules)
    modules = targets.target_modules if isinstance(targets.target_modules, str) else list(targets.target_modules)
    try:
        peft_model = get_peft_model(copy.deepcopy(model),
                                    LoraConfig(r=2, lora_alpha=4, target_modules=modules, **kwargs))
    except Exception as exc:  # peft raises ValueError/TypeError/RuntimeError for unusable targets
        return [f"peft cannot attach LoRA with these targets: {type(exc).__name__}: {str(exc).splitlines()[0]}"]
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    return [] if trainable else ["peft attached LoRA but no parameter is trainable"]


def packing_problems(model: Any, lengths: Sequence[int] = (7, 11), atol: float = 1e-4) -> list[str]:
    """What breaks padding-free packing on ``model``: samples packed into one row with restarted
    ``position_ids`` (no attention mask, no KV cache, as the core trains) must get the logits
    each has alone. A kernel or architecture that lets one sample see another shows here."""
    import torch

    vocab = model.get_input_embeddings().weight.shape[0]
    generator = torch.Generator().manual_seed(0)
    samples = [torch.randint(0, vocab, (1, n), generator=generator) for n in lengths]
    positions = torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            packed = model(torch.cat(samples, dim=1), position_ids=positions, attention_mask=None,
                           use_cache=False).logits.float()
            alone = [model(s, use_cache=False).logits.float() for s in samples]
    finally:
        model.train(was_training)
    problems, start = [], 0
    for index, (n, logits) in enumerate(zip(lengths, alone)):
        gap = float((packed[:, start:start + n] - logits).abs().max())
        if gap > atol:
            problems.append(f"packed sample {index} ({n} tokens) differs from the same sample alone by {gap:.2e} "
                            f"(more than {atol:g}): padding-free packing is not exact; set "
                            "LoadSettings.supports_packing=False with the reason in notes")
        start += n
    return problems
