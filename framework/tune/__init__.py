"""Hyperparameter search: ``framework tune CONFIG --trials N`` through Optuna (the ``tune`` extra).

One concern per module:

==============  ==============================================================================
``space``       the tune file: run settings, the ``search`` space and the ``tune`` options, read
                and checked with file:line before anything trains
``trial``       one trial: its settings written as a run YAML, the planner's memory check before
                it starts, a normal ``framework run`` with a callback that reports each
                evaluation to Optuna and stops the run when the pruner says so
``study``       the persistent study (SQLite in the output directory, heartbeats so a killed
                ``tune`` resumes without repeating finished trials), the results table, the
                best config as YAML and the Optuna plots
==============  ==============================================================================
"""

from framework.tune.study import tune

__all__ = ["tune"]
