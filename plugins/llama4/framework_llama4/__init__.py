"""Llama 4 family plugin for ``framework``: Llama 4 Scout (16 experts) and Maverick (128 experts).

The hook implementations live in ``framework_llama4.plugin``; every other module holds one
concern (detection, chat format, checks, presets, RoPE, tokenizer).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
