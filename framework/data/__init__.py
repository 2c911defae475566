"""The data pipeline: read, detect, validate, render with the family's template, tokenize, mask,
pack. Family-agnostic: the chat format comes in as a ``Renderer`` bound by the runner.

Modules, one concern each: ``records`` (files -> raw records with file:line), ``formats``
(records -> conversations), ``messages`` (reasoning and tool content of a message, normalised),
``content_checks`` (reasoning and tool checks, refusal of content the renderer does not
declare), ``validate`` (quality checks, ``DataReport``; the function is
imported from the module, so ``framework.data.validate`` stays the module), ``pipeline``
(``prepare_sft``; ``prepare_pretrain`` and ``prepare_preference`` live in ``pretrain`` and
``preference``), ``split`` (evaluation split, mixtures), ``cache`` (prepared data on disk),
``encode`` (tokenizer speed-ups), ``collate`` (packing and padding collators, length grouping,
length schedules).
"""

from framework.data.collate import PackingCollator, PaddedCollator, length_at, length_grouped_indices, seq_schedule
from framework.data.formats import Example, Format, detect_format, to_examples
from framework.data.pipeline import prepare_preference, prepare_pretrain, prepare_sft
from framework.data.prepared import PreparedData, Renderer
from framework.data.problems import Problem
from framework.data.records import Record, read_records
from framework.data.validate import DataReport

__all__ = [
    "DataReport",
    "Example",
    "Format",
    "PackingCollator",
    "PaddedCollator",
    "PreparedData",
    "Problem",
    "Record",
    "Renderer",
    "detect_format",
    "length_at",
    "length_grouped_indices",
    "prepare_preference",
    "prepare_pretrain",
    "prepare_sft",
    "read_records",
    "seq_schedule",
    "to_examples",
]
