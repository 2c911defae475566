"""Which training loggers exist and whether their packages are installed.

Kept apart from ``framework.progress`` (which needs transformers) so ``framework plan`` can
refuse a bad ``training.report_to`` without importing the training stack.
"""

from __future__ import annotations

LOGGERS = {
    "tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",),
    "comet_ml": ("comet_ml",), "clearml": ("clearml",), "neptune": ("neptune",), "dvclive": ("dvclive",),
    "swanlab": ("swanlab",), "trackio": ("trackio",), "none": (),
}


def check_loggers(report_to: list[str]) -> None:
    """Refuse an unknown logger or one whose package is missing before anything runs.

    transformers would only notice when the trainer is built, after data and model are loaded.
    """
    import difflib
    import importlib.util

    from framework.errors import ConfigError

    for name in report_to:
        if name not in LOGGERS:
            close = difflib.get_close_matches(name, list(LOGGERS), n=1)
            raise ConfigError(f"training.report_to: unknown logger '{name}'",
                              hint=f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(LOGGERS)}")
        packages = LOGGERS[name]
        if packages and not any(importlib.util.find_spec(p) is not None for p in packages):
            raise ConfigError(f"training.report_to includes {name}, but the {packages[0]} package is not installed",
                              hint=f"pip install {packages[0]}, or drop {name} from training.report_to")
