"""Offline planning: how much accelerator memory a run needs and which method fits a machine.

Everything here is computed from ``ModelFacts`` (config.json shapes) alone: no weights, no
accelerator. docs/memory.md describes the model and how it compares with measured peaks.
"""

from framework.planning.choose import MethodChoice, choose_method
from framework.planning.memory import MemoryEstimate, estimate
from framework.planning.shapes import parameter_count
from framework.planning.sharding import estimate_sharded
from framework.planning.sizes import format_bytes, parse_size

__all__ = [
    "MemoryEstimate",
    "MethodChoice",
    "choose_method",
    "estimate",
    "estimate_sharded",
    "format_bytes",
    "parameter_count",
    "parse_size",
]
