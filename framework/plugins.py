"""Plugin discovery, selection and typed hook calls. The only module that touches pluggy hooks.

Discovery loads the ``framework`` entry points one at a time: a plugin that fails to import,
declares an incompatible hook API or fails validation is recorded (and shown by
``framework plugins``) while the others keep working. ``FRAMEWORK_STRICT_PLUGINS=1`` raises
instead. ``FRAMEWORK_DISABLE_PLUGINS=a,b`` blocks plugins by name and
``FRAMEWORK_LOAD_PLUGINS=a,b`` loads only those (empty: none). ``FRAMEWORK_TRACE_PLUGINS=1``
prints every hook call.

Hooks are never called through ``pm.hook.X()`` directly: each implementation is called on
its own, so an exception or malformed answer names the plugin, its distribution and version,
and the hook.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pluggy
from pydantic import BaseModel, ValidationError

from framework import hookspecs
from framework.errors import PluginError, SelectionError
from framework.hookdata import (
    HOOK_API_VERSION,
    ChatFeatures,
    ChatFormat,
    ChatOptions,
    DemoModel,
    Finding,
    HardwareFacts,
    LoadSettings,
    LoraTargets,
    MatchResult,
    ModelFacts,
    RenderedChat,
    RopeDecision,
)

#: Core plugins registered by module path; they answer only when the selected plugin does not.
BUILTIN_PLUGINS = {
    "generic": "framework.builtin.generic",
    "core-checks": "framework.builtin.checks",
    "core-rewards": "framework.rewards.builtin",
}
GENERIC = "generic"


@dataclass
class PluginInfo:
    """What ``framework plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    status: str  # loaded | failed | incompatible | blocked
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    builtin: bool = False

    def label(self) -> str:
        """``name (distribution version)``, used in every plugin-caused message."""
        return f"{self.name} ({self.distribution} {self.version})"


@dataclass(frozen=True)
class Selection:
    """The family plugin chosen for a model, and why."""

    name: str
    info: PluginInfo
    match: MatchResult | None
    forced: bool = False
    candidates: tuple[tuple[str, int], ...] = ()


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _api_compatible(module: Any) -> str | None:
    """None when the plugin accepts the core's hook API version, else the reason."""
    spec = getattr(module, "FRAMEWORK_HOOK_API", None)
    if not spec:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        if HOOK_API_VERSION in SpecifierSet(spec):
            return None
    except InvalidSpecifier:
        return f"declares an invalid FRAMEWORK_HOOK_API {spec!r}"
    return f"supports hook API {spec}, the core implements {HOOK_API_VERSION}"


