"""Gemma family plugin for ``framework``: Gemma 1, Gemma 2 and Gemma 3 (text-only and the multimodal wrapper).

The hook implementations live in ``framework_gemma.plugin`` (the entry point); every other
module holds one concern: detection, chat format, checks, presets, RoPE policy, and the
format's token names.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
