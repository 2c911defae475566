"""The persistent study: create or resume it, run the trials, report, write the best config.

The study lives in ``OUTPUT/study.db`` (SQLite). Trials send heartbeats, so a ``tune``
killed with SIGKILL leaves its running trial behind as stale: the next ``tune`` on the same
output waits out the grace period, marks it failed and queues its settings again (Optuna's
``RetryFailedTrialCallback``), and runs only the trials still missing. Finished trials
(complete, pruned or skipped) are never repeated. A second ``tune`` still running on the
same study keeps its heartbeats fresh, so its trial is left alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from framework.errors import ConfigError
from framework.tune.space import TuneFile, grid
from framework.tune.trial import TRIAL_KEYS, run_trial, write_yaml

#: Heartbeat period and the silence after which a running trial counts as dead (seconds).
HEARTBEAT_S, GRACE_S = 2, 6
STUDY_NAME = "framework-tune"


def _storage(study_dir: Path) -> Any:
    import optuna
    from optuna.storages import RDBStorage, RetryFailedTrialCallback

    return RDBStorage(f"sqlite:///{study_dir / 'study.db'}", heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                      failed_trial_callback=RetryFailedTrialCallback(max_retry=3))


def _sampler(tf: TuneFile) -> Any:
    import optuna

    if tf.sampler == "grid":
        return optuna.samplers.GridSampler(grid(tf.space), seed=tf.seed)
    if tf.sampler == "random":
        return optuna.samplers.RandomSampler(seed=tf.seed)
    return optuna.samplers.TPESampler(seed=tf.seed)


def _pruner(tf: TuneFile) -> Any:
    import optuna

    if tf.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)


def finished(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def recover(study: Any, say: Callable[[str], None]) -> None:
    """Fail the trials a killed ``tune`` left running (stale heartbeats) and queue them again."""
    import optuna
    from optuna.trial import TrialState

    running = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    if not running:
        return
    say(f"resuming: {len(running)} trial(s) were running when the last tune stopped; "
        f"waiting {GRACE_S}s for their heartbeats to expire")
    time.sleep(GRACE_S + 1)
    optuna.storages.fail_stale_trials(study)


def tune(tf: TuneFile, *, trials: int, study_dir: Path, overrides: dict[str, Any],
         say: Callable[[str], None]) -> dict[str, Any]:
    """Run the study until ``trials`` trials have finished; return a summary for the CLI and tests."""
    import logging
    import warnings

    import optuna

    from framework.config import flatten

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one weights-loading bar per trial says nothing the table does not
    logging.getLogger("optuna").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    study_dir.mkdir(parents=True, exist_ok=True)
    base = {**flatten(tf.settings), **overrides}
    for key in TRIAL_KEYS:
        base.pop(key, None)
    study = optuna.create_study(study_name=STUDY_NAME, storage=_storage(study_dir), sampler=_sampler(tf),
                                pruner=_pruner(tf), direction=tf.direction, load_if_exists=True)
    recover(study, say)
    done = len(finished(study))
    remaining = trials - done
    if done:
        say(f"study {study_dir / 'study.db'}: {done} finished trial(s) kept, {max(remaining, 0)} to run")
    if remaining > 0:
        objective = lambda trial: run_trial(trial, base=base, space=tf.space, metric=tf.metric,  # noqa: E731
                                            study_dir=study_dir, say=say)
        study.optimize(objective, n_trials=remaining, catch=())
    return report(study, tf, study_dir, say)


def _state(trial: Any) -> str:
    if "skipped" in trial.user_attrs:
        return "skipped"
    return trial.state.name.lower()


def report(study: Any, tf: TuneFile, study_dir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """The results table (best first), ``results.json``, ``best.yaml`` and the plots."""
    import json

    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.WAITING:
            continue
        rows.append({"trial": t.number, "state": _state(t), "value": t.value, "params": t.params,
                     "run_dir": t.user_attrs.get("run_dir"), "note": t.user_attrs.get("skipped", "")})
    sign = 1 if tf.direction == "minimize" else -1
    rows.sort(key=lambda r: (r["value"] is None, sign * (r["value"] or 0.0), r["trial"]))
    keys = [p.key for p in tf.space]
    say("")
    say(f"{'trial':>5}  {'state':<9} {tf.metric:>12}  " + "  ".join(f"{k:>20}" for k in keys))
    for r in rows:
        value = f"{r['value']:.4f}" if r["value"] is not None else "-"
        params = "  ".join(f"{_fmt(r['params'].get(k)):>20}" for k in keys)
        say(f"{r['trial']:>5}  {r['state']:<9} {value:>12}  {params}" + (f"  ({r['note']})" if r["note"] else ""))
    (study_dir / "results.json").write_text(json.dumps({"metric": tf.metric, "direction": tf.direction,
                                                        "trials": rows}, indent=2, default=str), encoding="utf-8")
    summary: dict[str, Any] = {"rows": rows, "best": None, "plots": []}
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        say("no trial completed: no best config")
        return summary
    best = study.best_trial
    from framework.config import flatten

    settings = {**flatten(tf.settings), **best.params}
    for key in TRIAL_KEYS:
        settings.pop(key, None)
    best_path = study_dir / "best.yaml"
    write_yaml(best_path, settings, f"best of {len(complete)} complete trial(s): trial {best.number}, "
                                    f"{tf.metric} {best.value:.6g}; run it with `framework run {best_path}`")
    say(f"best trial {best.number}: {tf.metric} {best.value:.4f}; config {best_path}")
    summary["best"] = {"trial": best.number, "value": best.value, "params": best.params, "config": str(best_path)}
    summary["plots"] = plots(study, study_dir, say)
    return summary


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plots(study: Any, study_dir: Path, say: Callable[[str], None]) -> list[str]:
    """Optimisation history and parameter importance as PNG (importance needs two complete trials)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as oplt

    from optuna.trial import TrialState

    written = []
    complete = sum(1 for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE)
    for name, draw in (("optimization_history.png", oplt.plot_optimization_history),
                       ("param_importances.png", oplt.plot_param_importances)):
        if name == "param_importances.png" and complete < 2:
            say(f"{name} not drawn: parameter importance needs two complete trials, the study has {complete}")
            continue
        try:
            axes = draw(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            say(f"{name} not drawn: {exc}")
            continue
        fig = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        fig.tight_layout()
        fig.savefig(study_dir / name, dpi=100)
        plt.close(fig)
        written.append(str(study_dir / name))
    if written:
        say("plots  " + ", ".join(written))
    return written


def check_trials(trials: int | None, tf: TuneFile) -> int:
    n = trials if trials is not None else tf.trials
    if n is None or n < 1:
        raise ConfigError("how many trials? none given", where="--trials",
                          hint="pass --trials N (N >= 1) or set tune.trials in the tune file")
    return n
