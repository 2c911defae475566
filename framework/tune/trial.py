"""One trial: a normal run with the sampled settings, checked by the planner before it starts.

The trial's settings are written as a run YAML (``trials/trial-NNN.yaml``) and the trial
trains into ``trial-NNN/`` exactly as ``framework run trials/trial-NNN.yaml`` would, so
each trial is an ordinary run directory (metrics.json, loss.png, the adapter). Pruning
goes through the run's own evaluation steps: a callback reports each validation result
to Optuna and, when the pruner says so, asks the trainer to stop; the stopped run is
still saved, and the trial is recorded as pruned.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Callable

from framework.errors import ConfigError
from framework.hookspecs import hookimpl

#: The run settings the tune writes into every trial (the trial's own directory).
TRIAL_KEYS = ("output.dir", "output.overwrite", "output.resume")


def write_yaml(path: Path, flat: dict[str, Any], header: str) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    from framework.config import nest

    body = yaml.safe_dump(nest(flat), sort_keys=False, allow_unicode=True)
    path.write_text(f"# {header}\n{body}", encoding="utf-8")


class _Reporter:
    """The plugin-host object that adds the pruning callback to the trial's run."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback

    @hookimpl
    def training_callbacks(self, config: Any) -> list[Any]:
        return [self.callback]


def pruning_callback(trial: Any, metric: str) -> Any:
    """A ``TrainerCallback`` reporting ``metric`` at each evaluation; stops the run when pruned."""
    from transformers import TrainerCallback

    class ReportToOptuna(TrainerCallback):  # type: ignore[misc]
        pruned_at: int | None = None

        def __init__(self) -> None:
            self.reported: set[int] = set()

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None,
                        **kwargs: Any) -> None:
            value = (metrics or {}).get(metric)
            step = int(state.global_step)
            if value is None or step in self.reported or not math.isfinite(float(value)):
                return  # the closing evaluate() repeats the last step's
            self.reported.add(step)
            trial.report(float(value), step)
            if trial.should_prune():
                self.pruned_at = step
                control.should_training_stop = True

    return ReportToOptuna()


def run_args(config_path: Path) -> argparse.Namespace:
    """The namespace ``framework run CONFIG`` would build, with nothing but the config file."""
    return argparse.Namespace(
        config=str(config_path), model=None, data=None, format=None, method=None, stage=None, output=None,
        plugin=None, cutoff_len=None, gpu=None, seq_schedule=None, set=None, trust_remote_code=False,
        allow_pickle=False, no_packing=False, strict=False, overwrite_cache=False, resume=False, overwrite=False,
        distributed=None, nproc=None, nnodes=None, node_rank=None, master_addr=None, master_port=None)


def memory_refusal(plan: Any) -> str | None:
    """Why the planner says this trial would not fit the accelerator (None: it fits or cannot be told).

    The budget is ``plan.gpu`` (``--gpu``) or the detected GPU; on a CPU without ``--gpu`` there
    is nothing to compare with.
    """
    memory = plan.memory
    if memory is None:
        return None
    budget = None
    if plan.config.plan.gpu:
        from framework.planning import parse_size

        budget = parse_size(str(plan.config.plan.gpu))
    elif plan.hardware.device == "cuda" and plan.hardware.gpu_memory_bytes:
        budget = plan.hardware.gpu_memory_bytes
    if budget is None or memory.total <= budget:
        return None
    return (f"needs {memory.total / 2**30:.2f} GiB estimated peak for {memory.method}, "
            f"the GPU has {budget / 2**30:.2f} GiB")


def run_trial(trial: Any, *, base: dict[str, Any], space: list[Any], metric: str, study_dir: Path,
              say: Callable[[str], None]) -> float:
    """Train one trial and return its objective; raise ``optuna.TrialPruned`` when pruned or skipped."""
    import optuna

    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan

    values = {p.key: p.suggest(trial) for p in space}
    name = f"trial-{trial.number:03d}"
    run_dir = study_dir / name
    settings = {**base, **values, "output.dir": str(run_dir), "output.overwrite": True}
    settings.pop("output.resume", None)
    config_path = study_dir / "trials" / f"{name}.yaml"
    write_yaml(config_path, settings, f"trial {trial.number} of the study in {study_dir}")
    trial.set_user_attr("run_dir", str(run_dir))
    trial.set_user_attr("config", str(config_path))
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())

    host = make_plugin_host()
    plan = make_plan(run_args(config_path), host, need_weights=True)
    if metric.startswith("eval_") and not plan.config.data.val_size:
        raise ConfigError(f"tune.metric {metric} is measured on the validation split, and data.val_size is 0",
                          where=str(config_path), hint="set data.val_size (e.g. 0.1) in the tune file")
    refusal = memory_refusal(plan)
    if refusal is not None:
        trial.set_user_attr("skipped", refusal)
        say(f"{name}  {shown}  skipped before it started: {refusal}")
        raise optuna.TrialPruned(refusal)
    say(f"{name}  {shown}")
    callback = pruning_callback(trial, metric)
    host.register(_Reporter(callback), name=f"tune-{name}")

    from framework.training import run

    result = run(plan, lambda _text: None)
    if result.interrupted:
        raise KeyboardInterrupt
    if callback.pruned_at is not None:
        trial.set_user_attr("pruned_at_step", callback.pruned_at)
        say(f"{name}  pruned at step {callback.pruned_at}")
        raise optuna.TrialPruned(f"pruned at step {callback.pruned_at}")
    value = result.metrics.get(metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        numeric = sorted(k for k, v in result.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
        raise ConfigError(f"tune.metric {metric!r} is not a number in the run's metrics.json ({run_dir})",
                          hint=f"choose one of {', '.join(numeric)}; eval_loss needs data.val_size > 0")
    say(f"{name}  {metric} {float(value):.4f}")
    return float(value)
