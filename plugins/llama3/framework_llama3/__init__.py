"""Llama 3 family plugin for ``framework``: Llama 3, 3.1 (and the 3.3 70B that shares its config) and 3.2.

The hook implementations live in ``framework_llama3.plugin``; every other module holds one
concern (detection, chat format, checks, presets, RoPE, tokenizer, demo model).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