class PluginHost:
    """A fresh plugin manager with its plugins. Build one per process or test."""

    def __init__(self, *, load_entrypoints: bool = True, strict: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.strict = os.environ.get("FRAMEWORK_STRICT_PLUGINS") == "1" if strict is None else strict
        self._register_builtins()
        if load_entrypoints:
            self._load_entrypoints()
        if os.environ.get("FRAMEWORK_TRACE_PLUGINS") == "1":
            self.pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
            self.pm.enable_tracing()

    # ── registration ──────────────────────────────────────────────────────────────────

    def _register_builtins(self) -> None:
        import importlib

        from framework import __version__

        for name, path in BUILTIN_PLUGINS.items():
            module = importlib.import_module(path)
            self.pm.register(module, name=name)
            self.infos[name] = PluginInfo(
                name, "framework", __version__, path, "loaded", self._hooks_of(name), builtin=True
            )

    def register(self, plugin: Any, name: str, distribution: str = "(in-process)", version: str = "0") -> None:
        """Register an in-process plugin object (tests, scripts) under ``name``."""
        self._register_checked(plugin, name, distribution, version, getattr(plugin, "__name__", name))

    def _register_checked(self, module: Any, name: str, dist: str, version: str, path: str) -> None:
        reason = _api_compatible(module)
        if reason:
            self.infos[name] = PluginInfo(name, dist, version, path, "incompatible", error=reason)
            if self.strict:
                raise PluginError(f"plugin {name} ({dist} {version}) {reason}")
            print(f"warning: plugin {name} ({dist} {version}) skipped: {reason}", file=sys.stderr)
            return
        try:
            self.pm.register(module, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self._record_failure(name, dist, version, path, exc)
            return
        self.infos[name] = PluginInfo(name, dist, version, path, "loaded", self._hooks_of(name))

    def _record_failure(self, name: str, dist: str, version: str, path: str, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        self.infos[name] = PluginInfo(name, dist, version, path, "failed", error=error)
        if self.strict:
            raise PluginError(f"plugin {name} ({dist} {version}) failed to load: {error}") from exc
        print(f"warning: plugin {name} ({dist} {version}) failed to load: {error}", file=sys.stderr)

    def _load_entrypoints(self) -> None:
        allow = _env_list("FRAMEWORK_LOAD_PLUGINS")
        block = set(_env_list("FRAMEWORK_DISABLE_PLUGINS") or [])
        seen: dict[str, str] = {}
        for ep in sorted(importlib.metadata.entry_points(group=hookspecs.NAME), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if ep.name in seen and seen[ep.name] != dist:
                self._record_failure(
                    ep.name, dist, version, ep.value,
                    RuntimeError(f"entry point name {ep.name!r} is also used by {seen[ep.name]}"),
                )
                continue
            seen[ep.name] = dist
            if ep.name in block or (allow is not None and ep.name not in allow) or ep.name in self.infos:
                if ep.name not in self.infos:
                    self.infos[ep.name] = PluginInfo(ep.name, dist, version, ep.value, "blocked")
                continue
            try:
                module = ep.load()
            except Exception as exc:
                self._record_failure(ep.name, dist, version, ep.value, exc)
                continue
            self._register_checked(module, ep.name, dist, version, ep.value)

    def _hooks_of(self, name: str) -> list[str]:
        plugin = self.pm.get_plugin(name)
        return sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])

    # ── calling ────────────────────────────────────────────────────────────────────────

    def _impls(self, hook: str, names: Iterable[str] | None = None) -> list[tuple[str, Any]]:
        """Implementations of ``hook`` as (plugin name, impl), in the order given by ``names``."""
        caller = getattr(self.pm.hook, hook)
        by_name = {self.pm.get_name(impl.plugin): impl for impl in caller.get_hookimpls()}
        order = list(names) if names is not None else sorted(by_name)
        return [(n, by_name[n]) for n in order if n in by_name]

    def _call(self, name: str, impl: Any, hook: str, kwargs: dict[str, Any]) -> Any:
        try:
            return impl.function(*[kwargs[a] for a in impl.argnames])
        except (SelectionError, PluginError):
            raise
        except Exception as exc:
            from framework.errors import UserError

            if isinstance(exc, UserError):
                raise
            raise PluginError(f"plugin {self.infos[name].label()} raised in hook {hook}: "
                              f"{type(exc).__name__}: {exc}") from exc

    def _validated(self, name: str, hook: str, value: Any, model: type[BaseModel]) -> Any:
        if value is None or isinstance(value, model):
            return value
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise PluginError(
                f"plugin {self.infos[name].label()} returned malformed data from hook {hook}: "
                f"{loc or 'value'}: {first['msg']}"
            ) from exc

    def call_all(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every loaded plugin's implementation; (plugin, non-None result) in name order."""
        out = []
        for name, impl in self._impls(hook):
            result = self._call(name, impl, hook, kwargs)
            if result is not None:
                out.append((name, result))
        return out

    # ── selection ─────────────────────────────────────────────────────────────────────

    def family_plugins(self) -> list[str]:
        """Loaded plugins that can claim models (implement ``match_model``)."""
        return [name for name, _ in self._impls("match_model") if not self.infos[name].builtin]

    def matches(self, facts: ModelFacts) -> list[tuple[str, MatchResult]]:
        """Every plugin's claim on the model, best first (ties in name order)."""
        claims = [
            (name, self._validated(name, "match_model", result, MatchResult))
            for name, result in self.call_all("match_model", facts=facts)
        ]
        return sorted(claims, key=lambda c: (-c[1].score, c[0]))

    def select(self, facts: ModelFacts, forced: str | None = None) -> Selection:
        """Pick the family plugin for a model: forced by name, else the unique best score."""
        claims = self.matches(facts)
        candidates = tuple((n, m.score) for n, m in claims)
        if forced:
            if forced not in self.infos or self.infos[forced].status != "loaded":
                raise SelectionError(
                    f"plugin {forced!r} is not loaded", where="--plugin",
                    hint=f"installed plugins: {', '.join(self.family_plugins() + [GENERIC]) or 'none'}",
                )
            match = dict(claims).get(forced)
            return Selection(forced, self.infos[forced], match, forced=True, candidates=candidates)
        if not claims:
            return Selection(GENERIC, self.infos[GENERIC], None, candidates=candidates)
        best = [c for c in claims if c[1].score == claims[0][1].score]
        if len(best) > 1:
            names = ", ".join(f"{n} (score {m.score})" for n, m in best)
            raise SelectionError(
                f"model {facts.name_or_path} is claimed equally by {names}",
                hint=f"choose one with --plugin {best[0][0]} (or another of them)",
            )
        name, match = claims[0]
        return Selection(name, self.infos[name], match, candidates=candidates)

    def family(self, selection: Selection, facts: ModelFacts, chat_format: ChatFormat | None = None) -> FamilyHooks:
        """Typed access to the family hooks, answered by the selected plugin alone.

        ``chat_format`` overrides the plugin's decision (``data.template``); by default it is the
        winning ``MatchResult.chat_format``, and "shipped" for the generic fallback (it has no
        format of its own).
        """
        variant = selection.match.variant if selection.match else None
        if chat_format is None:
            chat_format = selection.match.chat_format if selection.match else "plugin"
            if selection.name == GENERIC:
                chat_format = "shipped"
        update = {"variant": variant, "chat_format": chat_format}
        return FamilyHooks(self, selection, facts.model_copy(update=update))

    def demo_model(self, cache_dir: Any) -> DemoModel | None:
        """The demo model of the plugin whose name sorts first (deterministic)."""
        for name, result in self.call_all("provide_demo_model", cache_dir=cache_dir):
            return self._validated(name, "provide_demo_model", result, DemoModel)
        return None

    def known_model_configs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Hub id -> (plugin, config dict) from every plugin; a duplicate id is a plugin error."""
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for name, table in self.call_all("known_model_configs"):
            for hub_id, cfg in table.items():
                if hub_id in out:
                    raise PluginError(
                        f"plugins {out[hub_id][0]} and {self.infos[name].label()} both publish {hub_id}"
                    )
                out[hub_id] = (name, cfg)
        return out


class FamilyHooks:
    """The selected plugin's answers, with the core's generic plugin behind it."""

    def __init__(self, host: PluginHost, selection: Selection, facts: ModelFacts) -> None:
        self.host = host
        self.selection = selection
        self.facts = facts
        self._order = [selection.name] if selection.name == GENERIC else [selection.name, GENERIC]
        self._check_order = [*self._order, "core-checks"]
        # With the shipped template in charge, the chat hooks skip the selected plugin: its
        # format is not the model's (a distill or fine-tune on this family's architecture).
        self._chat_order = [GENERIC] if facts.chat_format == "shipped" else self._order

    @property
    def chat_format(self) -> ChatFormat:
        """Who renders the chat for this run: the plugin's format or the shipped template."""
        return self.facts.chat_format or "plugin"

    def _first(self, hook: str, order: list[str] | None = None, **kwargs: Any) -> tuple[str, Any]:
        for name, impl in self.host._impls(hook, order or self._order):
            result = self.host._call(name, impl, hook, {"facts": self.facts, **kwargs})
            if result is not None:
                return name, result
        return GENERIC, None

    def _collect(self, hook: str, **kwargs: Any) -> list[Finding]:
        findings: list[Finding] = []
        for name, impl in self.host._impls(hook, self._check_order):
            result = self.host._call(name, impl, hook, {"facts": self.facts, **kwargs}) or []
            if not isinstance(result, list):
                raise PluginError(f"plugin {self.host.infos[name].label()} returned malformed data "
                                  f"from hook {hook}: expected a list of findings")
            findings.extend(self.host._validated(name, hook, f, Finding) for f in result)
        return findings

    def load_settings(self, hardware: HardwareFacts) -> LoadSettings:
        name, result = self._first("model_load_settings", hardware=hardware)
        return self.host._validated(name, "model_load_settings", result, LoadSettings) or LoadSettings()

    def default_hyperparameters(self, method: str, stage: str) -> tuple[str, dict[str, Any]]:
        """(plugin name, dotted-key defaults)."""
        name, result = self._first("default_hyperparameters", method=method, stage=stage)
        if result is not None and not isinstance(result, dict):
            raise PluginError(f"plugin {self.host.infos[name].label()} returned malformed data from "
                              "hook default_hyperparameters: expected a dict of dotted keys")
        return name, dict(result or {})

    def rope_scaling(self, target_length: int) -> RopeDecision:
        name, result = self._first("rope_scaling", target_length=target_length)
        return self.host._validated(name, "rope_scaling", result, RopeDecision)

    def lora_targets(self, method: str, train_embeddings: bool) -> LoraTargets:
        name, result = self._first("lora_target_modules", method=method, train_embeddings=train_embeddings)
        return self.host._validated(name, "lora_target_modules", result, LoraTargets)

    def stop_tokens(self, tokenizer: Any) -> list[str]:
        _, result = self._first("stop_tokens", self._chat_order, tokenizer=tokenizer)
        return list(result or [])

    def check_tokenizer(self, tokenizer: Any) -> list[Finding]:
        return self._collect("check_tokenizer", tokenizer=tokenizer)

    def check_data(self, tokenizer: Any, texts: list[str]) -> list[Finding]:
        return self._collect("check_data", tokenizer=tokenizer, texts=texts)

    def check_model(self, model: Any, tokenizer: Any) -> list[Finding]:
        return self._collect("check_model", model=model, tokenizer=tokenizer)

    def chat_features(self, tokenizer: Any) -> ChatFeatures:
        """What the renderer in charge can render beyond plain text (reasoning, tools)."""
        name, result = self._first("chat_features", self._chat_order, tokenizer=tokenizer)
        return self.host._validated(name, "chat_features", result, ChatFeatures) or ChatFeatures()

    def chat_renderer(self, tokenizer: Any, chat_format: ChatFormat | None = None) -> Callable[..., RenderedChat]:
        """A fast per-sample renderer: the hook implementations are resolved once.

        ``chat_format`` picks a renderer other than the run's (the drift check renders through
        both the plugin and the shipped template).
        """
        order = self._chat_order if chat_format is None else ([GENERIC] if chat_format == "shipped" else self._order)
        impls = self.host._impls("render_chat", order)
        host, facts = self.host, self.facts

        def render(
            messages: list[dict[str, Any]], options: ChatOptions, tools: list[dict[str, Any]] | None = None
        ) -> RenderedChat:
            kwargs = {"facts": facts, "messages": messages, "options": options, "tokenizer": tokenizer,
                      "tools": tools}
            for name, impl in impls:
                result = host._call(name, impl, "render_chat", kwargs)
                if result is None:
                    continue
                if not isinstance(result, RenderedChat):
                    raise PluginError(f"plugin {host.infos[name].label()} returned malformed data "
                                      f"from hook render_chat: expected RenderedChat, got "
                                      f"{type(result).__name__}")
                return result
            raise PluginError("no plugin rendered the conversation (the generic plugin is missing)")

        return render


def make_plugin_host(*, load_entrypoints: bool = True, strict: bool | None = None) -> PluginHost:
    """Build a fresh plugin host: builtins, then entry points (unless disabled)."""
    return PluginHost(load_entrypoints=load_entrypoints, strict=strict)
