"""Ctrl-C during training: the first saves a checkpoint and stops cleanly, the second exits at once."""

from __future__ import annotations

import os
import signal
from typing import Any, Callable

from transformers import TrainerCallback


class InterruptCallback(TrainerCallback):
    """Turns the first SIGINT into 'save a checkpoint and stop after this step'."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say
        self.requested = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            self.say("second interrupt: exiting now")
            os._exit(130)
        self.requested = True
        self.say("interrupt: saving a checkpoint after this step, then stopping (Ctrl-C again to exit now)")

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread (e.g. a notebook worker): leave signals alone
            self._previous = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.requested:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
