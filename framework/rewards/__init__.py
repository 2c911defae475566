"""Reward functions for online RL (``--stage grpo``): the registry every plugin contributes to.

Any loaded plugin offers named rewards through the ``reward_functions`` hook (hook API 1.3);
the core's own (``framework.rewards.builtin``) are offered the same way. A run names the ones
it uses with ``--reward NAME[:weight]`` (repeatable; ``grpo.rewards`` in YAML). A name of the
form ``module:function`` runs the user's own Python function and is off unless given.

What can go wrong, and how it ends (the CLI turns these into one line):

=======================================  ===================================================
an unknown reward name, a bad weight     ``ConfigError``, exit 2, with the names on offer
two plugins offering one name            ``ConfigError``, exit 2, naming both plugins
``module:function`` that does not import ``ConfigError``, exit 2
the data lacks every column a reward     ``DataError``, exit 2, naming the reward and the
reads                                    first data file, before any weight is loaded
a reward raises or returns a wrong shape ``PluginError``, exit 1, naming plugin and reward
=======================================  ===================================================
"""

from __future__ import annotations

import importlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from framework.errors import ConfigError, DataError, PluginError
from framework.hookdata import RewardFunction


@dataclass(frozen=True)
class RewardChoice:
    """One ``--reward NAME[:weight]`` as the user wrote it."""

    name: str
    weight: float = 1.0


def parse_choice(text: str) -> RewardChoice:
    """``NAME``, ``NAME:weight``, ``module:function`` or ``module:function:weight``."""
    raw = text.strip()
    if not raw:
        raise ConfigError("an empty --reward", where="grpo.rewards", hint="name a reward, e.g. --reward exact_match")
    head, _, last = raw.rpartition(":")
    weight = 1.0
    if head:
        try:
            weight = float(last)
        except ValueError:
            head = raw  # module:function without a weight
        else:
            raw = head
    if not math.isfinite(weight):
        raise ConfigError(f"reward weight {last!r} is not a finite number", where=f"--reward {text}",
                          hint="use NAME:weight with a number, e.g. exact_match:2")
    return RewardChoice(raw, weight)


@dataclass(frozen=True)
class OfferedReward:
    """A reward on offer: who offers it and what it is."""

    name: str
    plugin: str
    reward: RewardFunction


def _as_reward(value: Any, plugin: str, name: str) -> RewardFunction:
    if isinstance(value, RewardFunction):
        return value
    if callable(value):
        doc = (getattr(value, "__doc__", None) or "").strip().splitlines()
        return RewardFunction(value, doc[0] if doc else "")
    raise PluginError(f"plugin {plugin} offers reward {name!r} as {type(value).__name__}, not a callable or "
                      "RewardFunction (hook reward_functions)")


def offered(host: Any, config: Any = None) -> dict[str, OfferedReward]:
    """Every reward the loaded plugins offer, by name; a name offered twice is refused."""
    found: dict[str, OfferedReward] = {}
    for plugin, table in host.call_all("reward_functions", config=config):
        if not isinstance(table, dict):
            raise PluginError(f"plugin {plugin} returned {type(table).__name__} from hook reward_functions, not a dict")
        for name, value in table.items():
            if name in found:
                raise ConfigError(f"reward {name!r} is offered by two plugins, {found[name].plugin} and {plugin}",
                                  hint="uninstall one, or disable it with FRAMEWORK_DISABLE_PLUGINS")
            found[name] = OfferedReward(name, plugin, _as_reward(value, plugin, name))
    return found


