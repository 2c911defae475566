"""The tune file: a run YAML plus a ``search`` space and ``tune`` options.

Keeping the space in the run's own YAML means the best trial's settings are that same file
with the sampled values filled in, ready for ``framework run``::

    model: {name_or_path: ./my-model}
    data: {paths: [train.jsonl], val_size: 0.1}
    training: {epochs: 2, eval_steps: 10}
    search:
      training.learning_rate: {low: 1e-5, high: 1e-3, log: true}   # float range (log-uniform)
      lora.r: [8, 16, 32]                                           # categorical
      training.epochs: {low: 1, high: 3}                            # int range (both ends ints)
      training.warmup: {low: 0.0, high: 0.1, step: 0.05}
    tune:
      metric: eval_loss        # any number in the run's metrics.json
      direction: minimize      # or maximize
      sampler: tpe             # tpe | random | grid (grid: categorical spaces only)
      pruner: median           # median | none
      seed: 0

Every key of ``search`` must be a run setting (``framework plan --keys``); a mistake is
reported with the file:line of the key, before any trial starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.errors import ConfigError

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")


@dataclass(frozen=True)
class Param:
    """One searched setting: a categorical list or a numeric range."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False

    def suggest(self, trial: Any) -> Any:
        """The value Optuna's trial picks for this setting."""
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log,  # type: ignore[arg-type]
                                     step=int(self.step or 1))
        return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)  # type: ignore[arg-type]


@dataclass
class TuneFile:
    """A tune file read and checked: the run settings, the space, the options."""

    path: Path
    settings: dict[str, Any]  # the run's own sections, as written (nested)
    space: list[Param]
    metric: str = "eval_loss"
    direction: str = "minimize"
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    trials: int | None = None
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, key: str) -> str:
        return f"{self.path}:{self.lines.get(key, 1)}"


def _number(value: Any, where: str, what: str) -> float:
    """YAML reads ``1e-4`` (no dot) as a string; accept it as the number it means."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a number, got {value!r}", where=where)
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number, got {value!r}", where=where,
                          hint="write a number such as 1e-4 or 0.1") from None


def _choice(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in "eE.") and value.lstrip("-+")[:1].isdigit() else value
        except ValueError:
            return value
    return value


def _param(key: str, spec: Any, where: str) -> Param:
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"search.{key} lists no values", where=where, hint="give two or more choices")
        return Param(key, choices=tuple(_choice(v) for v in spec))
    if not isinstance(spec, dict):
        raise ConfigError(f"search.{key} must be a list of choices or a range {{low, high}}, got {spec!r}",
                          where=where, hint="e.g. [8, 16] or {low: 1e-5, high: 1e-3, log: true}")
    if "choices" in spec:
        return _param(key, spec["choices"], where)
    unknown = sorted(set(spec) - {"low", "high", "log", "step"})
    if unknown or "low" not in spec or "high" not in spec:
        raise ConfigError(f"search.{key} range needs low and high (and optionally log, step), got {sorted(spec)}",
                          where=where, hint="e.g. {low: 1e-5, high: 1e-3, log: true}")
    low = _number(spec["low"], where, f"search.{key}.low")
    high = _number(spec["high"], where, f"search.{key}.high")
    step = _number(spec["step"], where, f"search.{key}.step") if spec.get("step") is not None else None
    if not low < high:
        raise ConfigError(f"search.{key} needs low < high, got {low} and {high}", where=where)
    log = bool(spec.get("log", False))
    if log and low <= 0:
        raise ConfigError(f"search.{key} is log-scaled, so low must be above 0, got {low}", where=where)
    if log and step is not None:
        raise ConfigError(f"search.{key}: log and step cannot be combined (Optuna)", where=where)
    integer = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("low", "high"))
    return Param(key, low=low, high=high, log=log, step=step, integer=integer)


def _lines(text: str) -> dict[str, int]:
    """1-based line of every top-level key and of every key under ``search`` and ``tune``."""
    import yaml

    node = yaml.compose(text)
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            lines[key_node.value] = key_node.start_mark.line + 1
            if key_node.value in ("search", "tune") and isinstance(value_node, yaml.MappingNode):
                for sub, _ in value_node.value:
                    lines[f"{key_node.value}.{sub.value}"] = sub.start_mark.line + 1
    return lines


def read_tune_file(path: str | Path) -> TuneFile:
    """Read and check a tune file; every mistake is one line with file:line (exit 2)."""
    import yaml

    from framework.config import load_yaml_layer, valid_keys

    file = Path(path)
    load_yaml_layer(file)  # the same existence, encoding and syntax messages as `framework run`
    text = file.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    lines = _lines(text)
    search = data.pop("search", None)
    options = data.pop("tune", None) or {}
    if not isinstance(search, dict) or not search:
        raise ConfigError("a tune file needs a 'search' section naming the settings to search",
                          where=f"{file}:{lines.get('search', 1)}",
                          hint="e.g. search: {training.learning_rate: {low: 1e-5, high: 1e-3, log: true}}")
    tf = TuneFile(file, data, [], lines=lines)
    known = set(valid_keys())
    for key, spec in search.items():
        where = tf.where(f"search.{key}")
        if key not in known:
            import difflib

            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            raise ConfigError(f"search.{key} is not a run setting" + (f" (did you mean '{close[0]}'?)" if close else ""),
                              where=where, hint="`framework plan --keys` lists them")
        tf.space.append(_param(key, spec, where))
    if not isinstance(options, dict):
        raise ConfigError("the 'tune' section must be a mapping", where=tf.where("tune"))
    unknown = sorted(set(options) - {"metric", "direction", "sampler", "pruner", "seed", "trials"})
    if unknown:
        raise ConfigError(f"unknown tune option '{unknown[0]}'", where=tf.where(f"tune.{unknown[0]}"),
                          hint="options: metric, direction, sampler, pruner, seed, trials")
    tf.metric = str(options.get("metric", tf.metric))
    tf.direction = str(options.get("direction", tf.direction))
    tf.sampler = str(options.get("sampler", tf.sampler))
    tf.pruner = str(options.get("pruner", tf.pruner))
    tf.seed = int(options.get("seed", tf.seed))
    tf.trials = int(options["trials"]) if options.get("trials") is not None else None
    for name, value, allowed in (("direction", tf.direction, ("minimize", "maximize")),
                                 ("sampler", tf.sampler, SAMPLERS), ("pruner", tf.pruner, PRUNERS)):
        if value not in allowed:
            raise ConfigError(f"tune.{name} must be one of {', '.join(allowed)}, got {value!r}",
                              where=tf.where(f"tune.{name}"))
    if tf.sampler == "grid" and any(p.choices is None for p in tf.space):
        ranged = next(p.key for p in tf.space if p.choices is None)
        raise ConfigError(f"tune.sampler=grid needs a list of choices for every searched setting; {ranged} is a range",
                          where=tf.where(f"search.{ranged}"), hint="list its values, or use sampler tpe or random")
    return tf


def grid(space: list[Param]) -> dict[str, list[Any]]:
    """The grid of a categorical space, for Optuna's GridSampler."""
    return {p.key: list(p.choices or ()) for p in space}
