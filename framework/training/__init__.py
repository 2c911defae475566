"""Training: one skeleton shared by every recipe, one module per recipe saying only what differs.

A run reads top to bottom as plan -> inputs -> model -> callbacks -> trainer -> outputs:

====================  =====================================================================
``skeleton``          ``start`` (output directory, resume check, seed), ``callbacks`` (guard,
                      interrupt, early stopping, the plugins' own), ``history``, ``RunResult``
``inputs``            the tokenizer with the plugin's fixes, the data rendered with its template
``model``             weights loaded with the plan's settings, the collator, the demo's answer
``arguments``         the plan as ``TrainingArguments``; the default output directory
``trainer``           ``TrainerHabits`` (atomic checkpoints, token counting, divergence guard)
                      and ``FrameworkTrainer`` (plus the labelled-only chunked loss)
``saving``            ``finish``: weights gathered from shards on every process, outputs written
                      once by the main process into a staging directory moved into place
====================  =====================================================================

The recipe interface. A recipe is one module here with two functions:

``claims(config) -> bool``
    Whether the recipe trains this resolved ``RunConfig`` (its stage and method).
``run(plan, say) -> RunResult``
    Train and save. It calls the skeleton in order (``skeleton.start``, ``inputs.build_inputs``,
    ``model.load_for_training``, ``skeleton.callbacks``), builds its trainer with
    ``TrainerHabits`` first in the bases, and ends with ``saving.finish`` so that writing on the
    main process only, gathering sharded weights and atomic saves are never re-implemented.

A new recipe is its module plus its name in ``RECIPES`` (first claim wins, so the most
specific comes first). Recipe modules import the skeleton, never each other, and nothing in
the skeleton imports a recipe (``tests/test_import_graph.py`` keeps the core free of cycles).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.run_plan import RunPlan
    from framework.training.skeleton import RunResult, Say

#: Recipe modules, asked in this order.
RECIPES = ("framework.training.dpo", "framework.training.grpo", "framework.training.hybrid", "framework.training.sft")


def recipe_for(config: Any) -> ModuleType:
    """The first recipe that claims the run's stage and method."""
    for name in RECIPES:
        module = importlib.import_module(name)
        if module.claims(config):
            return module
    from framework.errors import ConfigError

    raise ConfigError(f"no training recipe for --stage {config.stage} with --method {config.method}",
                      hint="see `framework run --help` for the stages and methods")


def run(plan: RunPlan, say: Say) -> RunResult:
    """Train and save with the recipe the plan's stage and method call for."""
    return recipe_for(plan.config).run(plan, say)
