"""Who renders the chat: the family plugin's format or the model's shipped template, and why.

The plugin decides first (``MatchResult.chat_format``, from the template the model directory
ships); the ``data.template`` setting overrides it. ``framework plan``, ``check`` and ``run``
print the decision with its evidence and ``training_config.json`` keeps it, so ``chat``,
``merge`` and ``eval`` render exactly as training did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.errors import ConfigError
from framework.hookdata import ModelFacts

if TYPE_CHECKING:
    from framework.plugins import FamilyHooks, PluginHost, Selection


def choose_chat_format(host: PluginHost, selection: Selection, facts: ModelFacts, family: FamilyHooks,
                       setting: str, *, has_files: bool = True) -> FamilyHooks:
    """The family hooks with ``data.template`` applied (``auto`` keeps the plugin's decision)."""
    from framework.plugins import GENERIC

    if setting == "auto":
        return family
    if setting == "shipped" and facts.chat_template is None and has_files:
        raise ConfigError("data.template=shipped, but the model directory ships no chat template "
                          "(tokenizer_config.json chat_template or chat_template.jinja)", where="data.template",
                          hint="use data.template=plugin or auto, or add the template to the model directory")
    if setting == "plugin" and selection.name == GENERIC:
        raise ConfigError("data.template=plugin, but no family plugin claims this model: the generic fallback has "
                          "no chat format of its own", where="data.template",
                          hint="use data.template=auto, or force a family with --plugin NAME")
    return host.family(selection, facts, chat_format=setting)  # type: ignore[arg-type]


def chat_format_record(plan: Any) -> dict[str, Any]:
    """The decision as saved in training_config.json and printed by ``plan --json``."""
    selection = plan.selection
    setting = plan.config.data.template
    if setting != "auto":
        decided_by = f"data.template={setting}"
    elif selection.name == "generic":
        decided_by = "generic fallback (no plugin claims the model)"
    else:
        decided_by = f"plugin {selection.name}"
    reasons = list(selection.match.reasons) if selection.match else []
    evidence = [r for r in reasons if "template" in r.lower()] or reasons
    return {"format": plan.facts.chat_format, "setting": setting, "decided_by": decided_by,
            "evidence": evidence, "shipped_template": plan.facts.chat_template is not None}


def chat_format_line(plan: Any) -> str:
    """One line for ``plan``/``check``/``run``: which renderer trains, who decided, on what evidence."""
    record = chat_format_record(plan)
    what = "the model's shipped chat template" if record["format"] == "shipped" else \
        f"the {plan.selection.name} plugin's chat format"
    line = f"{what} (decided by {record['decided_by']}"
    if record["evidence"] and record["setting"] == "auto":
        line += ": " + "; ".join(record["evidence"])
    if not record["shipped_template"]:
        line += "; the model ships no chat template"
    return line + ")"
