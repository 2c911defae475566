"""Which training loggers exist and whether their packages are installed.

Kept apart from ``framework.progress`` (which needs transformers) so ``framework plan`` can
refuse a bad ``training.report_to`` without importing the training stack.
"""

from __future__ import annotations

#: Every logger name ``training.report_to`` accepts. tensorboard is a core dependency; the others
#: are optional features whose packages ``framework.extras`` checks.
LOGGERS = ("tensorboard", "wandb", "mlflow", "comet_ml", "clearml", "neptune", "dvclive", "swanlab", "trackio", "none")


def check_loggers(report_to: list[str]) -> None:
    """Refuse an unknown logger or one whose package is missing before anything runs.

    transformers would only notice when the trainer is built, after data and model are loaded.
    """
    import difflib

    from framework.errors import ConfigError
    from framework.extras import EXTRAS, require

    for name in report_to:
        if name not in LOGGERS:
            close = difflib.get_close_matches(name, list(LOGGERS), n=1)
            raise ConfigError(f"training.report_to: unknown logger '{name}'",
                              hint=f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(LOGGERS)}")
        if name in EXTRAS:
            require(name, asked_by=f"training.report_to={name}")
