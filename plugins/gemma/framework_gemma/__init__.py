"""Gemma family plugin for ``framework``: Gemma 1, 2, 3 and 4 (text-only and the multimodal wrappers).

The hook implementations live in ``framework_gemma.plugin`` (the entry point); every other
module holds one concern: detection (``detect``, ``detect4``, ``shipped``), chat formats (``chat``
for Gemma 1-3, ``chat4`` for Gemma 4), checks, presets, published checkpoints, RoPE policy, and the
formats' token names.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
