"""Call one plugin's own hook implementations, the way the core does, without the fallback.

The core answers a family hook with the selected plugin *and* the generic plugin behind it,
so a plugin that returns nothing still gets an answer. The contract must see the plugin's own
answer, so it registers the module alone in a fresh pluggy manager and calls each
implementation with the arguments it names (pluggy passes them by name).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pluggy

from framework import hookspecs
from framework.facts import facts_from_config
from framework.hookdata import MatchResult, ModelFacts
from framework.plugins import PluginHost

#: Marks a hook the plugin does not implement (distinct from an implementation returning None).
NOT_IMPLEMENTED = object()


class PluginUnderTest:
    """A plugin module registered alone, with helpers to call its hooks one by one."""

    def __init__(self, module: ModuleType, name: str) -> None:
        self.module = module
        self.name = name
        self.pm = pluggy.PluginManager(hookspecs.NAME)
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(module, name=name)

    def implements(self, hook: str) -> bool:
        return self._impl(hook) is not None

    def _impl(self, hook: str) -> Any:
        caller = getattr(self.pm.hook, hook)
        for impl in caller.get_hookimpls():
            if impl.plugin is self.module:
                return impl
        return None

    def call(self, hook: str, **kwargs: Any) -> Any:
        """The plugin's own answer, or ``NOT_IMPLEMENTED``."""
        impl = self._impl(hook)
        if impl is None:
            return NOT_IMPLEMENTED
        return impl.function(*[kwargs[name] for name in impl.argnames])

    def match(self, config: dict[str, Any], name_or_path: str) -> tuple[ModelFacts, Any]:
        """Facts of a config.json dict and the plugin's raw ``match_model`` answer."""
        facts = facts_from_config(dict(config), name_or_path)
        return facts, self.call("match_model", facts=facts)

    def facts_with_variant(self, config: dict[str, Any], name_or_path: str) -> ModelFacts:
        """Facts as later hooks see them: ``variant`` set from the plugin's claim."""
        facts, claim = self.match(config, name_or_path)
        variant = claim.variant if isinstance(claim, MatchResult) else None
        return facts.model_copy(update={"variant": variant})

    def host(self) -> PluginHost:
        """A plugin host with the core's builtins and this plugin only (no entry points)."""
        host = PluginHost(load_entrypoints=False, strict=True)
        host.register(self.module, name=self.name)
        return host
