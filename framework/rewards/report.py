"""What a GRPO run shows while it trains and leaves behind: the progress line, sample completions, the reward plot.

TRL logs, per logging step, ``reward``/``reward_std`` (the weighted sum), ``rewards/<name>/mean``
and ``/std`` per reward function, ``kl`` (when ``beta`` > 0), ``completions/mean_length`` and
``clip_ratio/region_mean``; these callbacks turn them into one line per log, keep them for
``metrics.json`` and ``reward.png``, and write the last scored batch to ``completions.jsonl``
every ``grpo.log_completions_steps`` steps (the main process only).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from transformers import TrainerCallback

from framework.rewards import Scored


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class RewardProgress(TrainerCallback):
    """One line per log: reward mean ± std per function, KL, completion length, clip ratio; history kept."""

    def __init__(self, names: list[str], say: Callable[[str], None]) -> None:
        self.names = names
        self.say = say
        self.history: dict[str, list[tuple[int, float]]] = {}

    def _keep(self, key: str, step: int, value: Any) -> float | None:
        number = _finite(value)
        if number is not None:
            self.history.setdefault(key, []).append((step, number))
        return number

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if "reward" not in logs:
            return
        step = state.global_step
        parts = []
        total = self._keep("reward", step, logs.get("reward"))
        spread = self._keep("reward_std", step, logs.get("reward_std"))
        if total is not None:
            parts.append(f"reward {total:.3f}±{spread or 0.0:.3f}")
        for name in self.names:
            key = name.replace(":", ".")
            mean = self._keep(f"rewards/{name}/mean", step, logs.get(f"rewards/{key}/mean"))
            std = self._keep(f"rewards/{name}/std", step, logs.get(f"rewards/{key}/std"))
            if mean is not None:
                parts.append(f"{name} {mean:.3f}±{std or 0.0:.3f}")
        for label, key in (("kl", "kl"), ("len", "completions/mean_length"), ("clip", "clip_ratio/region_mean")):
            value = self._keep(key, step, logs.get(key))
            if value is not None:
                parts.append(f"{label} {value:.4g}")
        if state.is_world_process_zero:
            self.say(f"step {step}/{state.max_steps}  " + "  ".join(parts))


class CompletionsLog(TrainerCallback):
    """Every N steps, the last scored batch (prompt, completion, each reward) appended to completions.jsonl."""

    def __init__(self, path: Path, sink: Scored, every: int) -> None:
        self.path = path
        self.sink = sink
        self.every = every
        self.written = 0

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or state.global_step % self.every or not self.sink.completions:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            for i, (prompt, completion) in enumerate(zip(self.sink.prompts, self.sink.completions)):
                rewards = {name: scores[i] for name, scores in self.sink.scores.items() if i < len(scores)}
                out.write(json.dumps({"step": state.global_step, "prompt": prompt, "completion": completion,
                                      "rewards": rewards}, ensure_ascii=False) + "\n")
                self.written += 1


def plot_rewards(path: Path, history: dict[str, list[tuple[int, float]]], names: list[str]) -> bool:
    """reward.png: the total reward and each function's mean per logged step; False when nothing to plot."""
    from framework.outputs import plot_curves

    curves = [("reward (weighted sum)", history.get("reward", []), {})]
    curves += [(name, history.get(f"rewards/{name}/mean", []), {}) for name in names]
    return plot_curves(path, curves, "mean reward")