def _user_function(spec: str) -> OfferedReward:
    """``module:function`` imported from the working directory or the installed packages."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or ":" in attr:
        raise ConfigError(f"reward {spec!r} is not NAME or module:function", where="--reward",
                          hint="e.g. --reward exact_match or --reward my_rewards:score")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module
        raise ConfigError(f"reward {spec}: module {module_name!r} does not import ({type(exc).__name__}: {exc})",
                          where="--reward", hint="run from the directory that holds it, or install it") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"reward {spec}: {module_name} has no function {attr!r}", where="--reward",
                          hint="name a function taking completions and returning one float each")
    doc = (function.__doc__ or "").strip().splitlines()
    return OfferedReward(spec, f"user module {module_name}", RewardFunction(function, doc[0] if doc else ""))


@dataclass
class ChosenReward:
    """A reward picked for the run, with its weight and where it came from."""

    name: str
    plugin: str
    weight: float
    reward: RewardFunction


def choose(host: Any, config: Any, names: Sequence[str]) -> list[ChosenReward]:
    """The rewards ``--reward`` names, in order; unknown names are refused with the ones on offer."""
    if not names:
        raise ConfigError("--stage grpo needs at least one reward", where="grpo.rewards",
                          hint="add --reward NAME[:weight]; `framework plugins` lists the rewards on offer")
    table = offered(host, config)
    chosen: list[ChosenReward] = []
    for text in names:
        choice = parse_choice(text)
        if choice.name in table:
            found = table[choice.name]
        elif ":" in choice.name:
            found = _user_function(choice.name)
        else:
            import difflib

            close = difflib.get_close_matches(choice.name, list(table), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"unknown reward {choice.name!r}", where="--reward",
                              hint=f"{hint}rewards on offer: {', '.join(sorted(table)) or 'none'}; or module:function")
        if any(c.name == found.name for c in chosen):
            raise ConfigError(f"reward {found.name!r} is named twice", where="--reward",
                              hint="name it once with the weight you want")
        chosen.append(ChosenReward(found.name, found.plugin, choice.weight, found.reward))
    return chosen


def check_columns(chosen: Sequence[ChosenReward], columns: Sequence[str], where: str) -> None:
    """Every reward that reads reference columns finds at least one of them in the data."""
    for reward in chosen:
        needs = reward.reward.columns
        if needs and not any(c in columns for c in needs):
            have = ", ".join(c for c in columns if c != "prompt") or "none"
            raise DataError(f"reward {reward.name!r} ({reward.plugin}) reads column {' or '.join(needs)}, which the "
                            f"data does not have (reference columns: {have})", where=where,
                            hint=f"give every record a {needs[0]!r} field, or drop --reward {reward.name}")


@dataclass
class Scored:
    """The last batch each reward scored: what the completions log writes."""

    prompts: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    scores: dict[str, list[float | None]] = field(default_factory=dict)


def guarded(reward: ChosenReward, sink: Scored | None = None) -> Callable[..., list[float | None]]:
    """The reward as TRL calls it: faults become one line naming the plugin and the reward.

    The wrapper carries the reward's name (TRL names its ``rewards/<name>/mean`` metrics after
    ``__name__``) and records each batch's scores in ``sink`` for the completions log.
    """
    function = reward.reward.function

    def call(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        try:
            scores = function(prompts=prompts, completions=completions, **kwargs)
        except (ConfigError, DataError):
            raise
        except Exception as exc:  # noqa: BLE001 - a reward's fault, reported as such
            raise PluginError(f"reward {reward.name!r} of {reward.plugin} raised {type(exc).__name__}: {exc}") from exc
        scores = _checked(scores, len(completions), reward)
        if sink is not None:
            sink.prompts, sink.completions = list(prompts), list(completions)
            sink.scores[reward.name] = scores
        return scores

    call.__name__ = reward.name.replace(":", ".")
    return call


def _checked(scores: Any, expected: int, reward: ChosenReward) -> list[float | None]:
    what = f"reward {reward.name!r} of {reward.plugin}"
    if hasattr(scores, "tolist"):
        scores = scores.tolist()
    if not isinstance(scores, (list, tuple)) or len(scores) != expected:
        got = f"{type(scores).__name__} of length {len(scores)}" if isinstance(scores, (list, tuple)) else \
            type(scores).__name__
        raise PluginError(f"{what} returned {got}; expected a list of {expected} numbers (one per completion)")
    out: list[float | None] = []
    for value in scores:
        if value is None:
            out.append(None)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out.append(float(value))
        else:
            raise PluginError(f"{what} returned {value!r} for a completion; expected a finite number or None")
    return out
