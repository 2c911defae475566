"""Offline planning: how much accelerator memory a run needs and which method fits a machine."""

from framework.planning.memory import MemoryEstimate, estimate
from framework.planning.shapes import parameter_count
from framework.planning.sizes import format_bytes, parse_size

__all__ = ["MemoryEstimate", "estimate", "format_bytes", "parameter_count", "parse_size"]
